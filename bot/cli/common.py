"""What every command shares: exit codes, `UsageError` (a bad argument, one line, exit 2), loading
the config (every problem printed), `--now`, and running a task with the services the bot uses."""

from __future__ import annotations

import logging
import sys
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TypeVar

from bot.cli.logs import redact, setup_logging
from bot.clock import Clock
from bot.config import Config, ConfigError, load_config
from bot.services import Services
from bot.startup_errors import database_errors

log = logging.getLogger("coursebot")
T = TypeVar("T")

EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
GLOBAL_SYNC = (
    "[discord] guild_id = 0: commands would sync globally and take up to an hour to appear; set the server id"
)


class UsageError(Exception):
    """A command-line argument cannot be used; the message is the one line to show (exit 2)."""


def parse_now(text: str | None, config: Config) -> datetime | None:
    """`--now`: ISO 8601; without an offset, the course timezone. Raises ValueError."""
    if not text:
        return None
    instant = datetime.fromisoformat(text.strip())
    return instant if instant.tzinfo else instant.replace(tzinfo=config.tz)


def start_instant(text: str | None, config: Config) -> datetime | None:
    """`--now` for `run` and `sandbox`. Raises UsageError."""
    try:
        return parse_now(text, config)
    except ValueError:
        raise UsageError(f"--now: {text!r} is not an ISO 8601 instant") from None


def load_config_or_exit(path: str) -> Config:
    """The validated config, with logging set up from it; every problem printed (exit 1) otherwise."""
    try:
        config = load_config(path)
    except ConfigError as error:
        for problem in error.problems:
            print(redact(problem), file=sys.stderr)
        raise SystemExit(EXIT_PROBLEMS) from None
    setup_logging(config)
    return config


async def with_services(config: Config, action: Callable[[Services], Awaitable[T]]) -> T:
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
