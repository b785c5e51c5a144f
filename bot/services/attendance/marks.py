"""The staff's marks: setting one student's record of one lecture by hand (which makes the lecture
held). Overridden later only by the student actually checking in."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import select

from bot.db import audit
from bot.db.models import AttendanceRecord
from bot.errors import InvalidInput
from bot.services import Services
from bot.services.attendance.absences import STATUSES
from bot.services.attendance.sessions import ATTENDANCE_LOCK, session_for_day
from bot.services.students import ensure_student


async def mark(
    services: Services,
    *,
    actor_id: int,
    discord_id: int,
    discord_name: str | None,
    joined_at: datetime | None,
    day: date,
    status: str,
) -> str | None:
    """Set a record by hand (this makes the lecture held). Returns the previous status.
    Raises InvalidInput (status), NotFound (no lecture that day) or NotAllowed (future lecture)."""
    if status not in STATUSES:
        raise InvalidInput(f"Status must be one of {', '.join(STATUSES)}.")
    now = services.now()
    async with services.db.write(ATTENDANCE_LOCK) as session:
        row = await session_for_day(services, session, day, create=True)
        assert row is not None
        await ensure_student(
            session, discord_id=discord_id, discord_name=discord_name, joined_at=min(joined_at or now, now)
        )
        record = await session.scalar(
            select(AttendanceRecord).where(
                AttendanceRecord.session_id == row.id, AttendanceRecord.discord_id == discord_id
            )
        )
        previous = record.status if record else None
        if record is None:
            session.add(
                AttendanceRecord(
                    session_id=row.id, discord_id=discord_id, status=status, source="manual", at=now
                )
            )
        else:
            record.status, record.source, record.at = status, "manual", now
        audit(
            session,
            at=now,
            actor_id=actor_id,
            action="attendance.mark",
            target_id=discord_id,
            date=str(day),
            status=status,
            previous=previous,
        )
        return previous
