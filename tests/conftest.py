"""Shared fixtures: the repository's config, a frozen clock, and migrated databases.

Service tests run on SQLite; when COURSEBOT_TEST_POSTGRES is set to a PostgreSQL server URL
(e.g. postgresql+asyncpg://postgres@127.0.0.1:55432/postgres) they run on PostgreSQL too, each
test in a database of its own.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from bot.calendar import CourseCalendar
from bot.clock import Clock
from bot.config import Config, Environment, load_config
from bot.db import Database
from bot.db.migrate import upgrade
from bot.db.models import AuditEntry
from bot.services import Services

ROOT = Path(__file__).resolve().parents[1]
SEOUL = ZoneInfo("Asia/Seoul")
POSTGRES = os.environ.get("COURSEBOT_TEST_POSTGRES", "")
# Without a server the PostgreSQL variants are still collected, and reported as skipped with the
# reason (`pytest -rs`), so a green run never hides that they did not run.
NO_POSTGRES = (
    "PostgreSQL: set COURSEBOT_TEST_POSTGRES=postgresql+asyncpg://postgres@127.0.0.1:55432/postgres "
    "(.ci/postgres start prints it)"
)
BACKENDS = [
    "sqlite",
    pytest.param("postgres", marks=pytest.mark.skipif(not POSTGRES, reason=NO_POSTGRES)),
]


PROCESS_TESTS = "tests/e2e/"


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object:
    """The suite runs on two workers (pyproject's addopts). The tests in tests/e2e/ run the bot and the
    fake Discord as processes and wait on them: they go to one worker, one at a time, while the other
    takes the in-process tests. (xdist's `loadgroup` would do this with a mark, but its group suffix
    does not survive pytest 9's node ids.)"""
    from xdist.scheduler import LoadScopeScheduling

    class ProcessTestsTogether(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return PROCESS_TESTS if nodeid.startswith(PROCESS_TESTS) else nodeid

    return ProcessTestsTogether(config, log)


def seoul(*args: int) -> datetime:
    """An instant in the course timezone: seoul(2025, 3, 10, 11, 0)."""
    return datetime(*args, tzinfo=SEOUL)  # type: ignore[misc]


@pytest.fixture(autouse=True)
def _no_discord_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DISCORD_TOKEN", raising=False)
    monkeypatch.delenv("DATABASE_URL", raising=False)


@pytest.fixture
def config() -> Config:
    return load_config(ROOT / "config.toml", environment=Environment(discord_token=None, database_url=None))


@pytest.fixture
def calendar(config: Config) -> CourseCalendar:
    return CourseCalendar(config)


@pytest.fixture
def clock() -> Clock:
    """Frozen at the first lecture of week 2 (paper list out, sign-up open)."""
    return Clock.frozen(seoul(2025, 3, 10, 11, 0))


async def _postgres_admin(statement: str) -> None:
    """Run one statement on the PostgreSQL server's maintenance database."""
    import asyncpg  # type: ignore[import-not-found]
    from sqlalchemy.engine import make_url

    server = make_url(POSTGRES)
    connection = await asyncpg.connect(
        host=server.host,
        port=server.port,
        user=server.username,
        password=server.password,
        database=server.database,
    )
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


def _postgres_url(name: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(POSTGRES).set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """Migrate once per run: a SQLite file each test copies, and (if configured) a PostgreSQL
    database each test empties, so the suite does not run every migration hundreds of times. The
    migrations themselves are tested from an empty database in tests/test_migrations.py."""
    sqlite_file = tmp_path_factory.mktemp("template") / "course.db"
    asyncio.run(upgrade(f"sqlite+aiosqlite:///{sqlite_file}"))
    templates = {"sqlite": str(sqlite_file)}
    if POSTGRES:
        name = f"coursebot_test_{uuid.uuid4().hex[:8]}"
        asyncio.run(_postgres_admin(f'CREATE DATABASE "{name}"'))
        asyncio.run(upgrade(_postgres_url(name)))
        templates["postgres"] = name
    yield templates
    if POSTGRES:
        asyncio.run(_postgres_admin(f'DROP DATABASE IF EXISTS "{templates["postgres"]}" WITH (FORCE)'))


@pytest.fixture(params=BACKENDS)
async def database_url(
    request: pytest.FixtureRequest, tmp_path: Path, migrated_template: dict[str, str]
) -> AsyncIterator[str]:
    """A migrated, empty database: a SQLite file, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        target = tmp_path / "course.db"
        shutil.copyfile(migrated_template["sqlite"], target)
        yield f"sqlite+aiosqlite:///{target}"
        return
    # One migrated PostgreSQL database for the run, emptied before each test (much faster than a
    # new database per test; the tests that need migrations from nothing are in test_migrations.py).
    url = _postgres_url(migrated_template["postgres"])
    await _empty_postgres(url)
    yield url


async def _empty_postgres(url: str) -> None:
    import asyncpg
    from sqlalchemy.engine import make_url

    from bot.db.models import Base

    target = make_url(url)
    connection = await asyncpg.connect(
        host=target.host,
        port=target.port,
        user=target.username,
        password=target.password,
        database=target.database,
    )
    try:
        tables = ", ".join(f'"{name}"' for name in Base.metadata.tables)
        await connection.execute(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
    finally:
        await connection.close()


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    db = Database(database_url)
    yield db
    await db.dispose()


@pytest.fixture
def services(database: Database, clock: Clock, config: Config, calendar: CourseCalendar) -> Services:
    return Services(database, clock, config, calendar)


async def audit_rows(services: Services, action: str | None = None) -> list[AuditEntry]:
    """The audit log in the order it was written (only `action`'s entries when given)."""
    query = select(AuditEntry).order_by(AuditEntry.id)
    if action is not None:
        query = query.where(AuditEntry.action == action)
    async with services.db.read() as session:
        return list((await session.scalars(query)).all())
