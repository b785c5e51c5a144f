"""The entry point loads the command line with the garbage collector paused, then runs the command
with it on again and the loaded modules frozen out of its sight; a serving bot freezes its heap again
once started (bot/app.py `freeze_heap`)."""

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


HEAP_PROBE = """
import gc, weakref
from bot.app import freeze_heap

class Node:
    pass

def garbage_cycle():
    node = Node()
    node.me = node
    probe = weakref.ref(node)
    del node
    return probe

gc.collect()
frozen_garbage = garbage_cycle()  # frozen before it is collected (as at the end of setup_hook)
freeze_heap(collect=False)
print(frozen_garbage() is not None)
young = garbage_cycle()
freeze_heap()  # the first READY: what is new is collected, the frozen heap is left alone
print(young() is None, frozen_garbage() is not None)
freeze_heap(refreeze=True)  # a new session: everything is collected, then frozen again
print(frozen_garbage() is None, gc.get_freeze_count() > 0)
"""


def test_the_heap_is_frozen_collected_young_at_ready_and_whole_after_a_new_session() -> None:
    done = subprocess.run(
        [sys.executable, "-c", HEAP_PROBE], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert done.stdout.split() == ["True", "True", "True", "True", "True"]
