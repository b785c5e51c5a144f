"""Engine and sessions.

`Database.write()` is the only way to change data. On SQLite it serialises writers inside the
process with an asyncio lock and opens the transaction with `BEGIN IMMEDIATE`, so racing writers
wait their turn instead of reading stale rows or failing with "database is locked" (a second
process, such as `coursebot import`, waits on `busy_timeout`). On PostgreSQL services lock the
parent row with `with_for_update()`; that is a no-op on SQLite, so the same code is safe on both.

A write made for someone waiting (a command Discord wants answered within 3 s) may be bounded with
`limit_write_wait`: if the database is not free in time (another process holding SQLite's lock, or on
PostgreSQL another transaction holding a lock the write waits for), it raises `DatabaseBusy` instead
of waiting without end, and the person is asked to try again.
"""

from __future__ import annotations

import asyncio
import time
import zlib
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

SQLITE_BUSY_TIMEOUT_MS = 30_000
POSTGRES_LOCK_NOT_AVAILABLE = "55P03"  # SQLSTATE of a lock wait ended by lock_timeout


class DatabaseBusy(Exception):
    """A bounded write could not start in time: another writer held the database."""


@dataclass(frozen=True)
class WriteWait:
    """How long a write may wait for the database: until `deadline` (a `time.monotonic()` value) while
    `applies()` holds (e.g. "the interaction is not answered yet"); otherwise without a bound."""

    deadline: float
    applies: Callable[[], bool] = lambda: True

    def seconds_left(self) -> float | None:
        """Seconds left to wait (0 when the deadline has passed), or None when there is no bound."""
        return max(0.0, self.deadline - time.monotonic()) if self.applies() else None


_write_wait: ContextVar[tuple[asyncio.Task[Any] | None, WriteWait] | None] = ContextVar(
    "coursebot_write_wait", default=None
)


def limit_write_wait(wait: WriteWait | None) -> None:
    """Bound how long the writes of the current task wait for the database (None: no bound). Tasks it
    starts do not inherit the bound (a scheduler job woken by a command is not in a hurry)."""
    _write_wait.set(None if wait is None else (_current_task(), wait))


def write_wait() -> WriteWait | None:
    """The bound set with `limit_write_wait` in the current task, if any."""
    entry = _write_wait.get()
    return entry[1] if entry is not None and entry[0] is _current_task() else None


def _current_task() -> asyncio.Task[Any] | None:
    try:
        return asyncio.current_task()
    except RuntimeError:  # no running loop
        return None


def is_busy(error: BaseException) -> bool:
    """True for `DatabaseBusy` and for SQLite's own "database is locked" (its busy_timeout ran out)."""
    if isinstance(error, DatabaseBusy):
        return True
    return isinstance(error, OperationalError) and "database is locked" in str(error)


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
        options = connection.get_execution_options()
        immediate = options.get("sqlite_immediate", False)
        if immediate:  # a bounded write waits for the lock at most its time left (see Database.write)
            busy_ms = int(options.get("sqlite_busy_ms", SQLITE_BUSY_TIMEOUT_MS))
            if connection.info.get("busy_ms", SQLITE_BUSY_TIMEOUT_MS) != busy_ms:
                connection.exec_driver_sql(f"PRAGMA busy_timeout={busy_ms}")
                connection.info["busy_ms"] = busy_ms
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

        Raises DatabaseBusy when the bound the current task set with `limit_write_wait` runs out while
        the write waits: on SQLite for its turn to start (without a bound, within busy_timeout), on
        PostgreSQL for any lock it needs (the feature's, or a row's), then rolled back.
        """
        if self._write_lock is None:
            async with self._write_sessions() as session, session.begin():
                try:
                    await self._bound_lock_waits(session, write_wait())
                    if lock is not None:
                        await session.execute(
                            text("SELECT pg_advisory_xact_lock(:key)"), {"key": zlib.crc32(lock.encode())}
                        )
                    yield session
                except DBAPIError as error:
                    if getattr(error.orig, "sqlstate", None) == POSTGRES_LOCK_NOT_AVAILABLE:
                        raise DatabaseBusy("another transaction held a lock this write needed") from error
                    raise
            return
        wait = write_wait()
        await self._acquire(wait)
        try:
            async with self._write_sessions() as session, session.begin():
                await self._begin_immediate(session, wait)
                yield session
        finally:
            self._write_lock.release()

    async def _acquire(self, wait: WriteWait | None) -> None:
        """This process's turn to write (SQLite), within the bound if there is one."""
        assert self._write_lock is not None
        left = wait.seconds_left() if wait is not None else None
        if left is None:
            await self._write_lock.acquire()
            return
        try:
            await asyncio.wait_for(self._write_lock.acquire(), max(left, 0.05))
        except TimeoutError:
            raise DatabaseBusy("the bot's other writes held the database") from None

    @staticmethod
    async def _bound_lock_waits(session: AsyncSession, wait: WriteWait | None) -> None:
        """PostgreSQL: every lock wait of this transaction ends after the time left (lock_timeout)."""
        left = wait.seconds_left() if wait is not None else None
        if left is not None:
            await session.execute(text(f"SET LOCAL lock_timeout = {max(50, int(left * 1000))}"))

    @staticmethod
    async def _begin_immediate(session: AsyncSession, wait: WriteWait | None) -> None:
        """BEGIN IMMEDIATE, waiting for another process's lock at most the time left."""
        left = wait.seconds_left() if wait is not None else None
        options = None if left is None else {"sqlite_busy_ms": int(left * 1000)}
        try:
            await session.connection(execution_options=options)
        except OperationalError as error:
            if is_busy(error):
                raise DatabaseBusy("another program held the database's write lock") from error
            raise

    async def dispose(self) -> None:
        await self.engine.dispose()


def dialect_insert(session: AsyncSession) -> Callable[..., Any]:
    """`insert` of the session's dialect, for `on_conflict_do_nothing` (SQLite and PostgreSQL)."""
    if session.get_bind().dialect.name == "sqlite":
        return sqlite_insert
    from sqlalchemy.dialects.postgresql import insert as postgresql_insert  # loaded with the dialect

    return postgresql_insert
