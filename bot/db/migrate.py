"""Alembic, driven from code: `upgrade` at start-up and by `coursebot db upgrade`, `current` for the CLI."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

from bot.db.engine import create_engine

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


def alembic_config(url: str) -> AlembicConfig:
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def _upgrade(connection: Connection, url: str) -> None:
    config = alembic_config(url)
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


def _current(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


async def upgrade(url: str) -> None:
    """Apply every pending migration. Runs on its own connection with foreign keys OFF, so a batch
    rebuild of a parent table cannot cascade-delete its children."""
    engine = create_engine(url, foreign_keys=False)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(_upgrade, url)
    finally:
        await engine.dispose()


async def current(url: str) -> tuple[str | None, str | None]:
    """(revision the database is at, newest revision in migrations/)."""
    engine = create_engine(url, foreign_keys=False)
    try:
        async with engine.connect() as connection:
            revision = await connection.run_sync(_current)
    finally:
        await engine.dispose()
    head = ScriptDirectory.from_config(alembic_config(url)).get_current_head()
    return revision, head
