"""`coursebot backup` with the database and the copy in folders whose names mean something in a
URI (`#`, `?`, `%`, spaces) or are not ASCII: the copy holds the source's rows, and no stray file
appears anywhere (a `#` once cut the path short and created an empty database beside the folder).
"""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy.engine import URL

from bot.__main__ import main
from bot.db.backup import BackupError, backup_sqlite, file_uri
from tests.conftest import ROOT

NAMES = ["course #1", "what?", "100%", "two  spaces ", "강의 자료", "a#b?c%41 d é"]


def every_file(root: Path) -> set[Path]:
    """Every file under `root`, but a database's own -wal and -shm (any reader of a WAL database
    may create them)."""
    return {p for p in root.rglob("*") if p.is_file() and not p.name.endswith(("-wal", "-shm"))}


def sqlite_url(path: Path) -> str:
    """The URL of the SQLite file at `path`, escaped as SQLAlchemy reads it back."""
    return URL.create("sqlite+aiosqlite", database=str(path)).render_as_string(hide_password=False)


def roster_names(path: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(file_uri(path, "ro"), uri=True) as connection:
        return connection.execute("SELECT student_id, name FROM roster ORDER BY student_id").fetchall()


def seeded_database(folder: Path, template: str) -> Path:
    """A migrated database in `folder` holding one roster row."""
    folder.mkdir(parents=True, exist_ok=True)
    database = folder / "course.db"
    shutil.copyfile(template, database)
    with sqlite3.connect(database) as connection:
        connection.execute(
            "INSERT INTO roster (student_id, name, imported_at) VALUES ('20250001', '김민준', '2025-03-01')"
        )
    return database


@pytest.mark.parametrize("name", NAMES)
def test_the_copy_holds_the_source_wherever_both_live(
    name: str, tmp_path: Path, migrated_template: dict[str, str]
) -> None:
    source = seeded_database(tmp_path / name / name, migrated_template["sqlite"])
    target = tmp_path / f"backups {name}" / f"copy {name}.db"
    before = every_file(tmp_path)

    summary = backup_sqlite(sqlite_url(source), target)

    assert summary.startswith("backup OK — revision ")
    assert roster_names(target) == [("20250001", "김민준")]
    assert every_file(tmp_path) - before == {target}


@pytest.mark.parametrize("name", NAMES)
def test_coursebot_backup_with_the_config_in_such_a_folder(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The config's relative `data/coursebot.db` resolves inside the folder; the copy goes beside it."""
    folder = tmp_path / name
    folder.mkdir()
    config = folder / "config.toml"
    shutil.copyfile(ROOT / "config.toml", config)
    roster = folder / "roster.csv"
    roster.write_bytes("student_id,name\n20250001,김민준\n".encode())
    assert main(["db", "upgrade", "--config", str(config)]) == 0
    assert main(["import", "roster", str(roster), "--config", str(config)]) == 0
    capsys.readouterr()
    target = folder / f"{name}.db"
    before = every_file(tmp_path)

    assert main(["backup", str(target), "--config", str(config)]) == 0

    assert capsys.readouterr().out.startswith(f"{target}: backup OK — revision ")
    assert roster_names(target) == [("20250001", "김민준")]
    assert every_file(tmp_path) - before == {target}
    assert {path.relative_to(folder) for path in every_file(tmp_path)} == {
        Path("config.toml"),
        Path("roster.csv"),
        Path("data/coursebot.db"),
        Path(target.name),
    }


def test_the_database_beside_a_question_mark_is_not_the_one_copied(
    tmp_path: Path, migrated_template: dict[str, str]
) -> None:
    """`data?/course.db` once opened the file `data` (the rest read as URI parameters)."""
    source = seeded_database(tmp_path / "data?", migrated_template["sqlite"])
    other = tmp_path / "data"
    shutil.copyfile(migrated_template["sqlite"], other)  # another, empty course database
    backup_sqlite(sqlite_url(source), tmp_path / "copy.db")
    assert roster_names(tmp_path / "copy.db") == [("20250001", "김민준")]


def test_a_folder_as_the_target_is_refused_with_a_reason(
    tmp_path: Path, migrated_template: dict[str, str]
) -> None:
    source = seeded_database(tmp_path / "db", migrated_template["sqlite"])
    folder = tmp_path / "backups #1"
    folder.mkdir()
    with pytest.raises(BackupError) as refused:
        backup_sqlite(sqlite_url(source), folder)
    assert str(refused.value) == (
        f"{folder} is a folder: give the backup a file name, e.g. {folder / 'coursebot.db'}."
    )
    assert list(folder.iterdir()) == []


def test_an_unwritable_target_is_one_line_and_leaves_nothing(
    tmp_path: Path, migrated_template: dict[str, str]
) -> None:
    source = seeded_database(tmp_path / "db", migrated_template["sqlite"])
    blocked = tmp_path / "a file, not a folder"
    blocked.write_text("")
    target = blocked / "copy.db"
    with pytest.raises(BackupError) as refused:
        backup_sqlite(sqlite_url(source), target)
    assert str(refused.value).startswith(f"The backup to {target} failed: ")
    assert "\n" not in str(refused.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a file, not a folder", "db"]
