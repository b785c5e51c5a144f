"""Loading and validating config.toml, the environment overrides, and `coursebot check`."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr

from bot.__main__ import main
from bot.config import Config, ConfigError, load_config, parse_offsets
from tests.conftest import ROOT

CONFIG_TOML = ROOT / "config.toml"
SECRET = "MTIzNDU2Nzg5.secret-token-value.abcdefghijklmnop"


def broken_copy(tmp_path: Path, *replacements: tuple[str, str]) -> Path:
    """config.toml with each `old` (which must occur exactly once) replaced by `new`."""
    text = CONFIG_TOML.read_text(encoding="utf-8")
    for old, new in replacements:
        assert text.count(old) == 1, f"{old!r} is not unique in config.toml"
        text = text.replace(old, new)
    path = tmp_path / "broken.toml"
    path.write_text(text, encoding="utf-8")
    return path


def without_section(tmp_path: Path, name: str) -> Path:
    text = CONFIG_TOML.read_text(encoding="utf-8")
    stripped = re.sub(rf"(?ms)^\[{re.escape(name)}\]\n.*?(?=^\[)", "", text)
    assert stripped != text
    path = tmp_path / "broken.toml"
    path.write_text(stripped, encoding="utf-8")
    return path


def check(path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str]]:
    code = main(["check", "--config", str(path)])
    return code, capsys.readouterr().out.splitlines()


def test_config_toml_loads(config: Config) -> None:
    assert config.course.code == "EECE695D"
    assert config.course.timezone == "Asia/Seoul"
    assert config.lectures.days == ("Mon", "Wed")
    assert config.lectures.no_class_weeks == (7,)
    assert config.office_hours.place == "Terarosa Coffee"
    assert len(config.schedule.topics) == 16
    assert [d.key for d in config.deadlines][:2] == ["paper_list", "signup"]
    # A relative SQLite path is relative to the config file's folder, not the current directory.
    assert config.database.url == f"sqlite+aiosqlite:///{ROOT / 'data' / 'coursebot.db'}"
    assert config.token is None


def test_database_url_from_the_environment_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql+asyncpg://course@db.example/coursebot")
    assert load_config(CONFIG_TOML).database.url == "postgresql+asyncpg://course@db.example/coursebot"


def test_token_is_a_secret_never_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISCORD_TOKEN", SECRET)
    config = load_config(CONFIG_TOML)
    assert isinstance(config.token, SecretStr)
    assert config.token.get_secret_value() == SECRET
    for shown in (repr(config), str(config), config.model_dump_json(), repr(config.token)):
        assert SECRET not in shown


def test_check_accepts_config_toml(capsys: pytest.CaptureFixture[str]) -> None:
    code, lines = check(CONFIG_TOML, capsys)
    assert code == 0
    assert len(lines) == 1
    assert "OK" in lines[0] and "16 weeks" in lines[0] and "28 lectures" in lines[0]


@pytest.mark.parametrize(
    ("old", "new", "key"),
    [
        ('timezone = "Asia/Seoul"', 'timezone = "Asia/Seul"', "course.timezone"),
        ('days = ["Mon", "Wed"]', 'days = ["Mon", "Wednesday"]', "lectures.days[1]"),
        ('days = ["Mon", "Wed"]', 'days = ["Mon", "Mon"]', "lectures.days"),
        ('due = "W16 Wed 11:00"', 'due = "W17 Wed 11:00"', "deadlines[poster_session].due"),
        ('end = "12:15"', 'end = "10:30"', "lectures.end"),
        ("capacity = 2 ", "capacity = 0 ", "papers.capacity"),
        ('start = "17:00"', 'start = "5pm"', "office_hours.start"),
        ("final = 40", "final = 50", "course.grading"),
        ("max_size = 3", "max_sise = 3", "groups.max_sise"),
        ("first_monday = 2025-03-03", "first_monday = 2025-03-04", "course.first_monday"),
        ('remind = "1d,1h"', 'remind = "1d,1x"', "deadlines[signup].remind"),
    ],
)
def test_check_names_the_broken_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], old: str, new: str, key: str
) -> None:
    code, lines = check(broken_copy(tmp_path, (old, new)), capsys)
    assert code == 1
    *problems, summary = lines
    assert len(problems) == 1, lines
    assert problems[0].startswith(f"{key}:"), problems[0]
    assert summary.endswith("1 problem(s)")


def test_check_reports_a_missing_section(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, lines = check(without_section(tmp_path, "office_hours"), capsys)
    assert code == 1
    assert lines[0] == "office_hours: is required but missing"


def test_check_lists_every_problem_one_line_each(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = broken_copy(
        tmp_path,
        ('timezone = "Asia/Seoul"', 'timezone = "Mars/Olympus"'),
        ("capacity = 2 ", "capacity = 0 "),
        ("max_size = 3", "max_sise = 3"),
    )
    code, lines = check(path, capsys)
    assert code == 1
    assert sorted(line.split(":")[0] for line in lines[:-1]) == [
        "course.timezone",
        "groups.max_sise",
        "papers.capacity",
    ]
    assert lines[-1].endswith("3 problem(s)")


def test_cross_field_problems_are_all_listed(tmp_path: Path) -> None:
    path = broken_copy(
        tmp_path,
        ('end = "12:15"', 'end = "11:00"'),
        ('due = "W16 Wed 11:00"', 'due = "2025-07-01 10:00"'),
        ("fail_at = 3", "fail_at = 2"),
    )
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    keys = [problem.split(":")[0] for problem in raised.value.problems]
    assert keys == ["lectures.end", "attendance.warn_at", "deadlines[poster_session].due"]


def test_check_reports_unreadable_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, lines = check(tmp_path / "nope.toml", capsys)
    assert code == 1 and "no such file" in lines[0]
    bad = tmp_path / "bad.toml"
    bad.write_text("[course\ncode = 1\n", encoding="utf-8")
    code, lines = check(bad, capsys)
    assert code == 1 and "not valid TOML" in lines[0]


def test_a_token_in_the_file_is_refused_without_showing_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "with-token.toml"
    path.write_text(f'token = "{SECRET}"\n' + CONFIG_TOML.read_text(encoding="utf-8"), encoding="utf-8")
    code, lines = check(path, capsys)
    assert code == 1
    assert lines[0].startswith("token:") and "DISCORD_TOKEN" in lines[0]
    assert SECRET not in "\n".join(lines)


# ---- reminder offsets ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "offsets"),
    [
        ("7d,1d,1h,30m", (timedelta(days=7), timedelta(days=1), timedelta(hours=1), timedelta(minutes=30))),
        ("1h, 1h ,60m", (timedelta(hours=1),)),
        ("366d", (timedelta(days=366),)),
        ("8784h,527040m", (timedelta(days=366),)),
        ("007d", (timedelta(days=7),)),
        ("", ()),
    ],
)
def test_offsets_up_to_366_days_parse(text: str, offsets: tuple[timedelta, ...]) -> None:
    assert parse_offsets(text) == offsets


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("367d", "'367d' is more than 366 days, the longest an offset can be"),
        ("8785h", "'8785h' is more than 366 days, the longest an offset can be"),
        ("1d,527041m", "'527041m' is more than 366 days, the longest an offset can be"),
        ("999999d", "'999999d' is more than 366 days, the longest an offset can be"),
        (
            "99999999999999999999d",
            "'99999999999999999999d' is more than 366 days, the longest an offset can be",
        ),
        ("9" * 5000 + "m", "'99999999999999999999…' is more than 366 days, the longest an offset can be"),
        ("000d", "'000d' is zero"),
        ("٣d", "'٣d' is not an offset like 7d, 1h or 30m"),
        ("1w", "'1w' is not an offset like 7d, 1h or 30m"),
    ],
)
def test_absurd_offsets_are_refused_with_a_reason(text: str, reason: str) -> None:
    with pytest.raises(ValueError) as refused:
        parse_offsets(text)
    assert str(refused.value) == reason


@pytest.mark.parametrize(
    ("old", "new", "line"),
    [
        (
            'remind = "1d,1h"',
            'remind = "999999d,1h"',
            "deadlines[signup].remind: '999999d' is more than 366 days, the longest an offset can be",
        ),
        (
            'talk_remind = "2d"',
            'talk_remind = "99999999999999999999d"',
            "reminders.talk_remind: '99999999999999999999d' is more than 366 days, the longest an offset can be",
        ),
        (
            'remind = "1h"',
            'remind = "527041m"',
            "office_hours.remind: '527041m' is more than 366 days, the longest an offset can be",
        ),
    ],
)
def test_check_explains_an_offset_over_366_days_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], old: str, new: str, line: str
) -> None:
    code, lines = check(broken_copy(tmp_path, (old, new)), capsys)
    assert code == 1
    assert lines[:-1] == [line]
