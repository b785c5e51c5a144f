"""Appointments: the free slots offered by `/appointment request`'s autocomplete, and how a slot is
typed back."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select

from bot.db.models import Appointment
from bot.services import Services
from bot.services.appointments.core import OPEN, appointment_length

SLOTS_SHOWN = 10


async def free_slots(services: Services, *, limit: int = SLOTS_SHOWN) -> list[datetime]:
    """The next starts in the staff's `[appointments] hours` that are ahead, inside the term, and
    overlap no pending, proposed or accepted appointment. Raises nothing."""
    config, calendar = services.config.appointments, services.calendar
    if not config.hours:
        return []
    now, length = services.now(), appointment_length(services)
    async with services.db.read() as session:
        taken = (
            await session.execute(
                select(Appointment.starts_at, Appointment.ends_at).where(
                    Appointment.status.in_(OPEN), Appointment.ends_at > now
                )
            )
        ).all()
    found: list[datetime] = []
    day = max(calendar.local_date(now), calendar.term_start)
    while day <= calendar.term_end and len(found) < limit:
        for window in sorted((w for w in config.hours if w.day == day.strftime("%a")), key=lambda w: w.start):
            start, close = calendar.at(day, window.start), calendar.at(day, window.end)
            while start + length <= close and len(found) < limit:
                end = start + length
                if start > now and not any(s < end and e > start for s, e in taken):
                    found.append(start)
                start = end
        day += timedelta(days=1)
    return found


def slot_value(services: Services, start: datetime) -> str:
    """How a slot is typed back: "2025-03-11 14:00" in the course timezone."""
    return start.astimezone(services.calendar.tz).strftime("%Y-%m-%d %H:%M")
