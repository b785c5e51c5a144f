"""The gradebook: one row per student (everyone with the student role, on the roster, or
registered) with attendance, paper, group and project title, as a CSV spreadsheets open correctly."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from bot.db.models import Group, GroupMember, Paper, Presenter, RosterEntry, Student
from bot.services import Services
from bot.services.attendance import records
from bot.services.csv_out import csv_bytes
from bot.services.reviews import reviews_given

COLUMNS = (
    "student_id",
    "name",
    "discord_name",
    "discord_id",
    "lectures_held",
    "present",
    "late",
    "excused",
    "absent",
    "absences_left",
    "paper_number",
    "paper_title",
    "talk_date",
    "group",
    "project_title",
    "reviews_given",
)


@dataclass(frozen=True)
class GradebookMember:
    """A member with the student role, as Discord knows them."""

    discord_id: int
    discord_name: str
    joined_at: datetime | None


async def gradebook_rows(services: Services, members: Sequence[GradebookMember] = ()) -> list[dict[str, str]]:
    """Every student's row, ordered by student id (unregistered members last, by Discord name)."""
    async with services.db.read() as session:
        students = {s.discord_id: s for s in (await session.scalars(select(Student))).all()}
        roster = list((await session.scalars(select(RosterEntry))).all())
        presenters = (
            await session.execute(
                select(Presenter.discord_id, Paper).join(Paper, Paper.number == Presenter.paper_number)
            )
        ).all()
        memberships = (
            await session.execute(
                select(GroupMember.discord_id, Group).join(Group, Group.id == GroupMember.group_id)
            )
        ).all()
        weeks = (
            await session.execute(select(Paper.number, Paper.week).order_by(Paper.week, Paper.number))
        ).all()
        given = await reviews_given(session)
    order: dict[int, int] = {}
    counters: dict[int, int] = {}
    for number, week in weeks:
        order[number], counters[week] = counters.get(week, 0), counters.get(week, 0) + 1
    paper_of = {discord_id: paper for discord_id, paper in presenters}
    group_of = {discord_id: group for discord_id, group in memberships}
    by_member = {m.discord_id: m for m in members}
    roster_by_member = {e.discord_id: e for e in roster if e.discord_id is not None}
    people: list[tuple[int | None, RosterEntry | None]] = []
    ids = (
        set(by_member)
        | {s.discord_id for s in students.values() if s.student_id or s.has_student_role}
        | set(roster_by_member)
    )
    people += [(discord_id, roster_by_member.get(discord_id)) for discord_id in ids]
    people += [(None, e) for e in roster if e.discord_id is None]
    attendance = await records(
        services,
        [(d, by_member[d].joined_at if d in by_member else None) for d, _ in people if d is not None],
    )
    calendar = services.calendar
    rows = []
    for discord_id, entry in people:
        student = students.get(discord_id) if discord_id is not None else None
        member = by_member.get(discord_id) if discord_id is not None else None
        record = attendance.get(discord_id) if discord_id is not None else None
        paper = paper_of.get(discord_id) if discord_id is not None else None
        group = group_of.get(discord_id) if discord_id is not None else None
        rows.append(
            {
                "student_id": (entry.student_id if entry else None)
                or (student.student_id if student else None)
                or "",
                "name": (entry.name if entry else None) or (student.name if student else None) or "",
                "discord_name": (member.discord_name if member else None)
                or (student.discord_name if student else None)
                or "",
                "discord_id": str(discord_id) if discord_id is not None else "",
                "lectures_held": str(record.held) if record else "",
                "present": str(record.present) if record else "",
                "late": str(record.late) if record else "",
                "excused": str(record.excused) if record else "",
                "absent": str(record.absent) if record else "",
                "absences_left": str(record.absences_left) if record else "",
                "paper_number": str(paper.number) if paper else "",
                "paper_title": paper.title if paper else "",
                "talk_date": calendar.talk_starts_at(paper.week, order.get(paper.number, 0)).strftime(
                    "%Y-%m-%d %H:%M"
                )
                if paper
                else "",
                "group": group.name if group else "",
                "project_title": group.title if group else "",
                "reviews_given": str(given.get(discord_id, 0)) if discord_id is not None else "0",
            }
        )
    rows.sort(key=lambda r: (r["student_id"] == "", r["student_id"], r["discord_name"].casefold()))
    return rows


def gradebook_csv(rows: Sequence[dict[str, str]]) -> bytes:
    """The gradebook as a CSV (`csv_out`: UTF-8 with a byte-order mark, formulas neutralised)."""
    return csv_bytes(COLUMNS, ([row.get(column, "") for column in COLUMNS] for row in rows))
