"""The database layer: UTC datetimes, SQLite pragmas, and the write transaction."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import StatementError

from bot.db import Database
from bot.db.models import Student
from bot.db.types import UTCDateTime
from tests.conftest import seoul


def test_utc_datetime_refuses_naive_values() -> None:
    column = UTCDateTime()
    with pytest.raises(ValueError, match="naive"):
        column.process_bind_param(datetime(2025, 3, 10, 11, 0), None)  # type: ignore[arg-type]
    stored = column.process_bind_param(seoul(2025, 3, 10, 11, 0), None)  # type: ignore[arg-type]
    assert stored == datetime(2025, 3, 10, 2, 0)


async def test_a_naive_datetime_never_reaches_the_database(database: Database) -> None:
    with pytest.raises(StatementError, match="naive"):
        async with database.write() as session:
            session.add(Student(discord_id=1, joined_at=datetime(2025, 3, 10, 11, 0)))
    async with database.read() as session:
        assert await session.get(Student, 1) is None


async def test_aware_datetimes_round_trip_as_utc(database: Database) -> None:
    joined = seoul(2025, 3, 10, 0, 30)  # still Sunday in UTC
    async with database.write() as session:
        session.add(Student(discord_id=1, joined_at=joined))
    async with database.read() as session:
        student = await session.get(Student, 1)
        assert student is not None
        assert student.joined_at == joined
        assert student.joined_at.tzinfo == UTC
        assert student.joined_at == datetime(2025, 3, 9, 15, 30, tzinfo=UTC)
        found = await session.scalar(select(Student).where(Student.joined_at < seoul(2025, 3, 10, 0, 31)))
        assert found is not None


async def test_sqlite_connections_use_wal_and_foreign_keys(tmp_path: Path) -> None:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'sub' / 'pragmas.db'}")
    try:
        for session_of in (database.read, database.write):
            async with session_of() as session:
                assert (await session.execute(text("PRAGMA journal_mode"))).scalar() == "wal"
                assert (await session.execute(text("PRAGMA foreign_keys"))).scalar() == 1
                assert (await session.execute(text("PRAGMA busy_timeout"))).scalar() == 30_000
        assert (tmp_path / "sub" / "pragmas.db").exists()
    finally:
        await database.dispose()


async def test_write_commits_on_success_and_rolls_back_on_error(database: Database) -> None:
    async with database.write() as session:
        session.add(Student(discord_id=1, joined_at=seoul(2025, 3, 10, 11, 0)))
    with pytest.raises(RuntimeError, match="boom"):
        async with database.write() as session:
            (await session.get(Student, 1)).name = "changed"  # type: ignore[union-attr]
            session.add(Student(discord_id=2, joined_at=seoul(2025, 3, 10, 11, 0)))
            await session.flush()
            raise RuntimeError("boom")
    async with database.read() as session:
        rows = (await session.scalars(select(Student))).all()
        assert [(s.discord_id, s.name) for s in rows] == [(1, None)]
    # the write lock was released: another write goes through
    async with database.write() as session:
        session.add(Student(discord_id=3, joined_at=seoul(2025, 3, 10, 11, 0)))
