"""A course in mid-term for the read benchmarks, written straight into a fresh database before the
bot starts: every student known, the lectures before `now` held (closed check-ins, a mix of present,
late, excused and at most one absence per student, whose warning was sent: no DM is due during the
bursts), the paper list with two presenters on each paper and waitlists, and everyone in a project
group of three.

Not a test and not part of the bot: `bench/commands.py` calls `seed`.
"""

from __future__ import annotations

import random
import secrets
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import insert

from bot.calendar import CourseCalendar
from bot.config import Config
from bot.db import Database
from bot.db.migrate import upgrade
from bot.db.models import (
    AbsenceWarning,
    AttendanceRecord,
    AttendanceSession,
    ExcuseRequest,
    Group,
    GroupMember,
    Paper,
    Presenter,
    Student,
    WaitlistEntry,
)

CHUNK = 500  # rows per INSERT (bound parameters stay below SQLite's limit)


async def _insert(db: Database, model: type, rows: list[dict[str, object]]) -> None:
    async with db.write() as session:
        for start in range(0, len(rows), CHUNK):
            await session.execute(insert(model), rows[start : start + CHUNK])


async def seed(database: Path, config: Config, student_ids: list[int], now: datetime) -> dict[str, int]:
    """Migrate the database at `database` and fill it; returns the row counts written."""
    url = f"sqlite+aiosqlite:///{database}"
    await upgrade(url)
    calendar = CourseCalendar(config)
    rng = random.Random(695)
    db = Database(url)
    joined = calendar.lectures[0].starts_at - timedelta(days=7)
    try:
        await _insert(
            db,
            Student,
            [
                {
                    "discord_id": s,
                    "discord_name": f"student{i:05d}",
                    "joined_at": joined,
                    "has_student_role": True,
                }
                for i, s in enumerate(student_ids)
            ],
        )
        lectures = [lecture for lecture in calendar.lectures if lecture.ends_at < now]
        await _insert(
            db,
            AttendanceSession,
            [
                {
                    "lecture_date": lecture.date,
                    "starts_at": lecture.starts_at,
                    "secret": secrets.token_hex(16),
                    "rotate_seconds": 0,
                    "opened_at": lecture.starts_at,
                    "closes_at": lecture.starts_at + timedelta(minutes=10),
                    "closed_at": lecture.starts_at + timedelta(minutes=10),
                }
                for lecture in lectures
            ],
        )
        records, excuses, warnings = [], [], []
        absent: set[int] = set()  # at most one absence each, already warned about: nothing is due
        for number, lecture in enumerate(lectures, start=1):  # session ids are 1, 2, ... in a fresh file
            for s in student_ids:
                roll = rng.random()
                if roll >= 0.95 and s in absent:
                    roll = 0.0  # present instead of a second absence
                if roll < 0.8:
                    status = "present"
                elif roll < 0.9:
                    status = "late"
                elif roll < 0.95:
                    status = "excused"
                else:
                    absent.add(s)
                    warnings.append({"discord_id": s, "absences": 1, "at": lecture.ends_at})
                    continue  # absent: no record
                records.append(
                    {
                        "session_id": number,
                        "discord_id": s,
                        "status": status,
                        "source": "checkin" if status != "excused" else "excuse",
                        "at": lecture.starts_at + timedelta(minutes=2),
                    }
                )
                if status == "excused":
                    excuses.append(
                        {
                            "discord_id": s,
                            "lecture_date": lecture.date,
                            "reason": "ill",
                            "status": "approved",
                            "created_at": lecture.ends_at,
                            "decided_at": lecture.ends_at + timedelta(days=1),
                        }
                    )
        await _insert(db, AttendanceRecord, records)
        await _insert(db, ExcuseRequest, excuses)
        await _insert(db, AbsenceWarning, warnings)

        papers = config.papers
        paper_rows, presenter_rows, waitlist_rows = [], [], []
        weeks = range(papers.first_week, papers.last_week + 1)
        numbers = [(week, n) for n, week in enumerate((w for w in weeks for _ in range(papers.per_week)), 1)]
        for week, number in numbers:
            paper_rows.append(
                {
                    "number": number,
                    "title": f"Paper {number}: a study of something that matters",
                    "authors": "A. Author, B. Author",
                    "url": f"https://example.org/papers/{number}",
                    "week": week,
                    "added_at": joined,
                }
            )
        taken = 0
        for _, number in numbers:
            for _ in range(papers.capacity):
                if taken < len(student_ids):
                    presenter_rows.append(
                        {"paper_number": number, "discord_id": student_ids[taken], "since": joined}
                    )
                    taken += 1
        waiting = student_ids[taken : taken + len(student_ids) // 5]
        for i, s in enumerate(waiting):
            waitlist_rows.append(
                {
                    "paper_number": numbers[i % len(numbers)][1],
                    "discord_id": s,
                    "since": joined + timedelta(seconds=i),
                }
            )
        await _insert(db, Paper, paper_rows)
        await _insert(db, Presenter, presenter_rows)
        await _insert(db, WaitlistEntry, waitlist_rows)

        size = config.groups.max_size
        group_rows, member_rows = [], []
        for g, start in enumerate(range(0, len(student_ids), size), start=1):
            group_rows.append(
                {
                    "name": f"Team {g:04d}",
                    "name_key": f"team {g:04d}",
                    "invite_code": f"G{g:05d}",
                    "title": f"Project {g}",
                    "locked": False,
                    "created_at": joined,
                    "created_by": student_ids[start],
                }
            )
            member_rows += [
                {"group_id": g, "discord_id": s, "joined_at": joined + timedelta(seconds=k)}
                for k, s in enumerate(student_ids[start : start + size])
            ]
        await _insert(db, Group, group_rows)
        await _insert(db, GroupMember, member_rows)
    finally:
        await db.dispose()
    return {
        "lectures held": len(lectures),
        "attendance records": len(records),
        "absences": len(warnings),
        "papers": len(paper_rows),
        "presenters": len(presenter_rows),
        "waitlisted": len(waitlist_rows),
        "groups": len(group_rows),
    }
