"""The command line: `coursebot run | sandbox | check | db upgrade | db current`."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import TypeVar

from bot.clock import Clock
from bot.config import Config, ConfigError, load_config
from bot.services import Services

log = logging.getLogger("coursebot")
T = TypeVar("T")

EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE = 0, 1, 2


class RedactSecrets(logging.Filter):
    """Replaces the token in any log record, should a library ever print it."""

    def __init__(self, secrets: Sequence[str]) -> None:
        super().__init__()
        self.secrets = [s for s in secrets if s]

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            message = record.getMessage()
            if any(secret in message for secret in self.secrets):
                for secret in self.secrets:
                    message = message.replace(secret, "[redacted]")
                record.msg, record.args = message, None
        return True


def setup_logging(config: Config | None, level: int = logging.INFO) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    token = config.token.get_secret_value() if config and config.token else ""
    handler.addFilter(RedactSecrets([token]))
    logging.basicConfig(level=level, handlers=[handler], force=True)


def parse_now(text: str | None, config: Config) -> datetime | None:
    """`--now`: ISO 8601; without an offset, the course timezone. Raises ValueError."""
    if not text:
        return None
    instant = datetime.fromisoformat(text.strip())
    return instant if instant.tzinfo else instant.replace(tzinfo=config.tz)


def _load(path: str) -> Config:
    try:
        return load_config(path)
    except ConfigError as error:
        for problem in error.problems:
            print(problem, file=sys.stderr)
        raise SystemExit(EXIT_PROBLEMS) from None


def cmd_check(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.config)
    except ConfigError as error:
        for problem in error.problems:
            print(problem)
        print(f"{args.config}: {len(error.problems)} problem(s)")
        return EXIT_PROBLEMS
    from bot.calendar import CourseCalendar

    calendar = CourseCalendar(config)
    print(
        f"{args.config}: OK — {config.course.code} {config.course.term}, {config.course.weeks} weeks from "
        f"{calendar.term_start}, {len(calendar.lectures)} lectures, {len(config.deadlines)} deadlines"
    )
    return EXIT_OK


def cmd_run(args: argparse.Namespace) -> int:
    config = _load(args.config)
    if config.token is None or not config.token.get_secret_value().strip():
        print(
            "DISCORD_TOKEN is not set: export your bot's token first (or try `coursebot sandbox`).",
            file=sys.stderr,
        )
        return EXIT_USAGE
    try:
        start = parse_now(args.now, config)
    except ValueError:
        print(f"--now: {args.now!r} is not an ISO 8601 instant", file=sys.stderr)
        return EXIT_USAGE
    setup_logging(config)
    from bot.app import CourseBot

    async def serve() -> None:
        bot = CourseBot(config, clock=Clock(start=start))
        loop = asyncio.get_running_loop()
        stopping: list[asyncio.Future[None]] = []

        def stop() -> None:
            if not stopping:  # a second Ctrl-C must not start a second, concurrent shutdown
                stopping.append(asyncio.ensure_future(bot.close()))

        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop)
        async with bot:
            await bot.start(config.token.get_secret_value() if config.token else "")
        # start() returns once the gateway is closed, before close() has stopped the scheduler and
        # disposed of the database; asyncio.run() would cancel that half-done shutdown.
        for task in stopping:
            await task

    asyncio.run(serve())
    return EXIT_OK


def cmd_sandbox(args: argparse.Namespace) -> int:
    config = _load(args.config)
    try:
        start = parse_now(args.now, config)
    except ValueError:
        print(f"--now: {args.now!r} is not an ISO 8601 instant", file=sys.stderr)
        return EXIT_USAGE
    setup_logging(config, logging.ERROR)
    from bot.sandbox import run_sandbox

    script = Path(args.script).read_text(encoding="utf-8").splitlines() if args.script else None
    return asyncio.run(run_sandbox(config, start=start, script=script, database_url=args.database))


def cmd_db(args: argparse.Namespace) -> int:
    config = _load(args.config)
    from bot.db.migrate import current, upgrade

    if args.db_command == "upgrade":
        asyncio.run(upgrade(config.database.url))
        revision, _head = asyncio.run(current(config.database.url))
        print(f"database at revision {revision}")
        return EXIT_OK
    revision, head = asyncio.run(current(config.database.url))
    state = "up to date" if revision == head else f"behind: head is {head}, run `coursebot db upgrade`"
    print(f"database at revision {revision or '(empty)'} — {state}")
    return EXIT_OK


async def _with_services(config: Config, action: Callable[[Services], Awaitable[T]]) -> T:
    """Migrate, then run `action` with the same services the bot uses (safe while the bot runs)."""
    from bot.calendar import CourseCalendar
    from bot.db import Database
    from bot.db.migrate import upgrade

    await upgrade(config.database.url)
    database = Database(config.database.url)
    try:
        return await action(Services(database, Clock(), config, CourseCalendar(config)))
    finally:
        await database.dispose()


def cmd_import(args: argparse.Namespace) -> int:
    config = _load(args.config)
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

    return asyncio.run(_with_services(config, import_file))


def cmd_export(args: argparse.Namespace) -> int:
    config = _load(args.config)
    from bot.services import gradebook

    async def export(services: Services) -> tuple[int, bytes]:
        rows = await gradebook.gradebook_rows(services)
        return len(rows), gradebook.gradebook_csv(rows)

    count, data = asyncio.run(_with_services(config, export))
    if args.output in (None, "-"):
        sys.stdout.buffer.write(data)
    else:
        Path(args.output).write_bytes(data)
        print(f"{args.output}: {count} students", file=sys.stderr)
    return EXIT_OK


def cmd_backup(args: argparse.Namespace) -> int:
    config = _load(args.config)
    from bot.db.backup import BackupError, backup_sqlite

    try:
        summary = backup_sqlite(config.database.url, Path(args.file))
    except BackupError as error:
        print(str(error), file=sys.stderr)
        return EXIT_USAGE
    print(f"{args.file}: {summary}")
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="coursebot", description="A Discord bot for a university course.")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", default="config.toml", help="configuration file (default ./config.toml)")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", parents=[common], help="migrate, connect to Discord and serve")
    run.add_argument("--now", help="start the clock at this instant (ISO 8601; course timezone if no offset)")
    run.set_defaults(handler=cmd_run)

    sandbox = sub.add_parser(
        "sandbox", parents=[common], help="the real bot on a simulated server: no token, no network"
    )
    sandbox.add_argument(
        "--now", help="start the clock at this instant (ISO 8601; course timezone if no offset)"
    )
    sandbox.add_argument("--script", help="run the lines of this file instead of prompting")
    sandbox.add_argument("--database", help="database URL to keep (default: a fresh temporary SQLite file)")
    sandbox.set_defaults(handler=cmd_sandbox)

    check = sub.add_parser("check", parents=[common], help="validate the configuration")
    check.set_defaults(handler=cmd_check)

    db = sub.add_parser("db", parents=[common], help="database migrations")
    db.add_argument("db_command", choices=["upgrade", "current"])
    db.set_defaults(handler=cmd_db)

    imports = sub.add_parser(
        "import", parents=[common], help="import the paper list or the class roster (CSV)"
    )
    imports.add_argument("kind", choices=["papers", "roster"])
    imports.add_argument(
        "file", help="papers: number,title,authors,url,week · roster: student_id,name[,discord]"
    )
    imports.set_defaults(handler=cmd_import)

    export = sub.add_parser("export", parents=[common], help="export the gradebook CSV")
    export.add_argument("what", choices=["gradebook"])
    export.add_argument("-o", "--output", help="file to write (default: standard output)")
    export.set_defaults(handler=cmd_export)

    backup = sub.add_parser(
        "backup", parents=[common], help="a consistent copy of the SQLite database, safe while the bot runs"
    )
    backup.add_argument("file", help="where to write the copy")
    backup.set_defaults(handler=cmd_backup)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.handler(args))


if __name__ == "__main__":
    sys.exit(main())
