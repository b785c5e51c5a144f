"""A write bounded with `limit_write_wait` (a command Discord wants answered in time) gives up with
DatabaseBusy when another program or transaction holds what it needs, changes nothing, and works
once the database is free; without a bound it waits its turn. On SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import sqlite3
import time
import zlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from bot.db import Database
from bot.db.engine import DatabaseBusy, WriteWait, limit_write_wait
from bot.db.models import Student
from tests.conftest import seoul

JOINED = seoul(2025, 3, 10, 11, 0)


@asynccontextmanager
async def another_program_writing(database: Database, *, lock: str = "papers") -> AsyncIterator[None]:
    """Another connection, outside the bot, holding the database (SQLite) or the feature's lock
    (PostgreSQL) until the block ends."""
    url = make_url(database.url)
    if database.is_sqlite:
        other = sqlite3.connect(str(url.database), isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            other.execute("ROLLBACK")
            other.close()
        return
    import asyncpg

    connection = await asyncpg.connect(
        host=url.host, port=url.port, user=url.username, password=url.password, database=url.database
    )
    try:
        await connection.execute("SELECT pg_advisory_lock($1)", zlib.crc32(lock.encode()))
        yield
    finally:
        await connection.close()


async def students(database: Database) -> int:
    async with database.read() as session:
        return int((await session.execute(select(func.count()).select_from(Student))).scalar_one())


async def add_student(database: Database, discord_id: int) -> None:
    async with database.write("papers") as session:
        session.add(Student(discord_id=discord_id, joined_at=JOINED))


async def test_a_bounded_write_gives_up_while_another_program_holds_the_database(database: Database) -> None:
    async with another_program_writing(database):
        limit_write_wait(WriteWait(deadline=time.monotonic() + 0.3))
        with pytest.raises(DatabaseBusy):
            await add_student(database, 1)
    assert await students(database) == 0
    await add_student(database, 1)  # the bound still applies, and the database is free now
    assert await students(database) == 1


async def test_an_unbounded_write_waits_its_turn(database: Database) -> None:
    limit_write_wait(None)
    async with another_program_writing(database):
        waiting = asyncio.create_task(add_student(database, 2))
        await asyncio.sleep(0.3)
        assert not waiting.done()
    await waiting
    assert await students(database) == 1


async def test_a_bounded_write_gives_up_on_a_row_another_transaction_locked(database: Database) -> None:
    """PostgreSQL's row locks (`with_for_update`) are bounded too; SQLite has the one lock above."""
    if database.is_sqlite:
        pytest.skip("SQLite locks the whole database: the test above")
    await add_student(database, 3)
    async with database.write() as holder:
        await holder.execute(select(Student).where(Student.discord_id == 3).with_for_update())

        async def rename() -> None:
            limit_write_wait(WriteWait(deadline=time.monotonic() + 0.3))
            async with database.write() as session:
                row = (
                    await session.execute(select(Student).where(Student.discord_id == 3).with_for_update())
                ).scalar_one()
                row.name = "Renamed"

        with pytest.raises(DatabaseBusy):
            await asyncio.create_task(rename())
    async with database.read() as session:
        assert (await session.get(Student, 3)).name is None  # type: ignore[union-attr]
