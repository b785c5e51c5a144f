"""The one-line explanations for what stops a command before it can do its work: the database (its
driver, its file or folder, its server) and the network. Every `coursebot` command prints the line of
a `StartupError` and exits non-zero, never a traceback. No discord import here: `bot/app.py` turns
discord.py's exceptions into these.
"""

from __future__ import annotations

import os
import socket
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL, make_url

POSTGRES_EXTRA = (
    "PostgreSQL needs the postgres extra: pip install 'coursebot[postgres]' "
    "(from a checkout: pip install -e '.[postgres]')"
)
WRONG_TOKEN = (
    "Discord refused the token (DISCORD_TOKEN): copy it again from the developer portal → Bot → Reset Token"
)
MISSING_MEMBERS_INTENT = (
    "Discord refused the Server Members intent: turn it on in the developer portal → Bot → "
    "Privileged Gateway Intents → Server Members Intent"
)

# Errors that are bugs or schema drift, not "the database cannot be reached or written".
_NOT_ABOUT_ACCESS = (sa_exc.IntegrityError, sa_exc.DataError, sa_exc.ProgrammingError)


class StartupError(Exception):
    """A problem the operator fixes; `str()` is the one line to show them."""


class DiscordUnreachable(StartupError):
    """Discord's REST API or gateway could not be reached (worth retrying)."""

    def __init__(self, host: str, reason: str) -> None:
        super().__init__(f"cannot reach Discord at {host} ({reason})")
        self.host, self.reason = host, reason


def first_line(text: str, limit: int = 300) -> str:
    """The first non-empty line of `text`, at most `limit` characters."""
    line = next((part.strip() for part in text.splitlines() if part.strip()), "")
    return line if len(line) <= limit else line[: limit - 1] + "…"


def network_reason(error: BaseException) -> str:
    """A short reason for a network failure: "Connection refused", "timed out", ..."""
    if isinstance(error, TimeoutError):
        return "timed out"
    if isinstance(error, socket.gaierror):
        return f"unknown host: {error.strerror}" if error.strerror else "unknown host"
    if isinstance(error, OSError):
        if error.errno and error.errno > 0:
            return os.strerror(error.errno)
        if error.strerror:
            return first_line(error.strerror)
    return first_line(str(error)) or type(error).__name__


def _parse(url: str) -> URL:
    try:
        return make_url(url)
    except sa_exc.ArgumentError:
        raise StartupError(f"[database] url: {url!r} is not a database URL") from None


def _sqlite_path(parsed: URL) -> Path | None:
    database = parsed.database
    if parsed.get_backend_name() != "sqlite" or not database or database == ":memory:":
        return None
    return None if database.startswith("file:") else Path(database)


def describe_database(url: str) -> str:
    """The database for a message: the SQLite file, or the URL without its password."""
    parsed = _parse(url)
    path = _sqlite_path(parsed)
    return str(path) if path is not None else parsed.render_as_string(hide_password=True)


def prepare_database(url: str) -> None:
    """Make sure the database can be opened: the PostgreSQL driver is installed; a SQLite file's folder
    exists (it is created when missing) and the folder and an existing file are writable.
    Raises StartupError saying what to do."""
    parsed = _parse(url)
    if parsed.get_backend_name() == "postgresql":
        if parsed.get_driver_name() == "asyncpg":
            try:
                import asyncpg  # noqa: F401
            except ImportError:
                raise StartupError(POSTGRES_EXTRA) from None
        return
    path = _sqlite_path(parsed)
    if path is None:
        return
    if path.is_dir():
        raise StartupError(f"the database {path} is a folder: give a file, e.g. {path / 'coursebot.db'}")
    folder = path.parent
    if folder.exists() and not folder.is_dir():
        raise StartupError(
            f"the database folder {folder} is a file: move it or set [database] url (or DATABASE_URL)"
        )
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise StartupError(
            f"cannot create the database folder {folder} ({network_reason(error)}): "
            "create it or set [database] url (or DATABASE_URL) to a writable place"
        ) from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise StartupError(
            f"the database folder {folder} is not writable by this user: fix its permissions or set "
            "[database] url (or DATABASE_URL)"
        )
    if path.exists() and not os.access(path, os.R_OK | os.W_OK):
        raise StartupError(
            f"the database file {path} is read-only for this user: fix its permissions or set "
            "[database] url (or DATABASE_URL)"
        )


def database_problem(error: BaseException, url: str) -> str | None:
    """The one line for a failure to open, reach or write the database at `url`; None when `error`
    is something else (a bug is not explained away as a database problem)."""
    if isinstance(error, StartupError):
        return str(error)
    if isinstance(error, ImportError) and error.name == "asyncpg":
        return POSTGRES_EXTRA
    if isinstance(error, _NOT_ABOUT_ACCESS):
        return None
    if isinstance(error, sa_exc.DBAPIError):
        detail = first_line(str(error.orig)) if error.orig is not None else first_line(str(error))
    elif isinstance(error, sqlite3.Error) or type(error).__module__.startswith("asyncpg"):
        detail = first_line(str(error)) or type(error).__name__
    elif isinstance(error, OSError | TimeoutError):
        detail = network_reason(error)
    else:
        return None
    try:
        parsed = make_url(url)
    except sa_exc.ArgumentError:
        return f"cannot use the database: {detail}"
    path = _sqlite_path(parsed)
    if path is not None:
        return (
            f"cannot use the database file {path} ({detail}): check that it and its folder are writable "
            "by this user, or set [database] url (or DATABASE_URL)"
        )
    return (
        f"cannot connect to the database {parsed.render_as_string(hide_password=True)} ({detail}): "
        "check [database] url (or DATABASE_URL) and that the server is running"
    )


@contextmanager
def database_errors(url: str, *, prepare: bool = True) -> Iterator[None]:
    """Check the database can be used (`prepare_database`, unless `prepare` is False), then turn a
    failure to open, reach or write it inside the block into a StartupError. Other errors pass
    through. Raises StartupError."""
    if prepare:
        prepare_database(url)
    try:
        yield
    except StartupError:
        raise
    except Exception as error:
        line = database_problem(error, url)
        if line is None:
            raise
        raise StartupError(line) from error
