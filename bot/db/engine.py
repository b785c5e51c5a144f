"""Engine and sessions.

`Database.write()` is the only way to change data. On SQLite it serialises writers inside the
process with an asyncio lock and opens the transaction with `BEGIN IMMEDIATE`, so racing writers
wait their turn instead of reading stale rows or failing with "database is locked" (a second
process, such as `coursebot import`, waits on `busy_timeout`). On PostgreSQL services lock the
parent row with `with_for_update()`; that is a no-op on SQLite, so the same code is safe on both.
"""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

SQLITE_BUSY_TIMEOUT_MS = 30_000


def _ensure_sqlite_directory(url: str) -> None:
    database = make_url(url).database
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).parent.mkdir(parents=True, exist_ok=True)


def create_engine(url: str, *, foreign_keys: bool = True) -> AsyncEngine:
    """An async engine; for SQLite with WAL, NORMAL sync, foreign keys and a busy timeout.

    `foreign_keys=False` is for migrations only (a batch rebuild of a parent table would otherwise
    cascade-delete its children).
    """
    engine = create_async_engine(url, pool_pre_ping=not url.startswith("sqlite"))
    if engine.dialect.name != "sqlite":
        return engine
    _ensure_sqlite_directory(url)

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take control of transactions from the sqlite3 module, so BEGIN is ours to emit.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA foreign_keys={'ON' if foreign_keys else 'OFF'}")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        immediate = connection.get_execution_options().get("sqlite_immediate", False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


class Database:
    """The engine plus session factories for reads and for (serialised) writes."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = create_engine(url)
        self.is_sqlite = self.engine.dialect.name == "sqlite"
        write_engine = self.engine.execution_options(sqlite_immediate=True) if self.is_sqlite else self.engine
        self._read_sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        self._write_sessions = async_sessionmaker(write_engine, expire_on_commit=False)
        self._write_lock = asyncio.Lock() if self.is_sqlite else None

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """A session for queries; its transaction is rolled back at the end."""
        async with self._read_sessions() as session:
            yield session

    @asynccontextmanager
    async def write(self, lock: str | None = None) -> AsyncIterator[AsyncSession]:
        """A session in one write transaction: committed on success, rolled back on any error.

        `lock` names a feature whose writes must run one at a time. SQLite serialises every write
        anyway; on PostgreSQL it takes a transaction-level advisory lock of that name, so multi-row
        rules (capacity, one paper per student, waitlist order) hold without row-lock deadlocks.
        """
        if self._write_lock is None:
            async with self._write_sessions() as session, session.begin():
                if lock is not None:
                    await session.execute(
                        text("SELECT pg_advisory_xact_lock(:key)"), {"key": zlib.crc32(lock.encode())}
                    )
                yield session
            return
        async with self._write_lock, self._write_sessions() as session, session.begin():
            yield session

    async def dispose(self) -> None:
        await self.engine.dispose()


def dialect_insert(session: AsyncSession) -> Callable[..., Any]:
    """`insert` of the session's dialect, for `on_conflict_do_nothing` (SQLite and PostgreSQL)."""
    return sqlite_insert if session.get_bind().dialect.name == "sqlite" else postgresql_insert
