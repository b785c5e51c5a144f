"""The process's entry point: `coursebot` and `python -m bot` start the command line from here.

Loading the command line makes ~100,000 objects that live as long as the process (discord.py,
SQLAlchemy's and pydantic's classes, the models, the config's models). The garbage collector would
walk them again and again while they load and find nothing to free: ~0.1 s of a one-second start-up.
So they load with it paused, are frozen (left out of every later collection; a serving bot freezes
again once it has started, see `freeze_heap` in bot/app.py), and it runs again before the command does.
"""

from __future__ import annotations

import gc
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    """Run one `coursebot` command; its exit code."""
    gc.disable()
    try:
        from bot.__main__ import main as command_line
    finally:
        gc.freeze()
        gc.enable()
    return command_line(argv)
