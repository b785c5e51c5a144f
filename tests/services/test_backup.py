"""`backup_sqlite`: a consistent copy of the SQLite database while the bot writes to it.

The backup runs in a thread (as `coursebot backup` runs in another process) while writers keep
committing on the event loop; the copy must open, pass its integrity check, hold every row
committed before the backup started, and hold nothing that was never committed.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.db import Database, audit
from bot.db.backup import BackupError, backup_sqlite, verify
from bot.db.migrate import upgrade
from tests.conftest import seoul

AT = seoul(2025, 3, 10, 11, 0)


class RolledBack(Exception):
    pass


@pytest.fixture
async def sqlite_url(tmp_path: Path) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path / 'course.db'}"
    await upgrade(url)
    return url


@pytest.fixture
async def db(sqlite_url: str) -> AsyncIterator[Database]:
    database = Database(sqlite_url)
    yield database
    await database.dispose()


def audit_rows(path: Path, action: str) -> set[tuple[int, int]]:
    """(writer, number) of the copy's audit rows written by `writer` tasks."""
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        assert connection.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        rows = connection.execute("SELECT actor_id, target_id FROM audit_log WHERE action = ?", (action,))
        return {(actor, number) for actor, number in rows}
    finally:
        connection.close()


async def test_a_backup_taken_during_writes_holds_every_committed_row(db: Database, tmp_path: Path) -> None:
    async with db.write() as session:  # ~2 MB, so the copy takes several steps
        for _ in range(2000):
            audit(session, at=AT, actor_id=None, action="filler", padding="x" * 1000)

    committed: list[tuple[int, int]] = []
    rolled_back: list[tuple[int, int]] = []
    warmed_up, stop = asyncio.Event(), asyncio.Event()

    async def writer(writer_id: int) -> None:
        number = 0
        while not stop.is_set():
            number += 1
            try:
                async with db.write() as session:
                    audit(session, at=AT, actor_id=writer_id, action="write", target_id=number)
                    if number % 5 == 0:  # every fifth transaction fails after its insert
                        await session.flush()
                        raise RolledBack
            except RolledBack:
                rolled_back.append((writer_id, number))
            else:
                committed.append((writer_id, number))
                if len(committed) >= 30:
                    warmed_up.set()
            await asyncio.sleep(0)

    writers = [asyncio.create_task(writer(i)) for i in range(1, 4)]
    await warmed_up.wait()
    before = set(committed)
    summary = await asyncio.to_thread(backup_sqlite, db.url, tmp_path / "copy.db")
    during = len(committed) - len(before)
    stop.set()
    await asyncio.gather(*writers)

    assert summary.startswith("backup OK — revision ")
    copied = audit_rows(tmp_path / "copy.db", "write")
    assert before <= copied  # everything committed before the backup started
    assert copied <= set(committed)  # and nothing else: no rolled-back or half-done row
    assert not copied & set(rolled_back)
    assert during > 0, "the writers should have kept committing while the copy was made"
    assert not (tmp_path / "copy.db.partial").exists()


async def test_an_open_write_transaction_is_not_in_the_copy(db: Database, tmp_path: Path) -> None:
    async with db.write() as session:
        audit(session, at=AT, actor_id=1, action="write", target_id=1)
    async with db.write() as session:
        audit(session, at=AT, actor_id=1, action="write", target_id=2)
        await session.flush()  # written, not committed, while the backup runs
        await asyncio.to_thread(backup_sqlite, db.url, tmp_path / "copy.db")
    assert audit_rows(tmp_path / "copy.db", "write") == {(1, 1)}


async def test_the_summary_counts_tables_and_students(sqlite_url: str, tmp_path: Path) -> None:
    summary = backup_sqlite(sqlite_url, tmp_path / "nested" / "copy.db")
    assert summary.startswith("backup OK — revision ")
    assert summary.endswith(" tables, 0 students")
    assert verify(tmp_path / "nested" / "copy.db") == summary


def test_postgresql_is_backed_up_with_pg_dump(tmp_path: Path) -> None:
    with pytest.raises(BackupError, match="pg_dump"):
        backup_sqlite("postgresql+asyncpg://postgres@127.0.0.1:5432/coursebot", tmp_path / "copy.db")
    assert not list(tmp_path.iterdir())


def test_a_missing_database_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(BackupError, match="no database"):
        backup_sqlite(f"sqlite+aiosqlite:///{tmp_path / 'nothing.db'}", tmp_path / "copy.db")
    assert not list(tmp_path.iterdir())


async def test_the_copy_cannot_overwrite_the_database(sqlite_url: str, tmp_path: Path) -> None:
    with pytest.raises(BackupError, match="another file"):
        backup_sqlite(sqlite_url, tmp_path / "course.db")


def test_a_file_that_is_not_a_database_fails_verification(tmp_path: Path) -> None:
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not a database" * 100)
    with pytest.raises(BackupError, match="cannot be read"):
        verify(junk)
