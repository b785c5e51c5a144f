"""The commands on the course's data: `coursebot db` (migrations), `import` (the paper list or the
roster, all or nothing), `export` (the gradebook, for a spreadsheet or an LMS, or the course
calendar as one iCalendar file) and `backup` (a consistent copy of the SQLite database, safe while
the bot runs)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from bot.cli.common import (
    EXIT_OK,
    EXIT_PROBLEMS,
    EXIT_USAGE,
    UsageError,
    load_config_or_exit,
    with_services,
)
from bot.config import Config
from bot.services import Services
from bot.startup_errors import StartupError, database_errors


def cmd_db(args: argparse.Namespace) -> int:
    config = load_config_or_exit(args.config)
    from bot.db.migrate import current, upgrade

    with database_errors(config.database.url):
        if args.db_command == "upgrade":
            asyncio.run(upgrade(config.database.url))
        revision, head = asyncio.run(current(config.database.url))
    if args.db_command == "upgrade":
        print(f"database at revision {revision}")
        return EXIT_OK
    state = "up to date" if revision == head else f"behind: head is {head}, run `coursebot db upgrade`"
    print(f"database at revision {revision or '(empty)'} — {state}")
    return EXIT_OK


def cmd_import(args: argparse.Namespace) -> int:
    config = load_config_or_exit(args.config)
    try:
        data = Path(args.file).read_bytes()
    except OSError as error:
        print(f"{args.file}: {error.strerror}", file=sys.stderr)
        return EXIT_USAGE
    from bot.services import papers, roster

    async def import_file(services: Services) -> int:
        notes: tuple[str, ...] = ()
        if args.kind == "papers":
            result = await papers.import_papers(services, actor_id=None, data=data)
            errors, summary, notes = (
                result.errors,
                f"{result.added} papers added, {result.updated} updated",
                (),
            )
        else:
            members = await roster.known_members(services)  # no Discord here: the members the bot has seen
            outcome = await roster.import_roster(services, actor_id=None, data=data, members=members)
            errors, notes = outcome.errors, outcome.unmatched
            summary = f"{outcome.imported} students on the roster, {outcome.linked} linked to known members"
        for problem in errors:
            print(f"{args.file}: {problem}")
        if errors:
            print(f"{args.file}: nothing imported ({len(errors)} problem(s))")
            return EXIT_PROBLEMS
        for note in notes:
            print(
                f"{args.file}: no member found yet for {note} (linked when they /register or at the next /ta roster import)"
            )
        print(f"{args.file}: {summary}")
        return EXIT_OK

    return asyncio.run(with_services(config, import_file))


def cmd_export(args: argparse.Namespace) -> int:
    config = load_config_or_exit(args.config)
    target = None if args.output in (None, "-") else Path(args.output)
    if target is not None:  # before any work: a typo in the folder is the usual mistake
        if target.is_dir():
            raise UsageError(
                f"-o {args.output}: is a folder; give a file name, e.g. "
                f"{target / ('course.ics' if args.what == 'calendar' else 'gradebook.csv')}"
            )
        if not target.parent.is_dir():
            raise UsageError(f"-o {args.output}: the folder {target.parent} does not exist")
    if args.what == "calendar":
        return _export_calendar(args, config, target)
    from bot.services import gradebook

    async def export(services: Services) -> gradebook.GradebookExport:
        return await gradebook.export_gradebook(services, actor_id=None, format=args.format)

    made = asyncio.run(with_services(config, export))
    label = args.output if target is not None else "gradebook"
    for student in made.left_out:  # an LMS could not match them: said, never dropped in silence
        print(f"{label}: left out {student}", file=sys.stderr)
    if made.key:
        print(
            f"{label}: keyed by {made.key} (map that column to the user's {made.key.lower()})",
            file=sys.stderr,
        )
    return _write_export(args, target, made.data, f"{made.written} students")


def _export_calendar(args: argparse.Namespace, config: Config, target: Path | None) -> int:
    """`coursebot export calendar`: the whole course as one iCalendar file."""
    if args.format != "csv":
        raise UsageError("--format is for the gradebook; the calendar is always an iCalendar (.ics) file")
    from bot.services import ical

    made = asyncio.run(with_services(config, ical.course_calendar))
    return _write_export(args, target, made.body, f"{made.events} events")


def _write_export(args: argparse.Namespace, target: Path | None, data: bytes, summary: str) -> int:
    """An export's bytes to standard output, or to `-o` with a line saying what it holds. Raises
    StartupError when the file cannot be written."""
    if target is None:
        sys.stdout.buffer.write(data)
        return EXIT_OK
    try:
        target.write_bytes(data)
    except OSError as error:
        raise StartupError(f"-o {args.output}: cannot be written ({error.strerror})") from None
    print(f"{args.output}: {summary}", file=sys.stderr)
    return EXIT_OK


def cmd_backup(args: argparse.Namespace) -> int:
    config = load_config_or_exit(args.config)
    from bot.db.backup import BackupError, backup_sqlite

    try:
        with database_errors(config.database.url, prepare=False):  # a backup creates no database
            summary = backup_sqlite(config.database.url, Path(args.file))
    except BackupError as error:
        print(str(error), file=sys.stderr)
        return EXIT_USAGE
    print(f"{args.file}: {summary}")
    return EXIT_OK
