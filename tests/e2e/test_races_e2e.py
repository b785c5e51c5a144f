"""The sign-up and group races end to end: the real `python -m bot run` against the local fake Discord,
many students pressing at once, on SQLite and (when COURSEBOT_TEST_POSTGRES names a server) on
PostgreSQL, each run in a database of its own.

- Sign-up: 40 students `/signup paper number:1` at once on a paper with 2 slots: exactly 2 present it,
  the other 38 are on its waitlist at positions 1 to 38, each position once, as the database has it.
- Group: 30 students `/group join` with one group's code at once: the group ends with exactly its
  maximum (3, its creator included); everyone else is told it is full; nobody is in two groups.
"""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from bot_process import POSTGRES_SERVER, CourseRun, running_course
from fake_discord import FakeMember, InteractionResult

SIGNUP_OPEN = "2025-03-10 10:00"  # week 2: the paper list is out and sign-up is open
SIGNUPS, JOINS = 40, 30
BACKENDS = [
    pytest.param("sqlite"),
    pytest.param(
        "postgres",
        marks=pytest.mark.skipif(
            not POSTGRES_SERVER, reason="COURSEBOT_TEST_POSTGRES is not set (no PostgreSQL server)"
        ),
    ),
]
WAITLISTED = re.compile(r"^Paper 1 is full, so you are on its waitlist at position (\d+)\.")
PRESENTS = re.compile(r"^You present ")
JOINED = re.compile(r"^You joined group Racers: ")
FULL = "Group Racers is full (3 members)."


async def all_at_once(
    run: CourseRun, members: list[FakeMember], name: str, options: dict[str, Any]
) -> list[InteractionResult]:
    """Everyone runs `/name` at the same moment; every one of them must be answered in time."""
    return await asyncio.gather(*(run.slash(member, name, options, timeout=20.0) for member in members))


async def signup_race(run: CourseRun) -> None:
    ta, students = run.server.ta, run.server.students
    added = await run.slash(ta, "ta paper add", {"number": 1, "title": "Deep Compression", "week": 9})
    assert "1" in (added.content or ""), added.content
    racers = students[:SIGNUPS]
    answers = await all_at_once(run, racers, "signup paper", {"number": 1})
    texts = [a.content or "" for a in answers]
    presenters = [m for m, t in zip(racers, texts, strict=True) if PRESENTS.match(t)]
    positions = [int(m.group(1)) for t in texts if (m := WAITLISTED.match(t))]
    assert len(presenters) == 2, texts
    assert sorted(positions) == list(range(1, SIGNUPS - 1)), sorted(positions)  # contiguous, each once
    # the database agrees: two presenters, the waitlist in the order the replies gave
    rows = await run.database.rows("SELECT discord_id FROM presenters WHERE paper_number = 1")
    assert sorted(int(r[0]) for r in rows) == sorted(m.id for m in presenters)
    waitlist = await run.database.rows(
        "SELECT discord_id FROM waitlist WHERE paper_number = 1 ORDER BY since, id"
    )
    replied = {
        m.id: int(w.group(1)) for m, t in zip(racers, texts, strict=True) if (w := WAITLISTED.match(t))
    }
    assert [int(r[0]) for r in waitlist] == sorted(replied, key=replied.__getitem__)
    audits = await run.database.rows(
        "SELECT count(*) FROM audit_log WHERE action IN ('signup.take', 'signup.waitlist')"
    )
    assert audits == [(SIGNUPS,)]  # every slot taken and every waitlist place, audited once


async def group_race(run: CourseRun) -> None:
    students = run.server.students
    creator, racers = students[SIGNUPS], students[SIGNUPS + 1 : SIGNUPS + 1 + JOINS]
    created = await run.slash(creator, "group create", {"name": "Racers"})
    match = re.search(r"invite code `([A-Z0-9]+)`", created.content or "")
    assert match, created.content
    answers = await all_at_once(run, racers, "group join", {"code": match.group(1)})
    texts = [a.content or "" for a in answers]
    joined = [m for m, t in zip(racers, texts, strict=True) if JOINED.match(t)]
    assert len(joined) == 2, texts
    assert Counter(t for t in texts if not JOINED.match(t)) == {FULL: JOINS - 2}
    rows = await run.database.rows(
        "SELECT m.discord_id FROM group_members m JOIN groups g ON g.id = m.group_id WHERE g.name = 'Racers'"
    )
    assert sorted(int(r[0]) for r in rows) == sorted([creator.id] + [m.id for m in joined])
    everyone = await run.database.rows("SELECT discord_id, count(*) FROM group_members GROUP BY discord_id")
    assert {count for _, count in everyone} == {1}


@pytest.mark.parametrize("backend", BACKENDS)
async def test_signup_and_group_races_hold_their_limits_end_to_end(tmp_path: Path, backend: str) -> None:
    async with running_course(tmp_path, students=SIGNUPS + 1 + JOINS, backend=backend) as run:
        assert run.database.backend == backend
        await run.bot.start(SIGNUP_OPEN)
        await signup_race(run)
        await group_race(run)
        await run.bot.stop()
        log = run.bot.log_text()
        assert "Traceback" not in log and " ERROR " not in log, log[-6000:]
