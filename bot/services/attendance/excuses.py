"""Excuses: a student asks to excuse an absence (the staff are told in ta-log), the staff approve
or deny it (the student is told by DM), and an approval marks the lecture excused unless the
student was there. Both messages go through the outbox in the transaction of the change."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select

from bot.db import audit
from bot.db.models import AttendanceRecord, ExcuseRequest
from bot.errors import Conflict, InvalidInput, NotFound
from bot.notify.outbox import direct_dm, enqueue, staff_note
from bot.services import Services
from bot.services.attendance.sessions import ATTENDANCE_LOCK, session_for_day
from bot.services.students import ensure_student

REASON_MAX = 500


@dataclass(frozen=True)
class ExcuseInfo:
    id: int
    discord_id: int
    lecture_date: date
    reason: str
    status: str
    created_at: datetime


def _excuse(row: ExcuseRequest) -> ExcuseInfo:
    return ExcuseInfo(row.id, row.discord_id, row.lecture_date, row.reason, row.status, row.created_at)


async def request_excuse(
    services: Services,
    *,
    discord_id: int,
    discord_name: str | None,
    joined_at: datetime | None,
    day: date,
    reason: str,
) -> ExcuseInfo:
    """Ask to excuse an absence on a lecture date (the staff are told in ta-log, through the outbox).
    Raises InvalidInput, NotFound (no lecture) or Conflict (already requested, or you were there)."""
    reason = " ".join(reason.split())
    if not 1 <= len(reason) <= REASON_MAX:
        raise InvalidInput(f"The reason must be 1–{REASON_MAX} characters.")
    now = services.now()
    async with services.db.write(ATTENDANCE_LOCK) as session:
        held = await session_for_day(services, session, day, create=False)
        if held is None and services.calendar.lecture_on(day) is None:
            raise NotFound(f"There is no lecture on {day:%a %Y-%m-%d}.")
        await ensure_student(
            session, discord_id=discord_id, discord_name=discord_name, joined_at=min(joined_at or now, now)
        )
        if held is not None:
            record = await session.scalar(
                select(AttendanceRecord).where(
                    AttendanceRecord.session_id == held.id, AttendanceRecord.discord_id == discord_id
                )
            )
            if record is not None and record.status in ("present", "late", "excused"):
                raise Conflict(f"You are already recorded as {record.status} on {day:%Y-%m-%d}.")
        duplicate = await session.scalar(
            select(ExcuseRequest).where(
                ExcuseRequest.discord_id == discord_id,
                ExcuseRequest.lecture_date == day,
                ExcuseRequest.status.in_(("pending", "approved")),
            )
        )
        if duplicate is not None:
            raise Conflict(f"You already asked to excuse {day:%Y-%m-%d} (it is {duplicate.status}).")
        row = ExcuseRequest(
            discord_id=discord_id, lecture_date=day, reason=reason, status="pending", created_at=now
        )
        session.add(row)
        await session.flush()
        audit(
            session,
            at=now,
            actor_id=discord_id,
            action="excuse.request",
            target_id=discord_id,
            date=str(day),
            excuse=row.id,
        )
        await enqueue(
            session,
            staff_note(
                f"excuse-request:{row.id}",
                f"📝 <@{discord_id}> asks to excuse {day} (#{row.id}); `/ta excuse review`",
                now,
            ),
        )
        return _excuse(row)


async def pending_excuses(services: Services) -> list[ExcuseInfo]:
    async with services.db.read() as session:
        rows = await session.scalars(
            select(ExcuseRequest).where(ExcuseRequest.status == "pending").order_by(ExcuseRequest.id)
        )
        return [_excuse(r) for r in rows.all()]


async def decide_excuse(services: Services, *, actor_id: int, excuse_id: int, approve: bool) -> ExcuseInfo:
    """Approve or deny a pending request; approval marks the lecture excused (unless the student
    was there). The student is told by DM through the outbox. Raises NotFound or Conflict (already
    decided)."""
    now = services.now()
    async with services.db.write(ATTENDANCE_LOCK) as session:
        row = await session.get(ExcuseRequest, excuse_id, with_for_update=True)
        if row is None:
            raise NotFound("That excuse request does not exist.")
        if row.status != "pending":
            raise Conflict(f"That request was already {row.status}.")
        row.status, row.decided_by, row.decided_at = ("approved" if approve else "denied"), actor_id, now
        if approve:
            held = await session_for_day(services, session, row.lecture_date, create=False)
            if held is not None:
                record = await session.scalar(
                    select(AttendanceRecord).where(
                        AttendanceRecord.session_id == held.id, AttendanceRecord.discord_id == row.discord_id
                    )
                )
                if record is None:
                    session.add(
                        AttendanceRecord(
                            session_id=held.id,
                            discord_id=row.discord_id,
                            status="excused",
                            source="excuse",
                            at=now,
                        )
                    )
                elif record.status == "absent":
                    record.status, record.source, record.at = "excused", "excuse", now
        audit(
            session,
            at=now,
            actor_id=actor_id,
            action=f"excuse.{row.status}",
            target_id=row.discord_id,
            date=str(row.lecture_date),
            excuse=row.id,
        )
        text = (
            f"Your excuse request for the lecture of {row.lecture_date:%a %Y-%m-%d} was {row.status} "
            "by the staff."
        )
        await enqueue(session, direct_dm(f"excuse-decision:{row.id}", row.discord_id, text, now))
        return _excuse(row)
