"""`coursebot export calendar [-o FILE]`: the whole course as one iCalendar file, the same the bot
serves, to a file or standard output; a bad target or a gradebook option is one line and exit 2."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from icalendar import Calendar

from bot.__main__ import main
from bot.services import Services, ical
from tests.conftest import ROOT

CONFIG = str(ROOT / "config.toml")


async def coursebot(*args: str) -> int:
    return await asyncio.to_thread(main, [*args, "--config", CONFIG])


@pytest.fixture
def use_database(database_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("DATABASE_URL", database_url)
    return database_url


async def test_export_calendar_to_a_file_and_to_standard_output(
    services: Services, use_database: str, tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    output = tmp_path / "course.ics"
    assert await coursebot("export", "calendar", "-o", str(output)) == 0
    made = await ical.course_calendar(services)
    captured = capsysbinary.readouterr()
    assert captured.err.decode() == f"{output}: {made.events} events\n"
    assert output.read_bytes() == made.body  # the same versions: the same file
    events = Calendar.from_ical(output.read_bytes()).walk("VEVENT")
    assert len(events) == made.events > 40
    assert await coursebot("export", "calendar") == 0
    assert capsysbinary.readouterr().out == made.body


@pytest.mark.parametrize(
    "args, reason",
    [
        (["-o", "{tmp}"], "is a folder; give a file name, e.g. {tmp}/course.ics"),
        (["-o", "{tmp}/missing/course.ics"], "the folder {tmp}/missing does not exist"),
        (
            ["--format", "canvas"],
            "--format is for the gradebook; the calendar is always an iCalendar (.ics) file",
        ),
    ],
)
async def test_a_bad_export_is_one_line(
    use_database: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], reason: str
) -> None:
    filled = [arg.replace("{tmp}", str(tmp_path)) for arg in args]
    assert await coursebot("export", "calendar", *filled) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and reason.replace("{tmp}", str(tmp_path)) in err
