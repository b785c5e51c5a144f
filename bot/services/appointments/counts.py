"""Appointments counted per student, for the gradebook and `/ta student`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import Appointment
from bot.services import Services


@dataclass(frozen=True)
class AppointmentCounts:
    """One student's appointments: requests made, and how many were accepted (cancelled included)."""

    requested: int = 0
    accepted: int = 0


async def appointment_counts(
    session: AsyncSession, discord_ids: Sequence[int] | None = None
) -> dict[int, AppointmentCounts]:
    """Per student: requests made and how many are accepted (held or ahead; inside the caller's
    read). Raises nothing."""
    query = select(
        Appointment.discord_id,
        func.count(),
        func.sum(case((Appointment.status == "accepted", 1), else_=0)),
    ).group_by(Appointment.discord_id)
    if discord_ids is not None:
        query = query.where(Appointment.discord_id.in_(list(discord_ids)))
    return {
        int(discord_id): AppointmentCounts(int(total), int(accepted or 0))
        for discord_id, total, accepted in (await session.execute(query)).all()
    }


async def counts_of(services: Services, discord_id: int) -> AppointmentCounts:
    """One student's appointment counts (for `/ta student`)."""
    async with services.db.read() as session:
        return (await appointment_counts(session, [discord_id])).get(discord_id, AppointmentCounts())
