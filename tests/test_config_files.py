"""Configuration that cannot silently point elsewhere: role and channel references as names or ids, a
relative SQLite path relative to the config file (never to the current directory), the token from a
`.env` next to the config (the environment wins), and only the databases the bot supports."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from bot.config import ConfigError, Environment, load_config
from tests.conftest import ROOT
from tests.test_cli_errors import coursebot

CONFIG_TOML = ROOT / "config.toml"
TOKEN = "MTIzNDU2Nzg5.from-the-dotenv-file.abcdefghijklmnop"


def course_folder(tmp_path: Path, *replacements: tuple[str, str]) -> Path:
    """A copy of config.toml in its own folder (`tmp/course #1/config.toml`), with replacements."""
    folder = tmp_path / "course #1"
    folder.mkdir()
    text = CONFIG_TOML.read_text(encoding="utf-8")
    for old, new in replacements:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    (folder / "config.toml").write_text(text, encoding="utf-8")
    return folder / "config.toml"


NO_ENV = Environment(discord_token=None, database_url=None)


@pytest.mark.parametrize(
    ("written", "kept"),
    [('"TA"', "TA"), ("1234567890123", "1234567890123"), ('"1234567890123"', "1234567890123")],
)
def test_role_and_channel_references_are_names_integers_or_digit_strings(
    tmp_path: Path, written: str, kept: str
) -> None:
    path = course_folder(
        tmp_path, ('ta = "TA"', f"ta = {written}"), ('ta_log = "ta-log"', f"ta_log = {written}")
    )
    config = load_config(path, environment=NO_ENV)
    assert config.discord.roles.ta == kept
    assert config.discord.channels.ta_log == kept


@pytest.mark.parametrize("written", ["0", "-5", '""', "true"])
def test_a_reference_that_is_no_name_and_no_id_is_one_line(tmp_path: Path, written: str) -> None:
    path = course_folder(tmp_path, ('student = "Student"', f"student = {written}"))
    with pytest.raises(ConfigError) as raised:
        load_config(path, environment=NO_ENV)
    assert [p.split(":")[0] for p in raised.value.problems] == ["discord.roles.student"]


def test_a_relative_sqlite_path_is_relative_to_the_config_file(tmp_path: Path) -> None:
    path = course_folder(tmp_path)
    config = load_config(path, environment=NO_ENV)
    assert make_url(config.database.url).database == str(path.parent / "data" / "coursebot.db")
    # DATABASE_URL too: a relative path never means the current directory
    env = Environment(discord_token=None, database_url="sqlite+aiosqlite:///other.db")
    assert make_url(load_config(path, environment=env).database.url).database == str(path.parent / "other.db")
    for kept in ("sqlite+aiosqlite:////srv/course/x.db", "postgresql+asyncpg://u:p@db/course"):
        env = Environment(discord_token=None, database_url=kept)
        assert load_config(path, environment=env).database.url == kept


@pytest.mark.parametrize(
    "url", ["mysql+aiomysql://u@db/course", "sqlite:///plain-driver.db", "data/coursebot.db"]
)
def test_only_sqlite_and_postgresql_urls_are_accepted(tmp_path: Path, url: str) -> None:
    path = course_folder(tmp_path, ('url = "sqlite+aiosqlite:///data/coursebot.db"', f'url = "{url}"'))
    with pytest.raises(ConfigError) as raised:
        load_config(path, environment=NO_ENV)
    [problem] = raised.value.problems
    assert problem.startswith("database.url: ") and "postgresql+asyncpg://" in problem


def test_a_process_elsewhere_uses_the_config_files_database(tmp_path: Path) -> None:
    path = course_folder(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    done = coursebot("db", "upgrade", "--config", str(path), cwd=elsewhere)
    assert done.returncode == 0, done.stderr
    database = path.parent / "data" / "coursebot.db"
    assert database.is_file() and not (elsewhere / "data").exists()
    with sqlite3.connect(database) as connection:
        assert connection.execute("SELECT version_num FROM alembic_version").fetchone()


def test_the_token_may_come_from_a_dotenv_next_to_the_config_and_the_environment_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = course_folder(tmp_path)
    (path.parent / ".env").write_text(f"DISCORD_TOKEN={TOKEN}\n", encoding="utf-8")
    monkeypatch.delenv("DISCORD_TOKEN", raising=False)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    config = load_config(path)
    assert config.token is not None and config.token.get_secret_value() == TOKEN
    assert TOKEN not in repr(config)
    monkeypatch.setenv("DISCORD_TOKEN", "from-the-environment")
    config = load_config(path)
    assert config.token is not None and config.token.get_secret_value() == "from-the-environment"
    # a .env elsewhere (the current directory) is not read
    monkeypatch.delenv("DISCORD_TOKEN")
    monkeypatch.chdir(path.parent)
    other = tmp_path / "other"
    other.mkdir()
    (other / "config.toml").write_text(CONFIG_TOML.read_text(encoding="utf-8"), encoding="utf-8")
    assert load_config(other / "config.toml").token is None
