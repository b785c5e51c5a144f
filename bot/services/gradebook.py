"""The gradebook: one row per student (everyone with the student role, on the roster, or
registered) with attendance, paper, group and project title, and the syllabus's computed items:

- `attendance_score`, out of `[course.grading] attendance` (the weight):
  weight × (present + late × `[attendance] late_credit` + excused) / held, where held counts the
  lectures whose check-in was opened or marked since the student joined (empty when none was);
- `fails_by_absence`: yes/no by the attendance service's absence rule (`fail_at` absences);
- `talk_peer_score` / `poster_peer_score`: the mean of every criterion of every peer review of the
  student's talk / group poster, 1–5 (empty when there is none);
- `reviews_given`, `questions_asked`: engagement;
- `appointments` (accepted office-hours appointments), `excuse_requests` (not withdrawn) and
  `excuses_with_evidence` (of those, with a document attached).

Scores are exact until the cell, then rounded half up to two decimals ("8.75", "10.00"). The export
is a CSV (`csv`), Canvas's gradebook import (`canvas`) or Moodle's grade import (`moodle`); see
`lms_formats`.
"""

from __future__ import annotations

import io
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Config
from bot.db.models import Group, GroupMember, Paper, Presenter, Review, RosterEntry, Student
from bot.errors import InvalidInput
from bot.services import Services
from bot.services.appointments import appointment_counts
from bot.services.attendance import StudentRecord, excuse_counts, records
from bot.services.csv_out import csv_bytes
from bot.services.lms_formats import Item, LmsFile, canvas_csv, moodle_csv
from bot.services.reviews import reviews_given
from bot.services.talk_day.questions import questions_asked as talk_questions_asked
from bot.services.talks import talk_slots

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
    "email",
    "attendance_score",
    "fails_by_absence",
    "talk_peer_score",
    "poster_peer_score",
    "questions_asked",
    "appointments",
    "excuse_requests",
    "excuses_with_evidence",
)
FORMATS = ("csv", "canvas", "moodle")
PEER_SCALE = 5  # a peer review scores each criterion 1–5
Scores = tuple[int, int, int]  # one review's three criteria


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
        slots = await talk_slots(session, services.calendar)
        given = await reviews_given(session)
        peer = await peer_scores(session)
        met = await appointment_counts(session)
        excused = await excuse_counts(session)
        asked = await questions_asked(session, students, cap=services.config.talks.questions_per_talk)
    paper_of = {discord_id: paper for discord_id, paper in presenters}
    talks_of: dict[int, list[int]] = {}
    for presenter_id, talk in presenters:
        talks_of.setdefault(presenter_id, []).append(talk.number)

    def talk_reviews(discord_id: int | None) -> list[Scores]:  # of every talk the student gives
        numbers = talks_of.get(discord_id, []) if discord_id is not None else []
        return [scores for number in numbers for scores in peer.get(("talk", number), [])]

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
    config = services.config
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
                "talk_date": slots[paper.number].starts_at.strftime("%Y-%m-%d %H:%M") if paper else "",
                "group": group.name if group else "",
                "project_title": group.title if group else "",
                "reviews_given": str(given.get(discord_id, 0)) if discord_id is not None else "0",
                "email": (entry.email if entry else None) or "",
                "attendance_score": _two(attendance_score(config, record)),
                "fails_by_absence": ("yes" if record.failed else "no") if record else "",
                "talk_peer_score": _two(mean(talk_reviews(discord_id))) if paper else "",
                "poster_peer_score": _two(mean(peer.get(("poster", group.id), ()))) if group else "",
                "questions_asked": str(asked.get(discord_id, 0)) if discord_id is not None else "0",
                "appointments": str(met[discord_id].accepted if discord_id in met else 0),
                "excuse_requests": str(excused[discord_id].requested if discord_id in excused else 0),
                "excuses_with_evidence": str(
                    excused[discord_id].with_evidence if discord_id in excused else 0
                ),
            }
        )
    rows.sort(key=lambda r: (r["student_id"] == "", r["student_id"], r["discord_name"].casefold()))
    return rows


def gradebook_csv(rows: Sequence[dict[str, str]]) -> bytes:
    """The gradebook as a CSV (`csv_out`: UTF-8 with a byte-order mark, formulas neutralised)."""
    return csv_bytes(COLUMNS, ([row.get(column, "") for column in COLUMNS] for row in rows))


# ---- the computed items ----------------------------------------------------------------------


def attendance_score(config: Config, record: StudentRecord | None) -> Fraction | None:
    """weight × (present + late × late_credit + excused) / held, exactly; None when no lecture was
    held for the student (or the bot has no record of them). Raises nothing."""
    if record is None or record.held == 0:
        return None
    credit = Fraction(str(config.attendance.late_credit))
    attended = record.present + record.late * credit + record.excused
    return config.course.grading.attendance * attended / record.held


def mean(reviews: Sequence[Scores]) -> Fraction | None:
    """The mean of every criterion of every review (1–5); None when there is no review."""
    if not reviews:
        return None
    return Fraction(sum(sum(scores) for scores in reviews), 3 * len(reviews))


def _two(value: Fraction | None) -> str:
    """Two decimals, half up ("8.75", "10.00"); empty for None."""
    if value is None:
        return ""
    exact = Decimal(value.numerator) / Decimal(value.denominator)
    return str(exact.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


async def peer_scores(session: AsyncSession) -> dict[tuple[str, int], list[Scores]]:
    """Every review's three scores, by (kind, target): ("talk", paper number), ("poster", group id)."""
    rows = await session.execute(
        select(Review.kind, Review.target, Review.score_1, Review.score_2, Review.score_3)
    )
    found: dict[tuple[str, int], list[Scores]] = {}
    for kind, target, *scores in rows.all():
        found.setdefault((kind, target), []).append((scores[0], scores[1], scores[2]))
    return found


async def questions_asked(session: AsyncSession, students: Iterable[int], *, cap: int) -> dict[int, int]:
    """Questions each student asked about the talks (engagement, beside reviews given): the one
    place the gradebook reads the count from, the same count as `/ta reviews` and `/review mine`
    (bot/services/talk_day/questions.py; `cap`: thread messages counted per talk). Raises the
    database's errors."""
    return await talk_questions_asked(session, cap=cap, students=students)


def items(config: Config) -> tuple[Item, ...]:
    """The computed items, in the order the LMS files and the preview show them."""
    return (
        Item("attendance_score", "Attendance", "score", config.course.grading.attendance),
        Item("fails_by_absence", "Fails by absence", "flag"),
        Item("talk_peer_score", "Talk peer score", "score", PEER_SCALE),
        Item("poster_peer_score", "Poster peer score", "score", PEER_SCALE),
        Item("reviews_given", "Reviews given", "count"),
        Item("questions_asked", "Questions asked", "count"),
    )


# ---- the export and its preview --------------------------------------------------------------
@dataclass(frozen=True)
class GradebookExport:
    format: str
    filename: str
    data: bytes
    rows: tuple[dict[str, str], ...]  # every student's gradebook row (the preview's class)
    written: int  # students in the file
    left_out: tuple[str, ...]  # students an LMS could not match, with the reason
    key: str = ""  # Moodle's identifying column


async def export_gradebook(
    services: Services,
    *,
    actor_id: int | None,
    format: str = "csv",
    members: Sequence[GradebookMember] = (),
) -> GradebookExport:
    """The gradebook file in `format` (`csv`, `canvas` or `moodle`), audited. Raises InvalidInput for
    another format."""
    if format not in FORMATS:
        raise InvalidInput(f"`{format[:20]}` is not an export format: use csv, canvas or moodle.")
    rows = await gradebook_rows(services, members)
    if format == "csv":
        made = LmsFile(gradebook_csv(rows), len(rows), ())
    else:
        made = (canvas_csv if format == "canvas" else moodle_csv)(rows, items(services.config))
    stamp = services.now().astimezone(services.config.tz).strftime("%Y%m%d-%H%M")
    kind = "gradebook" if format == "csv" else f"gradebook-{format}"
    await services.record(
        actor_id=actor_id,
        action="gradebook.export",
        format=format,
        rows=made.written,
        left_out=len(made.left_out),
    )
    return GradebookExport(
        format,
        f"{services.config.course.code}-{kind}-{stamp}.csv",
        made.data,
        tuple(rows),
        made.written,
        made.left_out,
        made.key,
    )


@dataclass(frozen=True)
class Spread:
    """The class's distribution of one item."""

    item: Item
    count: int  # students with a value
    low: str
    median: str
    high: str
    flagged: int = 0  # for a yes/no item: how many say yes


def distribution(rows: Sequence[dict[str, str]], config: Config) -> list[Spread]:
    """Min, median and max of each item over the students who have a value (yes count for a flag).
    Raises nothing."""
    spreads = []
    for item in items(config):
        cells = [row.get(item.column, "") for row in rows]
        cells = [cell for cell in cells if cell]
        if item.kind == "flag":
            spreads.append(Spread(item, len(cells), "", "", "", sum(cell == "yes" for cell in cells)))
            continue
        values = sorted(Fraction(cell) for cell in cells)
        if not values:
            spreads.append(Spread(item, 0, "", "", ""))
            continue
        shown = _two if item.kind == "score" else _plain
        spreads.append(
            Spread(item, len(values), shown(values[0]), shown(statistics.median(values)), shown(values[-1]))
        )
    return spreads


def _plain(value: Fraction) -> str:
    """A count as it is ("3"), a median between two counts with its half ("2.5")."""
    return str(value.numerator) if value.denominator == 1 else _two(value).rstrip("0")


def attendance_histogram(rows: Sequence[dict[str, str]], weight: int, title: str) -> bytes:
    """A histogram of the attendance scores (ten bins from 0 to the weight). PNG bytes."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot
    from matplotlib.ticker import MaxNLocator

    scores = [float(row["attendance_score"]) for row in rows if row.get("attendance_score")]
    top = float(weight) or 1.0
    figure, axes = pyplot.subplots(figsize=(6, 3.5), dpi=100)
    axes.hist(scores, bins=10, range=(0.0, top), color="#1565c0", edgecolor="white")
    axes.set_title(title)
    axes.set_xlabel(f"attendance score (out of {weight})")
    axes.set_ylabel("students")
    axes.set_xlim(0.0, top)
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    figure.tight_layout()
    output = io.BytesIO()
    figure.savefig(output, format="png")
    pyplot.close(figure)
    return output.getvalue()
