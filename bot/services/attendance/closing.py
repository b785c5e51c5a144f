"""Closing a check-in session, and what the close sets off, planned in the outbox in the
transaction of the close: the warning DMs, the staff's notes on who is one absence from (or at) the
fail line — each said once per student and count — and the close report in ta-log. A crash right
after a close loses none of them; at start-up a close whose report is missing is planned late.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db import audit
from bot.db.models import AbsenceWarning, AttendanceRecord, AttendanceSession, Notification
from bot.errors import Conflict, NotFound
from bot.notify.outbox import enqueue, staff_note
from bot.services import Services
from bot.services.attendance.absences import fail_line_note, records_in, warning_notice
from bot.services.attendance.sessions import ATTENDANCE_LOCK, SessionInfo, open_row, session_info
from bot.services.students import ensure_student


@dataclass(frozen=True)
class CloseReport:
    session: SessionInfo
    checked_in: int
    warnings: tuple[tuple[int, int], ...]  # (student, absences) newly reaching a warning count
    one_from_fail: tuple[int, ...]  # newly one absence from the fail line (the staff are told once)
    failed: tuple[int, ...]  # newly at or past the fail line, once per count of absences


async def close_session(
    services: Services,
    *,
    actor_id: int | None,
    students: Sequence[tuple[int, datetime | None]] = (),
    session_id: int | None = None,
) -> CloseReport:
    """Close the open session (or `session_id`) and, in the same transaction, plan what follows in
    the outbox: the warnings of `students` (discord id, Discord join time: pass every student, or
    they are not warned until a later close), the staff's fail-line notes and the close report in
    ta-log. Raises Conflict when nothing is open."""
    now = services.now()
    async with services.db.write(ATTENDANCE_LOCK) as session:
        if session_id is not None:
            row = await session.get(AttendanceSession, session_id, with_for_update=True)
            if row is None or row.closed_at is not None or row.opened_at is None:
                raise Conflict("That check-in is already closed.")
        else:
            row = await open_row(session, now)
            if row is None:
                raise Conflict("No check-in is open.")
        row.closed_at = min(now, row.closes_at) if row.closes_at else now
        audit(session, at=now, actor_id=actor_id, action="attendance.close", date=str(row.lecture_date))
        await session.flush()
        return await _plan_after_close(services, session, row, students)


async def warnings_due(
    services: Services, *, session_id: int, students: Sequence[tuple[int, datetime | None]]
) -> CloseReport:
    """Plan again what the close of session `session_id` sets off (see `close_session`); what was
    planned before is not planned twice. Raises NotFound."""
    async with services.db.write(ATTENDANCE_LOCK) as session:
        last = await session.get(AttendanceSession, session_id, with_for_update=True)
        if last is None:
            raise NotFound("That check-in session does not exist.")
        return await _plan_after_close(services, session, last, students)


async def plan_missed_close(
    services: Services, *, students: Sequence[tuple[int, datetime | None]]
) -> CloseReport | None:
    """At start-up: when the last closed session has no close report in the outbox (it was closed by
    a version that planned its warnings after the close, and stopped in between), plan it now.
    Returns None when there is nothing to catch up."""
    async with services.db.write(ATTENDANCE_LOCK) as session:
        last = await session.scalar(
            select(AttendanceSession)
            .where(AttendanceSession.opened_at.is_not(None), AttendanceSession.closed_at.is_not(None))
            .order_by(AttendanceSession.closed_at.desc(), AttendanceSession.id.desc())
            .limit(1)
            .with_for_update()
        )
        if last is None:
            return None
        marker = await session.scalar(
            select(Notification.id).where(Notification.source_key == _close_key(last))
        )
        if marker is not None:
            return None
        return await _plan_after_close(services, session, last, students, late=True)


def _close_key(row: AttendanceSession) -> str:
    """The close report's outbox key: one per close (a session reopened the same day closes again)."""
    assert row.closed_at is not None
    return f"attendance-close:{row.id}:{int(row.closed_at.timestamp())}"


async def _plan_after_close(
    services: Services,
    session: AsyncSession,
    last: AttendanceSession,
    students: Sequence[tuple[int, datetime | None]],
    *,
    late: bool = False,
) -> CloseReport:
    """Inside the transaction of a close: who newly reached a warning count (recorded, so each count
    warns once, and the warning DM planned), the staff's notes on the fail line (once per student and
    count of absences) and the close report, all in the outbox."""
    now = services.now()
    settings = services.config.attendance
    by_student = await records_in(services, session, students)
    sent = {(w.discord_id, w.absences) for w in (await session.scalars(select(AbsenceWarning))).all()}
    warnings = []
    one_from_fail: list[int] = []
    failed: list[int] = []
    for discord_id, record in by_student.items():
        due = [
            count for count in settings.warn_at if record.absent >= count and (discord_id, count) not in sent
        ]
        if due:
            await ensure_student(session, discord_id=discord_id, discord_name=None, joined_at=now)
            for count in due:
                session.add(AbsenceWarning(discord_id=discord_id, absences=count, at=now))
            warnings.append((discord_id, record.absent))
            await enqueue(session, warning_notice(services, discord_id, record, now))
        note = fail_line_note(services, discord_id, record, now)
        if note is not None and await enqueue(session, note):
            (failed if record.failed else one_from_fail).append(discord_id)
    checked_in = len(
        (
            await session.scalars(
                select(AttendanceRecord.id).where(
                    AttendanceRecord.session_id == last.id, AttendanceRecord.source == "checkin"
                )
            )
        ).all()
    )
    if last.closed_at is not None:
        text = f"Check-in for {last.lecture_date:%a %Y-%m-%d} closed: {checked_in} checked in."
        if late:
            text += " (Reported at start-up: the bot stopped before it could report it.)"
        await enqueue(session, staff_note(_close_key(last), text, now))
    return CloseReport(session_info(last), checked_in, tuple(warnings), tuple(one_from_fail), tuple(failed))
