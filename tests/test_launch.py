"""The entry point loads the command line with the garbage collector paused, then runs the command
with it on again and the loaded modules frozen out of its sight."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import ROOT

PROBE = """
import gc
import bot.__main__ as cli
seen = []
cli.main = lambda argv=None: seen.append((gc.isenabled(), gc.get_freeze_count())) or 7
import bot.launch
code = bot.launch.main([])
enabled, frozen = seen[0]
print(code, enabled, frozen > 10_000)
"""


def test_the_command_runs_with_the_collector_on_and_the_loaded_modules_frozen() -> None:
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True, cwd=ROOT)
    assert done.stdout.split() == ["7", "True", "True"]


def test_python_dash_m_bot_goes_through_the_same_entry_point() -> None:
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "bot", "--version"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert done.returncode == 0 and done.stdout.startswith("coursebot "), done.stderr
    loaded = [line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines()]
    assert loaded.index("bot.launch") < loaded.index("bot.config")  # the CLI loads after the pause
