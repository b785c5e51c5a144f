"""The demo course the sandbox starts with (unless `--empty`): the sample papers imported, a few
presenters, a project group, a lecture held with check-ins, so that every command shows something.

It is made by typing sandbox lines at the moments they would have happened, with the clock
moving through everything due on the way (reminders are sent, the check-in closes by itself), so
the server's history is the one a real course would have. Nothing of it is printed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from bot.calendar import CourseCalendar
from bot.config import Config

GROUP = "Lottery Tickets"
PRESENTERS = (("dave", 1), ("erin", 1), ("carol", 2), ("bob", 5))  # (student, paper)
CHECKED_IN = ("alice", "bob", "carol", "dave")  # erin misses the lecture


@dataclass(frozen=True)
class Phase:
    at: datetime
    lines: tuple[str, ...]


def sample_papers(config: Config) -> Path | None:
    """`[papers] sample_csv`, relative to the config file's folder; None when unset or missing."""
    if not config.papers.sample_csv:
        return None
    path = Path(config.papers.sample_csv)
    if not path.is_absolute():
        path = (Path(config.source).resolve().parent if config.source else Path.cwd()) / path
    return path if path.is_file() else None


def plan(config: Config, start: datetime) -> list[Phase]:
    """What the demo types, and when: the papers and the group at the first lecture of week 2 (or at
    `start`, if that is earlier), and the last lecture that ended by `start`, with check-ins."""
    calendar = CourseCalendar(config)
    week_two = calendar.lectures_in_week(2)
    setup_at = min(start, week_two[0].starts_at) if week_two else start
    lines: list[str] = []
    papers = sample_papers(config)
    if papers is not None:
        lines.append(f"ta: /ta paper import file:{papers}")
        lines.extend(f"ta: /ta paper assign member:{who} number:{number}" for who, number in PRESENTERS)
    lines += [
        f"carol: /group create name:{GROUP}",
        "dave: /group join code:{code}",
        "carol: /group title text:Finding winning tickets early in training",
    ]
    phases = [Phase(setup_at, tuple(lines))]
    held = [lecture for lecture in calendar.lectures if lecture.ends_at <= start]
    if held:
        lecture = held[-1]
        checkins = tuple(f"{who}: /checkin code:{{code}}" for who in CHECKED_IN)
        phases.append(Phase(lecture.starts_at + timedelta(minutes=2), ("ta: /ta attendance open", *checkins)))
    return sorted(phases, key=lambda phase: phase.at)


def summary(config: Config, phases: list[Phase]) -> str:
    """One line saying what the demo holds."""
    parts = []
    if sample_papers(config) is not None:
        parts.append(f"the sample papers with {len(PRESENTERS)} presenters")
    parts.append(f"group {GROUP}")
    if len(phases) > 1 or any("attendance open" in line for phase in phases for line in phase.lines):
        parts.append("a lecture held")
    return "demo course: " + ", ".join(parts) + " (--empty for none)"
