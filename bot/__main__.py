"""The command line: `coursebot run | sandbox | check | db | import | export | backup | setup`.

Whatever goes wrong ends in one line on stderr that says what to do and a non-zero exit, never a
traceback (that is logged at DEBUG: `--debug` or `[logging] level = "DEBUG"` shows it).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import TextIO, TypeVar

from bot.clock import Clock
from bot.config import SUPPORTED_DATABASES, Config, ConfigError, LoggingSection, load_config
from bot.services import Services
from bot.startup_errors import DiscordUnreachable, StartupError, database_errors, first_line

log = logging.getLogger("coursebot")
T = TypeVar("T")

EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130

# Libraries whose INFO lines bury the bot's own (APScheduler alone writes two per job run, ~11,000 a
# day): WARNING and above only.
NOISY_LOGGERS = ("apscheduler", "alembic", "aiosqlite", "discord.gateway", "discord.state")
TEXT_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"

CONNECT_ATTEMPTS_VARIABLE = "COURSEBOT_CONNECT_ATTEMPTS"  # for tests; the default suits a real start
CONNECT_ATTEMPTS = 5
RETRY_DELAYS = (2, 4, 8, 16)  # seconds between the attempts: five attempts over 30 s

NO_TOKEN = "DISCORD_TOKEN is not set: export your bot's token first (or try `coursebot sandbox`)."
SANDBOX_INSTEAD = (
    "DISCORD_TOKEN is not set — starting the sandbox (the real bot on a simulated server); "
    "set the token to connect to Discord."
)
GLOBAL_SYNC = (
    "[discord] guild_id = 0: commands would sync globally and take up to an hour to appear; set the server id"
)


class UsageError(Exception):
    """A command-line argument cannot be used; the message is the one line to show (exit 2)."""


@dataclass
class _Session:
    """What the error path of `main` needs to know: whether tracebacks are wanted, and the secrets
    that no line may show."""

    debug: bool = False
    secrets: tuple[str, ...] = ()


_session = _Session()


def _environment_token() -> str:
    return os.environ.get("DISCORD_TOKEN", "").strip()


class RedactSecrets(logging.Formatter):
    """Formats a record with `inner`, then replaces every secret (the token) in the whole output: the
    message, an exception's traceback and text, a stack — no path lets the token through."""

    def __init__(self, inner: logging.Formatter, secrets: Sequence[str]) -> None:
        super().__init__()
        self.inner = inner
        forms = {s for s in secrets if s} | {json.dumps(s)[1:-1] for s in secrets if s}
        self.secrets = sorted(forms, key=len, reverse=True)  # JSON-escaped forms too

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "[redacted]")
        return text

    def format(self, record: logging.LogRecord) -> str:
        return self.redact(self.inner.format(record))


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message, and the exception's
    text (and a stack) when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False)


class _StderrHandler(logging.StreamHandler[TextIO]):
    """A stream handler on whatever `sys.stderr` is when a record is written (tests swap it)."""

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _value: TextIO) -> None:
        pass


def redact(text: str) -> str:
    """`text` without the secrets known to this command (for lines printed outside the log)."""
    return RedactSecrets(logging.Formatter(), _session.secrets).redact(text)


def setup_logging(config: Config | None, level: int | None = None) -> None:
    """Log to stderr for operators: the bot's own records at `level` (default `[logging] level`; DEBUG
    with --debug), the chatty libraries at WARNING, as text or one JSON object per line
    (`[logging] format`). The token is redacted from every line."""
    settings = config.logging if config is not None else LoggingSection()
    if config is not None and settings.level == "DEBUG":
        _session.debug = True
    if _session.debug:
        level = logging.DEBUG
    elif level is None:
        level = logging.getLevelNamesMapping()[settings.level]
    token = config.token.get_secret_value() if config is not None and config.token else ""
    _session.secrets = tuple(s for s in {*_session.secrets, token.strip(), _environment_token()} if s)
    handler = _StderrHandler()
    inner = JsonFormatter() if settings.format == "json" else logging.Formatter(TEXT_FORMAT)
    handler.setFormatter(RedactSecrets(inner, _session.secrets))
    logging.basicConfig(level=level, handlers=[handler], force=True)
    for name in NOISY_LOGGERS:
        logging.getLogger(name).setLevel(max(logging.WARNING, level))
    logging.captureWarnings(True)


def parse_now(text: str | None, config: Config) -> datetime | None:
    """`--now`: ISO 8601; without an offset, the course timezone. Raises ValueError."""
    if not text:
        return None
    instant = datetime.fromisoformat(text.strip())
    return instant if instant.tzinfo else instant.replace(tzinfo=config.tz)


def _start_instant(text: str | None, config: Config) -> datetime | None:
    """`--now` for `run` and `sandbox`. Raises UsageError."""
    try:
        return parse_now(text, config)
    except ValueError:
        raise UsageError(f"--now: {text!r} is not an ISO 8601 instant") from None


def _load(path: str) -> Config:
    """The validated config, with logging set up from it; every problem printed (exit 1) otherwise."""
    try:
        config = load_config(path)
    except ConfigError as error:
        for problem in error.problems:
            print(redact(problem), file=sys.stderr)
        raise SystemExit(EXIT_PROBLEMS) from None
    setup_logging(config)
    return config


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
    if config.discord.guild_id == 0:
        print(f"warning: {GLOBAL_SYNC}", file=sys.stderr)
    print(
        f"{args.config}: OK — {config.course.code} {config.course.term}, {config.course.weeks} weeks from "
        f"{calendar.term_start}, {len(calendar.lectures)} lectures, {len(config.deadlines)} deadlines"
    )
    return EXIT_OK


def connect_attempts() -> int:
    """How many times `run` tries to reach Discord at start-up: 5, or COURSEBOT_CONNECT_ATTEMPTS.
    Raises UsageError when that is not a positive whole number."""
    raw = os.environ.get(CONNECT_ATTEMPTS_VARIABLE, "").strip()
    if not raw:
        return CONNECT_ATTEMPTS
    if not raw.isdigit() or int(raw) < 1:
        raise UsageError(f"{CONNECT_ATTEMPTS_VARIABLE}={raw!r}: give a whole number of attempts, 1 or more")
    return int(raw)


def cmd_run(args: argparse.Namespace) -> int:
    config = _load(args.config)
    token = config.token.get_secret_value().strip() if config.token is not None else ""
    if not token:
        if sys.stdin.isatty() and sys.stdout.isatty():  # a person trying it out: show the bot working
            print(SANDBOX_INSTEAD, flush=True)
            return _sandbox(config, args.now, script=None, database=None)
        print(NO_TOKEN, file=sys.stderr)
        return EXIT_USAGE
    start = _start_instant(args.now, config)
    attempts = connect_attempts()
    if config.discord.guild_id == 0:
        log.warning(GLOBAL_SYNC)
    asyncio.run(_serve(config, Clock(start=start), token, attempts))
    return EXIT_OK


async def _serve(config: Config, clock: Clock, token: str, attempts: int) -> None:
    """Migrate, then connect and serve until SIGINT or SIGTERM. Discord out of reach at start-up is
    tried `attempts` times with backoff, one log line per failure; once connected, discord.py
    reconnects by itself. Raises StartupError."""
    from bot.app import CourseBot
    from bot.db.migrate import upgrade

    with database_errors(config.database.url):
        await upgrade(config.database.url)
    loop = asyncio.get_running_loop()
    stopped = asyncio.Event()
    bots: list[CourseBot] = []
    closing: list[asyncio.Future[None]] = []

    def stop() -> None:
        if stopped.is_set():  # a second Ctrl-C must not start a second, concurrent shutdown
            return
        stopped.set()
        if bots:
            closing.append(asyncio.ensure_future(bots[-1].close()))

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop)
    for attempt in range(1, attempts + 1):
        bot = CourseBot(config, clock=clock, migrate=False)  # a fresh bot: a failed start closed the last
        bots.append(bot)
        try:
            async with bot:
                await bot.start(token)
            break
        except DiscordUnreachable as error:
            if stopped.is_set():
                break
            if attempt == attempts:
                endpoints = config.discord.api_base or config.discord.gateway_url
                raise StartupError(
                    f"{error}: check the network connection"
                    f"{' and [discord] api_base / gateway_url' if endpoints else ''}; "
                    f"gave up after {attempts} attempt{'s' if attempts > 1 else ''}"
                ) from None
            delay = RETRY_DELAYS[min(attempt, len(RETRY_DELAYS)) - 1]
            log.warning("%s; retrying in %d s", error, delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopped.wait(), delay)
            if stopped.is_set():
                break
    # start() returns once the gateway is closed, before close() has stopped the scheduler and
    # disposed of the database; asyncio.run() would cancel that half-done shutdown.
    for task in closing:
        await task


def sandbox_database_url(value: str | None) -> str | None:
    """`sandbox --database`: a database URL, or a plain path taken as a SQLite file. Raises UsageError
    for a URL of another kind of database."""
    if not value:
        return None
    if "://" not in value:
        return f"sqlite+aiosqlite:///{Path(value).expanduser().resolve()}"
    scheme = value.split("://", 1)[0]
    if scheme not in SUPPORTED_DATABASES:
        raise UsageError(
            f"--database: {scheme}:// is not supported: give a file path, sqlite+aiosqlite:///path/to/file.db "
            "or postgresql+asyncpg://user:password@host/database"
        )
    return value


def _read_script(path: str) -> list[str]:
    """The lines of `sandbox --script FILE`. Raises UsageError."""
    try:
        return Path(path).read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise UsageError(f"--script {path}: no such file") from None
    except IsADirectoryError:
        raise UsageError(f"--script {path}: is a folder, not a file of sandbox lines") from None
    except UnicodeDecodeError:
        raise UsageError(f"--script {path}: not a text file (UTF-8 expected)") from None
    except OSError as error:
        raise UsageError(f"--script {path}: cannot be read ({error.strerror})") from None


def _sandbox(
    config: Config, now: str | None, *, script: str | None, database: str | None, empty: bool = False
) -> int:
    """The sandbox (also what `run` starts at a terminal without a token). Raises UsageError or
    StartupError."""
    start = _start_instant(now, config)
    lines = _read_script(script) if script else None
    url = sandbox_database_url(database)
    setup_logging(config, logging.ERROR)
    from bot.sandbox import run_sandbox

    if url is None:  # a fresh temporary SQLite file
        return run_sandbox(config, start=start, script=lines, empty=empty)
    with database_errors(url):
        return run_sandbox(config, start=start, script=lines, database_url=url, empty=empty)


def cmd_sandbox(args: argparse.Namespace) -> int:
    config = _load(args.config)
    return _sandbox(config, args.now, script=args.script, database=args.database, empty=args.empty)


def cmd_db(args: argparse.Namespace) -> int:
    config = _load(args.config)
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


async def _with_services(config: Config, action: Callable[[Services], Awaitable[T]]) -> T:
    """Migrate, then run `action` with the same services the bot uses (safe while the bot runs).
    Raises StartupError when the database cannot be opened, reached or written."""
    from bot.calendar import CourseCalendar
    from bot.db import Database
    from bot.db.migrate import upgrade

    with database_errors(config.database.url):
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
    target = None if args.output in (None, "-") else Path(args.output)
    if target is not None:  # before any work: a typo in the folder is the usual mistake
        if target.is_dir():
            raise UsageError(
                f"-o {args.output}: is a folder; give a file name, e.g. {target / 'gradebook.csv'}"
            )
        if not target.parent.is_dir():
            raise UsageError(f"-o {args.output}: the folder {target.parent} does not exist")
    from bot.services import gradebook

    async def export(services: Services) -> gradebook.GradebookExport:
        return await gradebook.export_gradebook(services, actor_id=None, format=args.format)

    made = asyncio.run(_with_services(config, export))
    label = args.output if target is not None else "gradebook"
    for student in made.left_out:  # an LMS could not match them: said, never dropped in silence
        print(f"{label}: left out {student}", file=sys.stderr)
    if made.key:
        print(
            f"{label}: keyed by {made.key} (map that column to the user's {made.key.lower()})",
            file=sys.stderr,
        )
    if target is None:
        sys.stdout.buffer.write(made.data)
        return EXIT_OK
    try:
        target.write_bytes(made.data)
    except OSError as error:
        raise StartupError(f"-o {args.output}: cannot be written ({error.strerror})") from None
    print(f"{args.output}: {made.written} students", file=sys.stderr)
    return EXIT_OK


def cmd_backup(args: argparse.Namespace) -> int:
    config = _load(args.config)
    from bot.db.backup import BackupError, backup_sqlite

    try:
        with database_errors(config.database.url, prepare=False):  # a backup creates no database
            summary = backup_sqlite(config.database.url, Path(args.file))
    except BackupError as error:
        print(str(error), file=sys.stderr)
        return EXIT_USAGE
    print(f"{args.file}: {summary}")
    return EXIT_OK


def cmd_setup(args: argparse.Namespace) -> int:
    config = _load(args.config)
    from bot.server_setup import run_setup, usage_problem

    problem = usage_problem(config)
    if problem:
        print(problem, file=sys.stderr)
        return EXIT_USAGE
    setup_logging(config, logging.ERROR)
    if not args.apply:  # a dry run reads Discord only: no database either
        return asyncio.run(run_setup(config, services=None))
    return asyncio.run(_with_services(config, lambda services: run_setup(config, services=services)))


def package_version() -> str:
    """The installed package's version (package metadata)."""
    try:
        return metadata.version("coursebot")
    except metadata.PackageNotFoundError:
        return "unknown (not installed: pip install -e .)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="coursebot", description="A Discord bot for a university course.")
    parser.add_argument("--version", action="version", version=f"coursebot {package_version()}")
    debug_help = "show the traceback of an unexpected error (and log at DEBUG)"
    parser.add_argument("--debug", action="store_true", help=debug_help)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", default="config.toml", help="configuration file (default ./config.toml)")
    # also after the command; SUPPRESS keeps a `coursebot --debug run` from being reset by the default
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=debug_help)
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
    sandbox.add_argument(
        "--empty", action="store_true", help="start with no course data (default: a demo course)"
    )
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
        "file", help="papers: number,title,authors,url,week · roster: student_id,name[,discord][,email]"
    )
    imports.set_defaults(handler=cmd_import)

    export = sub.add_parser("export", parents=[common], help="export the gradebook CSV")
    export.add_argument("what", choices=["gradebook"])
    export.add_argument("-o", "--output", help="file to write (default: standard output)")
    export.add_argument(
        "--format",
        choices=["csv", "canvas", "moodle"],
        default="csv",
        help="gradebook: csv (default), or the file Canvas or Moodle imports as it is",
    )
    export.set_defaults(handler=cmd_export)

    backup = sub.add_parser(
        "backup", parents=[common], help="a consistent copy of the SQLite database, safe while the bot runs"
    )
    backup.add_argument("file", help="where to write the copy")
    backup.set_defaults(handler=cmd_backup)

    setup = sub.add_parser(
        "setup", parents=[common], help="show what the course server lacks for the config (--apply: fix it)"
    )
    setup.add_argument("--apply", action="store_true", help="create and fix what the bot can")
    setup.set_defaults(handler=cmd_setup)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command. Every failure ends in one line on stderr and a non-zero exit: 1 for a problem
    to fix, 2 for a bad argument, 130 for Ctrl-C; the traceback of an unexpected error only with
    --debug or `[logging] level = "DEBUG"`."""
    args = build_parser().parse_args(argv)
    _session.debug, _session.secrets = bool(args.debug), tuple(filter(None, [_environment_token()]))
    try:
        return int(args.handler(args))
    except UsageError as error:
        print(redact(str(error)), file=sys.stderr)
        return EXIT_USAGE
    except StartupError as error:
        print(redact(str(error)), file=sys.stderr)
        return EXIT_PROBLEMS
    except KeyboardInterrupt:
        print("coursebot: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as error:
        if not logging.getLogger().handlers:
            setup_logging(None)
        log.debug("Unexpected error in `coursebot %s`", args.command, exc_info=error)
        detail = first_line(str(error))
        print(
            redact(
                f"coursebot: unexpected error: {type(error).__name__}{': ' + detail if detail else ''} "
                "(details in the log at DEBUG)"
            ),
            file=sys.stderr,
        )
        return EXIT_PROBLEMS


if __name__ == "__main__":
    sys.exit(main())
