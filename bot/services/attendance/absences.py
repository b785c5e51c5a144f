"""The absence rule and its messages. Absences = lectures held since the student joined (the
earliest join time the bot knows of), minus present, late and excused ones; a lecture whose
check-in is still open does not count yet. `warn_at` counts warn the student by DM; one absence
from `fail_at`, and at it, the staff are told in ta-log.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import AttendanceRecord, AttendanceSession, ExcuseRequest, Student
from bot.notify.kinds import ReminderKind, ReminderKinds
from bot.notify.outbox import Planned, staff_note
from bot.services import Services
from bot.services.cache import batched

STATUSES = ("present", "late", "excused", "absent")
WARNING_KIND = "attendance_warning"


def register_kinds(services: Services, kinds: ReminderKinds) -> None:
    """The warning DM: planned once per student and count by the close of a session; no re-plan."""
    kinds.register(ReminderKind(WARNING_KIND))


@dataclass(frozen=True)
class LectureStatus:
    lecture_date: date
    status: str  # present, late, excused, absent, or "not counted" before the student joined


@dataclass(frozen=True)
class StudentRecord:
    discord_id: int
    held: int  # lectures held since the student joined (or that they attended)
    present: int
    late: int
    excused: int
    absent: int
    fail_at: int
    lectures: tuple[LectureStatus, ...]

    @property
    def absences_left(self) -> int:
        """Absences still possible before reaching the fail line."""
        return max(0, self.fail_at - 1 - self.absent)

    @property
    def failed(self) -> bool:
        return self.absent >= self.fail_at


async def records(
    services: Services, students: Sequence[tuple[int, datetime | None]]
) -> dict[int, StudentRecord]:
    """Each student's record. `students` are (discord id, Discord join time); the join time on file
    wins when the bot knew the student earlier."""
    async with services.db.read() as session:
        return await records_in(services, session, students)


async def record_of(services: Services, discord_id: int, joined_at: datetime | None) -> StudentRecord:
    """One student's record (`/attendance`). Concurrent calls share their queries: those that arrive
    while one runs are read together in the next (`cache.batched`), and each sees every write
    committed before it was called."""
    key = (discord_id, joined_at)
    return await batched(services, "attendance.records", key, lambda keys: _records_of(services, keys))


async def _records_of(
    services: Services, keys: Sequence[tuple[int, datetime | None]]
) -> dict[tuple[int, datetime | None], StudentRecord]:
    # `records` answers once per student: a student asked for with two join times (rare: two
    # payloads that differ) is read once per join time.
    found: dict[tuple[int, datetime | None], StudentRecord] = {}
    rest = list(keys)
    while rest:
        once: dict[int, tuple[int, datetime | None]] = {}
        later = []
        for key in rest:
            if key[0] in once:
                later.append(key)
            else:
                once[key[0]] = key
        by_id = await records(services, list(once.values()))
        found.update({key: by_id[discord_id] for discord_id, key in once.items()})
        rest = later
    return found


async def records_in(
    services: Services, session: AsyncSession, students: Sequence[tuple[int, datetime | None]]
) -> dict[int, StudentRecord]:
    """`records`, inside the caller's transaction."""
    now = services.now()
    held = list(
        (await session.scalars(select(AttendanceSession).order_by(AttendanceSession.lecture_date))).all()
    )
    ids = [s for s, _ in students]
    known = {
        s.discord_id: s.joined_at
        for s in (await session.scalars(select(Student).where(Student.discord_id.in_(ids)))).all()
    }
    marks: dict[tuple[int, int], str] = {}
    rows = await session.execute(
        select(AttendanceRecord.session_id, AttendanceRecord.discord_id, AttendanceRecord.status).where(
            AttendanceRecord.discord_id.in_(ids)
        )
    )
    for session_id, discord_id, status in rows.all():
        marks[(session_id, discord_id)] = status
    excused_days = {
        (e.discord_id, e.lecture_date)
        for e in (
            await session.scalars(
                select(ExcuseRequest).where(
                    ExcuseRequest.status == "approved", ExcuseRequest.discord_id.in_(ids)
                )
            )
        ).all()
    }
    fail_at = services.config.attendance.fail_at
    result = {}
    for discord_id, discord_joined in students:
        # The earliest we know of; never later than now (a clock started with --now may be behind Discord's).
        joined = min([t for t in (known.get(discord_id), discord_joined) if t is not None] + [now])
        counts = dict.fromkeys(STATUSES, 0)
        lectures = []
        for lecture in held:
            marked = marks.get((lecture.id, discord_id))
            if marked is not None:
                status = marked
            else:
                still_open = (
                    lecture.closed_at is None and lecture.closes_at is not None and lecture.closes_at > now
                )
                if lecture.starts_at < joined or still_open:
                    lectures.append(LectureStatus(lecture.lecture_date, "not counted"))
                    continue  # before they joined, or check-in still open
                status = "excused" if (discord_id, lecture.lecture_date) in excused_days else "absent"
            counts[status] += 1
            lectures.append(LectureStatus(lecture.lecture_date, status))
        result[discord_id] = StudentRecord(
            discord_id,
            sum(counts.values()),
            counts["present"],
            counts["late"],
            counts["excused"],
            counts["absent"],
            fail_at,
            tuple(lectures),
        )
    return result


def warning_notice(services: Services, discord_id: int, record: StudentRecord, now: datetime) -> Planned:
    """The warning DM, through the outbox (category `attendance`), once per student and count."""
    fail_at, left = services.config.attendance.fail_at, record.absences_left
    text = (
        f"Attendance notice: you have {record.absent} absence{'s' if record.absent != 1 else ''} in "
        f"{services.config.course.code}. {fail_at} or more absences mean an F; you can miss {left} more "
        f"lecture{'s' if left != 1 else ''}. If an absence had a good reason, use `/excuse`."
    )
    key = f"attendance-warning:{discord_id}:{record.absent}"
    return Planned(key, WARNING_KIND, "dm", text, now, category="attendance", user_id=discord_id)


def fail_line_note(
    services: Services, discord_id: int, record: StudentRecord, now: datetime
) -> Planned | None:
    """The staff's note in ta-log when a student is one absence from the fail line or at (or past)
    it; keyed by student and count of absences, so the outbox says each once."""
    fail_at = services.config.attendance.fail_at
    if record.absent >= fail_at:
        text = f"⛔ <@{discord_id}> has reached the fail line: {record.absent} absences ({fail_at} or more mean an F)."
    elif record.absent == fail_at - 1 and record.absent > 0:
        text = f"⚠️ <@{discord_id}> is one absence from the fail line: {record.absent} absences ({fail_at} mean an F)."
    else:
        return None
    return staff_note(f"attendance-fail-line:{discord_id}:{record.absent}", text, now)
