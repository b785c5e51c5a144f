"""Migrations build exactly the models' schema (the `alembic check` meta-test), and `coursebot db`."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect
from sqlalchemy.engine import Connection

from bot.__main__ import main
from bot.db.engine import create_engine
from bot.db.migrate import alembic_config, newest_revision, upgrade
from bot.db.models import Base
from tests.conftest import ROOT

HEAD = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def _drift(connection: Connection) -> list[object]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, Base.metadata))


async def test_migrated_schema_matches_the_models(database_url: str) -> None:
    """`database_url` is an empty database upgraded to head by the fixture."""
    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            assert await connection.run_sync(_drift) == []
            tables = await connection.run_sync(lambda c: set(inspect(c).get_table_names()))
            revision = await connection.run_sync(
                lambda c: MigrationContext.configure(c).get_current_revision()
            )
    finally:
        await engine.dispose()
    assert set(Base.metadata.tables) <= tables
    assert revision == HEAD


def test_there_is_one_head() -> None:
    assert len(ScriptDirectory.from_config(alembic_config("sqlite://")).get_heads()) == 1


def test_each_revision_is_its_file_prefix() -> None:
    """The rule `upgrade`'s quick check relies on to know the newest revision without alembic."""
    scripts = list(ScriptDirectory.from_config(alembic_config("sqlite://")).walk_revisions())
    assert scripts
    for script in scripts:
        assert Path(script.path).name.startswith(f"{script.revision}_"), script.path
    assert newest_revision() == HEAD


def test_a_restart_at_head_does_not_load_alembic(tmp_path: Path) -> None:
    """A database at the newest revision is recognised with one query: start-up skips alembic."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'restart.db'}"
    probe = (
        "import asyncio, sys; from bot.db.migrate import upgrade; "
        f"asyncio.run(upgrade({url!r})); print(sorted(m for m in sys.modules if m.startswith('alembic'))[:1])"
    )
    first = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert first.stdout.strip() == "['alembic']"  # a new database: migrated by alembic
    again = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert again.stdout.strip() == "[]"


def test_db_upgrade_then_current(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}")
    config = str(ROOT / "config.toml")
    assert main(["db", "current", "--config", config]) == 0
    assert "(empty)" in capsys.readouterr().out
    assert main(["db", "upgrade", "--config", config]) == 0
    assert capsys.readouterr().out.strip() == f"database at revision {HEAD}"
    assert main(["db", "current", "--config", config]) == 0
    out = capsys.readouterr().out
    assert f"database at revision {HEAD}" in out and "up to date" in out
    assert main(["db", "upgrade", "--config", config]) == 0  # idempotent
    assert capsys.readouterr().out.strip() == f"database at revision {HEAD}"


async def test_rebuilding_a_parent_table_keeps_its_children(tmp_path: Path) -> None:
    """0008 rebuilds `students` (SQLite batch mode); with foreign keys on, ON DELETE CASCADE would
    empty every child table. Migrations run with them off, so the rows survive."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'rebuild.db'}"
    engine = create_engine(url, foreign_keys=False)
    try:
        async with engine.begin() as connection:

            def to_0007(sync_connection: Any) -> None:
                config = alembic_config(url)
                config.attributes["connection"] = sync_connection
                command.upgrade(config, "0007")

            await connection.run_sync(to_0007)
    finally:
        await engine.dispose()
    with sqlite3.connect(tmp_path / "rebuild.db") as db:
        db.execute("INSERT INTO students (discord_id, joined_at) VALUES (1, '2025-03-01 00:00:00')")
        db.execute(
            "INSERT INTO papers (number, title, authors, url, week, added_at) VALUES (1, 't', '', '', 9, '2025-03-01 00:00:00')"
        )
        db.execute(
            "INSERT INTO presenters (paper_number, discord_id, since) VALUES (1, 1, '2025-03-01 00:00:00')"
        )
    await upgrade(url)
    with sqlite3.connect(tmp_path / "rebuild.db") as db:
        assert db.execute("SELECT count(*) FROM presenters").fetchone() == (1,)
        assert db.execute("SELECT has_student_role FROM students").fetchall() == [(0,)]
