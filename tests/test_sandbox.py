"""The command line as a process: `coursebot sandbox --script`, and `coursebot run` without secrets leaking."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.__main__ import main
from bot.calendar import CourseCalendar
from bot.clock import system_now
from bot.config import Config
from tests.conftest import ROOT

CONFIG_TOML = ROOT / "config.toml"
SECRET = "MTIzNDU2Nzg5MDEyMzQ1Njc4.GhIjKl.this-is-the-secret-bot-token"


def coursebot(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if k not in ("DISCORD_TOKEN", "DATABASE_URL")}
    environment.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_sandbox_runs_a_script(tmp_path: Path, config: Config) -> None:
    if CourseCalendar(config).current_week(system_now()) is not None:
        pytest.skip("today is inside the configured term, so the sandbox clock starts today")
    script = tmp_path / "script.txt"
    script.write_text(
        "# a comment line\n"
        "alice: /course\n"
        "alice: /schedule week:9\n"
        "alice: /register student_id:20251234 name:Alice Kim\n",
        encoding="utf-8",
    )
    done = coursebot("sandbox", "--config", str(CONFIG_TOML), "--script", str(script), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert "clock starts at the first lecture of week 2" in lines[0]
    assert "2025-03-10 11:00" in lines[0]
    out = done.stdout
    assert "EECE695D: Efficient ML Systems" in out
    assert "Week 9" in out and "student talks" in out
    assert "Registered: `20251234` · Alice Kim." in out
    assert "[alice · only you]" in out and "[alice · everyone]" not in out
    assert "Traceback" not in done.stderr and "!!" not in out
    assert not (tmp_path / "data").exists()  # the sandbox keeps its database in a temporary folder


def test_sandbox_with_now_starts_there(tmp_path: Path) -> None:
    script = tmp_path / "script.txt"
    script.write_text("!time\n", encoding="utf-8")
    done = coursebot(
        "sandbox",
        "--config",
        str(CONFIG_TOML),
        "--now",
        "2025-04-30 10:55",
        "--script",
        str(script),
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == "clock starts at 2025-04-30 10:55 KST"
    assert "week 9" in done.stdout


def test_sandbox_advance_refuses_bad_steps_in_one_line(tmp_path: Path) -> None:
    script = tmp_path / "script.txt"
    script.write_text("!advance 999999d\n!advance xyz\n!advance 1d,1h\n!advance 1d\n", encoding="utf-8")
    done = coursebot(
        "sandbox",
        "--config",
        str(CONFIG_TOML),
        "--now",
        "2025-04-30 10:55",
        "--script",
        str(script),
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert done.stdout.splitlines()[-8:] == [
        "> !advance 999999d",
        "!! '999999d' is more than 366 days, the longest an offset can be",
        "> !advance xyz",
        "!! 'xyz' is not an offset like 7d, 1h or 30m",
        "> !advance 1d,1h",
        "!! advance by one step, e.g. !advance 1d, !advance 2h or !advance 30m",
        "> !advance 1d",
        "now: Thu 2025-05-01 10:55 KST, week 9",
    ]


def test_run_without_a_token_exits_2_with_one_line(tmp_path: Path) -> None:
    done = coursebot("run", "--config", str(CONFIG_TOML), cwd=tmp_path)
    assert done.returncode == 2
    assert done.stdout == ""
    [line] = done.stderr.splitlines()
    assert "DISCORD_TOKEN" in line


def test_run_with_a_token_and_a_broken_config_never_shows_the_token(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "broken.toml"
    broken.write_text(
        CONFIG_TOML.read_text(encoding="utf-8").replace('timezone = "Asia/Seoul"', 'timezone = "Nowhere"'),
        encoding="utf-8",
    )
    monkeypatch.setenv("DISCORD_TOKEN", SECRET)
    with pytest.raises(SystemExit) as exited:
        main(["run", "--config", str(broken)])
    assert exited.value.code == 1
    captured = capsys.readouterr()
    assert "course.timezone" in captured.err
    assert SECRET not in captured.out + captured.err


def test_run_with_a_token_and_a_bad_now_never_shows_the_token(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DISCORD_TOKEN", SECRET)
    assert main(["run", "--config", str(CONFIG_TOML), "--now", "next tuesday"]) == 2
    captured = capsys.readouterr()
    assert "--now" in captured.err
    assert SECRET not in captured.out + captured.err
