"""The fake Discord served by hand (`tests/e2e/serve_fake.py`): what it prints and how it reads a line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from serve_fake import parse_line

SCRIPT = Path(__file__).resolve().parent / "serve_fake.py"


def test_a_line_is_a_member_a_command_and_options_whose_values_may_hold_spaces() -> None:
    assert parse_line("alice /register student_id:20250001 name:Alice Kim") == (
        "alice",
        "register",
        {"student_id": "20250001", "name": "Alice Kim"},
    )
    assert parse_line("ta /ta attendance open minutes:5") == ("ta", "ta attendance open", {"minutes": "5"})
    with pytest.raises(ValueError, match="MEMBER /command"):
        parse_line("alice course")


def test_it_prints_the_config_lines_and_a_token_and_stops_at_quit() -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT)],
        input="!roles alice nobody\n!quit\n",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "guild_id = " in out and 'api_base = "http://127.0.0.1:' in out and "DISCORD_TOKEN=" in out
    assert "!! " in out  # an unknown role is one line, not a traceback
    assert "Traceback" not in out + done.stderr
