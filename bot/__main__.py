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

from bot.clock import Clock
from bot.config import Config, ConfigError, load_config
from bot.services import Services

log = logging.getLogger("coursebot")

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


async def _with_services(config: Config, action: Callable[[Services], Awaitable[int]]) -> int:
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
    from bot.services import papers

    async def import_papers(services: Services) -> int:
        result = await papers.import_papers(services, actor_id=None, data=data)
        for problem in result.errors:
            print(f"{args.file}: {problem}")
        if result.errors:
            print(f"{args.file}: nothing imported ({len(result.errors)} problem(s))")
            return EXIT_PROBLEMS
        print(f"{args.file}: {result.added} papers added, {result.updated} updated")
        return EXIT_OK

    return asyncio.run(_with_services(config, import_papers))


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

    imports = sub.add_parser("import", parents=[common], help="import the paper list (CSV)")
    imports.add_argument("kind", choices=["papers"])
    imports.add_argument("file", help="CSV with the header number,title,authors,url,week")
    imports.set_defaults(handler=cmd_import)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.handler(args))


if __name__ == "__main__":
    sys.exit(main())
