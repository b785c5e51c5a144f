"""Alembic, driven from code: `upgrade` at start-up and by `coursebot db upgrade`, `current` for the CLI.

Alembic is imported only when there is something to migrate: a database already at the newest
revision (every restart) is recognised with one query, which keeps ~0.1 s of imports out of start-up.
That relies on one naming rule, checked by tests/test_migrations.py: a migration's revision is the
four digits its file name starts with, so the newest revision is the highest such prefix.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

from bot.db.engine import create_engine

if TYPE_CHECKING:
    from alembic.config import Config as AlembicConfig

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"
REVISION_FILE = re.compile(r"^(\d{4})_\w*\.py$")


def newest_revision() -> str | None:
    """The newest revision in migrations/versions/, from the file names (see the module's rule)."""
    revisions = [
        match.group(1)
        for path in (MIGRATIONS / "versions").iterdir()
        if (match := REVISION_FILE.match(path.name))
    ]
    return max(revisions, default=None)


def alembic_config(url: str) -> AlembicConfig:
    from alembic.config import Config as AlembicConfig

    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def _upgrade(connection: Connection, url: str) -> None:
    from alembic import command

    config = alembic_config(url)
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


def _current(connection: Connection) -> str | None:
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(connection).get_current_revision()


async def _is_at(engine_url: str, revision: str | None) -> bool:
    """True when the database's alembic_version holds exactly `revision` (False when the table is
    missing: a new database)."""
    if revision is None:
        return False
    engine = create_engine(engine_url)
    try:
        async with engine.connect() as connection:
            try:
                rows = (await connection.execute(text("SELECT version_num FROM alembic_version"))).all()
            except DBAPIError:
                return False
    finally:
        await engine.dispose()
    return [row[0] for row in rows] == [revision]


async def upgrade(url: str) -> None:
    """Apply every pending migration. Runs on its own connection with foreign keys OFF, so a batch
    rebuild of a parent table cannot cascade-delete its children."""
    if await _is_at(url, newest_revision()):
        return
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
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config(url)).get_current_head()
    return revision, head
