"""The staff command line: `coursebot import roster FILE`, `export gradebook [-o FILE]` and
`backup FILE`, on the test database (SQLite, and PostgreSQL when enabled) through DATABASE_URL.

The commands run their own event loop (`asyncio.run`), so async tests call them in a thread.
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.__main__ import main
from bot.db.migrate import upgrade
from bot.db.models import AuditEntry
from bot.services import Services, groups, roster
from bot.services.gradebook import COLUMNS, gradebook_csv, gradebook_rows, items
from bot.services.lms_formats import canvas_csv, moodle_csv
from bot.services.students import register
from tests.conftest import ROOT, seoul
from tests.services.test_roster import BAD_FILES  # the same files, the same problems, now as printed

CONFIG = str(ROOT / "config.toml")
ALICE, BOB = 4001, 4002
NOTE = "(linked when they /register or at the next /ta roster import)"


async def coursebot(*args: str) -> int:
    return await asyncio.to_thread(main, [*args, "--config", CONFIG])


@pytest.fixture
def use_database(database_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("DATABASE_URL", database_url)
    return database_url


async def seed(services: Services) -> None:
    """Alice registered; bob seen by the bot (he created a group) but not registered."""
    await register(
        services,
        discord_id=ALICE,
        discord_name="alice",
        joined_at=seoul(2025, 3, 1, 9, 0),
        student_id="20250001",
        name="Alice Kim",
    )
    await groups.create(services, discord_id=BOB, discord_name="bob", name="Quant Club")


async def audit_count(services: Services) -> int:
    async with services.db.read() as session:
        return await session.scalar(select(func.count()).select_from(AuditEntry)) or 0


async def roster_rows(services: Services) -> list[tuple[str, str, int | None]]:
    return [(e.student_id, e.name, e.discord_id) for e in await roster.roster(services)]


# ---- import roster -----------------------------------------------------------------------------
async def test_import_roster_links_the_members_the_bot_knows(
    services: Services, use_database: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    await seed(services)
    path = tmp_path / "roster.csv"
    path.write_bytes(
        "student_id,name,discord\n20250001,김민준,\n20250002,Bob Lee,bob\n20250003,Cy,999\n20250009,이서연,\n".encode()
    )

    assert await coursebot("import", "roster", str(path)) == 0

    assert capsys.readouterr().out.splitlines() == [
        f"{path}: no member found yet for line 4: 20250003 Cy (999) {NOTE}",
        f"{path}: no member found yet for line 5: 20250009 이서연 {NOTE}",
        f"{path}: 4 students on the roster, 2 linked to known members",
    ]
    assert await roster_rows(services) == [
        ("20250001", "김민준", ALICE),
        ("20250002", "Bob Lee", BOB),
        ("20250003", "Cy", None),
        ("20250009", "이서연", None),
    ]


@pytest.mark.parametrize(("data", "problems"), BAD_FILES)
async def test_a_bad_roster_file_exits_1_and_changes_nothing(
    services: Services,
    use_database: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    data: bytes,
    problems: list[str],
) -> None:
    await seed(services)
    await roster.import_roster(
        services, actor_id=None, data=b"student_id,name\n20250001,Alice Kim\n", members=[]
    )
    before, audited = await roster_rows(services), await audit_count(services)
    path = tmp_path / "roster.csv"
    path.write_bytes(data)

    assert await coursebot("import", "roster", str(path)) == 1

    assert capsys.readouterr().out.splitlines() == [
        *(f"{path}: {problem}" for problem in problems),
        f"{path}: nothing imported ({len(problems)} problem(s))",
    ]
    assert await roster_rows(services) == before
    assert await audit_count(services) == audited


async def test_a_missing_roster_file_is_a_usage_error(
    use_database: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nope.csv"
    assert await coursebot("import", "roster", str(missing)) == 2
    assert capsys.readouterr().err == f"{missing}: No such file or directory\n"


# ---- export gradebook --------------------------------------------------------------------------
async def prepare_export(services: Services) -> bytes:
    await seed(services)
    await roster.import_roster(
        services, actor_id=None, data="student_id,name\n20250001,=1+1\n20250009,이서연\n".encode(), members=[]
    )
    return gradebook_csv(await gradebook_rows(services))


async def test_export_gradebook_to_a_file(
    services: Services, use_database: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    expected = await prepare_export(services)
    output = tmp_path / "out" / "gradebook.csv"
    output.parent.mkdir()

    assert await coursebot("export", "gradebook", "-o", str(output)) == 0

    captured = capsys.readouterr()
    assert (captured.out, captured.err) == ("", f"{output}: 2 students\n")
    data = output.read_bytes()
    assert data == expected
    assert data.startswith(b"\xef\xbb\xbf" + ",".join(COLUMNS).encode() + b"\r\n")
    assert data.decode("utf-8-sig").split("\r\n")[1:] == [  # no lecture held yet: no attendance score
        f"20250001,'=1+1,alice,{ALICE},0,0,0,0,0,2,,,,,,0,,,no,,,0,0,0,0",
        "20250009,이서연,,,,,,,,,,,,,,0,,,,,,0,0,0,0",
        "",
    ]


async def test_export_gradebook_to_standard_output(
    services: Services, use_database: str, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    expected = await prepare_export(services)
    assert await coursebot("export", "gradebook") == 0
    assert capsysbinary.readouterr().out == expected


async def prepare_lms(services: Services) -> None:
    await seed(services)
    data = "student_id,name,email\n20250001,=1+1,alice@example.ac.kr\n20250009,이서연,\n".encode()
    await roster.import_roster(services, actor_id=None, data=data, members=[])


async def test_export_gradebook_for_canvas(
    services: Services, use_database: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    await prepare_lms(services)
    output = tmp_path / "canvas.csv"

    assert await coursebot("export", "gradebook", "--format", "canvas", "-o", str(output)) == 0

    assert capsys.readouterr().err == f"{output}: 2 students\n"
    data = output.read_bytes()
    assert data == canvas_csv(await gradebook_rows(services), items(services.config)).data
    assert data.decode("utf-8-sig").split("\r\n") == [
        "Student,ID,SIS User ID,SIS Login ID,Section,Attendance (10 pts),Fails by absence,"
        "Talk peer score (5 pts),Poster peer score (5 pts),Reviews given,Questions asked",
        "    Points Possible,,,,,10.00,(read only),5.00,5.00,(read only),(read only)",
        "'=1+1,,20250001,alice@example.ac.kr,,,no,,,0,0",
        "이서연,,20250009,,,,,,,0,0",
        "",
    ]
    async with services.db.read() as session:
        entry = await session.scalar(select(AuditEntry).where(AuditEntry.action == "gradebook.export"))
    assert entry is not None and entry.actor_id is None and '"format": "canvas"' in entry.details


async def test_export_gradebook_for_moodle_reports_who_has_no_email(
    services: Services, use_database: str, capfdbinary: pytest.CaptureFixture[bytes]
) -> None:
    await prepare_lms(services)

    assert await coursebot("export", "gradebook", "--format", "moodle") == 0

    captured = capfdbinary.readouterr()
    assert captured.err.decode().splitlines() == [
        "gradebook: left out 20250009 이서연 (no email on the roster)",
        "gradebook: keyed by Email address (map that column to the user's email address)",
    ]
    assert captured.out == moodle_csv(await gradebook_rows(services), items(services.config)).data
    assert captured.out.decode("utf-8-sig").split("\r\n")[1:] == ["alice@example.ac.kr, -,no, -, -,0,0", ""]


async def test_export_gradebook_in_an_unknown_format_is_a_usage_error(
    use_database: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "out.csv"
    with pytest.raises(SystemExit) as exited:
        await coursebot("export", "gradebook", "--format", "xlsx", "-o", str(output))
    assert exited.value.code == 2
    assert "invalid choice: 'xlsx' (choose from 'csv', 'canvas', 'moodle')" in capsys.readouterr().err
    assert not output.exists()


# ---- backup --------------------------------------------------------------------------------------
async def test_backup_makes_a_verified_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'course.db'}"
    await upgrade(url)
    monkeypatch.setenv("DATABASE_URL", url)
    await coursebot("import", "roster", str(write(tmp_path / "r.csv", b"student_id,name\n20250001,Ann\n")))
    capsys.readouterr()
    copy = tmp_path / "backups" / "course-copy.db"

    assert await coursebot("backup", str(copy)) == 0

    out = capsys.readouterr().out
    assert out.startswith(f"{copy}: backup OK — revision ") and out.endswith(" tables, 0 students\n")
    with sqlite3.connect(copy) as connection:
        assert connection.execute("SELECT student_id, name FROM roster").fetchall() == [("20250001", "Ann")]


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_backup_of_postgresql_points_to_pg_dump(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/coursebot")
    assert main(["backup", str(tmp_path / "copy.db"), "--config", CONFIG]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "pg_dump" in captured.err
    assert not (tmp_path / "copy.db").exists()


def test_backup_without_a_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'missing.db'}")
    assert main(["backup", str(tmp_path / "copy.db"), "--config", CONFIG]) == 2
    assert (
        capsys.readouterr().err == f"There is no database at {tmp_path / 'missing.db'}; nothing to back up.\n"
    )
