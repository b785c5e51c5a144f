"""`coursebot backup`: a consistent copy of the SQLite database while the bot runs (SQLite's online
backup API), checked by opening it."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

from sqlalchemy.engine import make_url


class BackupError(Exception):
    """The backup cannot be made; the message says why and what to do."""


def backup_sqlite(url: str, target: Path) -> str:
    """Copy the database at `url` to `target` and verify the copy. Returns a one-line summary.

    Raises BackupError for PostgreSQL (use pg_dump), a missing database, a target that cannot be
    written (a folder, no permission, a full disk), or a copy that fails its integrity check.
    """
    parsed = make_url(url)
    if not parsed.drivername.startswith("sqlite"):
        raise BackupError(
            "The database is PostgreSQL: back it up with `pg_dump` (e.g. `pg_dump -Fc coursebot > coursebot.dump`)."
        )
    source_path = Path(parsed.database or "")
    if not source_path.is_file():
        raise BackupError(f"There is no database at {source_path}; nothing to back up.")
    if target.resolve() == source_path.resolve():
        raise BackupError("The backup must go to another file than the database itself.")
    if target.is_dir():
        raise BackupError(
            f"{target} is a folder: give the backup a file name, e.g. {target / 'coursebot.db'}."
        )
    partial = target.with_name(target.name + ".partial")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        _copy(source_path, partial)
    except (OSError, sqlite3.Error) as error:
        _discard(partial)
        raise BackupError(f"The backup to {target} failed: {_reason(error)}.") from None
    try:
        summary = verify(partial)
        partial.replace(target)
    except OSError as error:
        _discard(partial)
        raise BackupError(f"The backup to {target} failed: {_reason(error)}.") from None
    except BackupError:
        _discard(partial)
        raise
    return summary


def _copy(source_path: Path, partial: Path) -> None:
    """SQLite's online backup of `source_path` into `partial`. Raises OSError or sqlite3.Error."""
    source = sqlite3.connect(file_uri(source_path, "ro"), uri=True, timeout=30)
    try:
        copy = sqlite3.connect(file_uri(partial, "rwc"), uri=True)
        try:
            source.backup(copy)  # one step: in WAL mode the copy reads a snapshot and writers go on
            copy.execute("PRAGMA journal_mode=DELETE")  # a single self-contained file
        finally:
            copy.close()
    finally:
        source.close()


def _discard(partial: Path) -> None:
    """Remove a half-made copy, if there is one. Raises nothing."""
    with contextlib.suppress(OSError):  # it was never made (e.g. its folder is a file)
        partial.unlink(missing_ok=True)


def _reason(error: OSError | sqlite3.Error) -> str:
    """One line for a person: "Permission denied", "database or disk is full"."""
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    return str(error) or type(error).__name__


def file_uri(path: Path, mode: str) -> str:
    """SQLite's URI for `path` (`ro`, `rw` or `rwc`): the path percent-encoded, so a folder or file
    named `course #1`, `what?`, `100%` or `강의 자료` opens that very file. Raises nothing."""
    return f"{path.resolve().as_uri()}?mode={mode}"


def verify(path: Path) -> str:
    """Open a copy and check it. Raises BackupError."""
    connection = sqlite3.connect(file_uri(path, "ro"), uri=True)
    try:
        result = connection.execute("PRAGMA integrity_check").fetchone()[0]
        if result != "ok":
            raise BackupError(f"The copy failed its integrity check: {result}")
        revision = connection.execute("SELECT version_num FROM alembic_version").fetchone()
        tables = connection.execute("SELECT count(*) FROM sqlite_master WHERE type = 'table'").fetchone()[0]
        students = connection.execute("SELECT count(*) FROM students").fetchone()[0]
    except sqlite3.DatabaseError as error:
        raise BackupError(f"The copy cannot be read: {error}") from None
    finally:
        connection.close()
    return f"backup OK — revision {revision[0] if revision else '?'}, {tables} tables, {students} students"
