"""Shared fixtures: the repository's config, a frozen clock, and migrated databases.

Service tests run on SQLite; when COURSEBOT_TEST_POSTGRES is set to a PostgreSQL server URL
(e.g. postgresql+asyncpg://postgres@127.0.0.1:55432/postgres) they run on PostgreSQL too, each
test in a database of its own.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.calendar import CourseCalendar
from bot.clock import Clock
from bot.config import Config, Environment, load_config
from bot.db import Database
from bot.db.migrate import upgrade
from bot.services import Services

ROOT = Path(__file__).resolve().parents[1]
SEOUL = ZoneInfo("Asia/Seoul")
POSTGRES = os.environ.get("COURSEBOT_TEST_POSTGRES", "")
BACKENDS = ["sqlite", "postgres"] if POSTGRES else ["sqlite"]


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


async def _postgres_database() -> tuple[str, str]:
    import asyncpg  # type: ignore[import-not-found]
    from sqlalchemy.engine import make_url

    server = make_url(POSTGRES)
    name = f"coursebot_test_{uuid.uuid4().hex[:12]}"
    connection = await asyncpg.connect(
        host=server.host,
        port=server.port,
        user=server.username,
        password=server.password,
        database=server.database,
    )
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    return server.set(database=name).render_as_string(hide_password=False), name


async def _drop_postgres_database(name: str) -> None:
    import asyncpg
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
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await connection.close()


@pytest.fixture(params=BACKENDS)
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A migrated, empty database: a SQLite file, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'course.db'}"
        await upgrade(url)
        yield url
        return
    url, name = await _postgres_database()
    await upgrade(url)
    yield url
    await _drop_postgres_database(name)


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    db = Database(database_url)
    yield db
    await db.dispose()


@pytest.fixture
def services(database: Database, clock: Clock, config: Config, calendar: CourseCalendar) -> Services:
    return Services(database, clock, config, calendar)
