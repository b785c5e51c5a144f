"""`coursebot run` and `coursebot sandbox`: migrate, connect to Discord (tried a few times with
backoff) and serve until SIGINT or SIGTERM; or the real bot on a simulated server, which `run` also
starts at a terminal without a token."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
from pathlib import Path

from bot.cli.common import (
    EXIT_OK,
    EXIT_USAGE,
    GLOBAL_SYNC,
    UsageError,
    load_config_or_exit,
    log,
    start_instant,
)
from bot.cli.logs import setup_logging
from bot.clock import Clock
from bot.config import SUPPORTED_DATABASES, Config
from bot.startup_errors import DiscordUnreachable, StartupError, database_errors

CONNECT_ATTEMPTS_VARIABLE = "COURSEBOT_CONNECT_ATTEMPTS"  # for tests; the default suits a real start
CONNECT_ATTEMPTS = 5
RETRY_DELAYS = (2, 4, 8, 16)  # seconds between the attempts: five attempts over 30 s

NO_TOKEN = "DISCORD_TOKEN is not set: export your bot's token first (or try `coursebot sandbox`)."
SANDBOX_INSTEAD = (
    "DISCORD_TOKEN is not set — starting the sandbox (the real bot on a simulated server); "
    "set the token to connect to Discord."
)


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
    config = load_config_or_exit(args.config)
    token = config.token.get_secret_value().strip() if config.token is not None else ""
    if not token:
        if sys.stdin.isatty() and sys.stdout.isatty():  # a person trying it out: show the bot working
            print(SANDBOX_INSTEAD, flush=True)
            return _sandbox(config, args.now, script=None, database=None)
        print(NO_TOKEN, file=sys.stderr)
        return EXIT_USAGE
    start = start_instant(args.now, config)
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
    start = start_instant(now, config)
    lines = _read_script(script) if script else None
    url = sandbox_database_url(database)
    setup_logging(config, logging.ERROR)
    from bot.sandbox import run_sandbox

    if url is None:  # a fresh temporary SQLite file
        return run_sandbox(config, start=start, script=lines, empty=empty)
    with database_errors(url):
        return run_sandbox(config, start=start, script=lines, database_url=url, empty=empty)


def cmd_sandbox(args: argparse.Namespace) -> int:
    config = load_config_or_exit(args.config)
    return _sandbox(config, args.now, script=args.script, database=args.database, empty=args.empty)
