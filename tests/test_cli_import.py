"""`coursebot import papers FILE`: the same import as `/ta paper import`, from the command line.

The command runs its own event loop (`asyncio.run`), so async tests call it in a thread.
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from bot.__main__ import main
from bot.services import Services, papers
from tests.conftest import ROOT

CONFIG = ROOT / "config.toml"
SAMPLE = ROOT / "data" / "papers.sample.csv"

BAD_CSV = """number,title,authors,url,week
1,Fine,,,9
two,Not a number,,,9
3,,,,9
4,Week out of range,,,30
1,Duplicate of line 2,,,10
"""


def temporary_config(tmp_path: Path) -> Path:
    """A copy of the course config whose database is a file in tmp_path."""
    text = CONFIG.read_text(encoding="utf-8")
    original = 'url = "sqlite+aiosqlite:///data/coursebot.db"'
    assert original in text
    path = tmp_path / "config.toml"
    path.write_text(
        text.replace(original, f'url = "sqlite+aiosqlite:///{tmp_path / "course.db"}"'), encoding="utf-8"
    )
    return path


def paper_count(database: Path) -> int:
    with sqlite3.connect(database) as connection:
        return connection.execute("SELECT count(*) FROM papers").fetchone()[0]


def test_import_with_a_config_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = temporary_config(tmp_path)
    assert main(["import", "papers", str(SAMPLE), "--config", str(config)]) == 0
    assert capsys.readouterr().out == f"{SAMPLE}: 21 papers added, 0 updated\n"
    assert paper_count(tmp_path / "course.db") == 21

    assert main(["import", "papers", str(SAMPLE), "--config", str(config)]) == 0
    assert capsys.readouterr().out == f"{SAMPLE}: 0 papers added, 21 updated\n"


def test_a_bad_file_exits_1_prints_every_line_and_imports_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = temporary_config(tmp_path)
    bad = tmp_path / "bad.csv"
    bad.write_text(BAD_CSV, encoding="utf-8")
    assert main(["import", "papers", str(bad), "--config", str(config)]) == 1
    assert capsys.readouterr().out.splitlines() == [
        f"{bad}: line 3: number `two` is not a whole number",
        f"{bad}: line 4: A title must be 1–300 characters.",
        f"{bad}: line 5: Week must be between 9 and 15 (the talk weeks).",
        f"{bad}: line 6: paper 1 is already on line 2",
        f"{bad}: nothing imported (4 problem(s))",
    ]
    assert paper_count(tmp_path / "course.db") == 0


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"", "line 1: the file is empty"),
        (b"\xff\xfen\x00u\x00m\x00", "line 1: the file is not UTF-8 text"),
        (b"title,number\nx,1\n", "line 1: the header must be number,title,authors,url,week"),
    ],
    ids=["empty", "not UTF-8", "wrong header"],
)
def test_unusable_files_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], data: bytes, problem: str
) -> None:
    config = temporary_config(tmp_path)
    path = tmp_path / "papers.csv"
    path.write_bytes(data)
    assert main(["import", "papers", str(path), "--config", str(config)]) == 1
    first, last = capsys.readouterr().out.splitlines()
    assert first.startswith(f"{path}: {problem}")
    assert last == f"{path}: nothing imported (1 problem(s))"


def test_a_missing_file_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = temporary_config(tmp_path)
    missing = tmp_path / "nope.csv"
    assert main(["import", "papers", str(missing), "--config", str(config)]) == 2
    assert capsys.readouterr().err == f"{missing}: No such file or directory\n"
    assert not (tmp_path / "course.db").exists()


async def test_database_url_overrides_the_config_on_every_backend(
    services: Services, database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """DATABASE_URL points the command at the test database (SQLite, and PostgreSQL when enabled);
    the bot's own services then see the papers."""
    monkeypatch.setenv("DATABASE_URL", database_url)
    code = await asyncio.to_thread(main, ["import", "papers", str(SAMPLE), "--config", str(CONFIG)])
    assert code == 0
    assert capsys.readouterr().out == f"{SAMPLE}: 21 papers added, 0 updated\n"
    board = await papers.board(services)
    assert len(board) == 21 and board[0].title == "Deduplicating Training Data Makes Language Models Better"
