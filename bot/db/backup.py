"""`coursebot backup`: a consistent copy of the SQLite database while the bot runs (SQLite's online
backup API), checked by opening it."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sqlalchemy.engine import make_url


class BackupError(Exception):
    """The backup cannot be made; the message says why and what to do."""


def backup_sqlite(url: str, target: Path) -> str:
    """Copy the database at `url` to `target` and verify the copy. Returns a one-line summary.

    Raises BackupError for PostgreSQL (use pg_dump), a missing database, or a copy that fails its
    integrity check.
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
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    source = sqlite3.connect(f"file:{source_path}?mode=ro", uri=True, timeout=30)
    try:
        copy = sqlite3.connect(partial)
        try:
            source.backup(copy)  # one step: in WAL mode the copy reads a snapshot and writers go on
            copy.execute("PRAGMA journal_mode=DELETE")  # a single self-contained file
        finally:
            copy.close()
    finally:
        source.close()
    try:
        summary = verify(partial)
    except BackupError:
        partial.unlink(missing_ok=True)
        raise
    partial.replace(target)
    return summary


def verify(path: Path) -> str:
    """Open a copy and check it. Raises BackupError."""
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
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
