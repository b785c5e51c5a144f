"""Appointments, the student's side: asking for a time, answering the staff's proposal, listing one's
own."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select

from bot.db import audit
from bot.db.models import Appointment
from bot.errors import Conflict, NotFound
from bot.notify.outbox import Planned, direct_dm, enqueue, staff_note
from bot.services import Services
from bot.services.appointments.core import (
    APPOINTMENTS_LOCK,
    OPEN,
    REQUEST_KIND,
    REQUEST_PREFIX,
    TOPIC_MAX,
    WAITING,
    AppointmentInfo,
    already_decided,
    appointment_info,
    appointment_length,
    check_start,
    clean_text,
    overlapping,
    replan_reminders,
    request_line,
)
from bot.services.students import ensure_student
from bot.services.text import stamp


async def request_appointment(
    services: Services,
    *,
    discord_id: int,
    discord_name: str | None,
    joined_at: datetime | None,
    when: str,
    topic: str,
) -> AppointmentInfo:
    """Ask the staff for an appointment at `when` about `topic`; its post in ta-log (with the staff's
    buttons, added by the cog's delivery) is planned in the outbox with it. Raises InvalidInput (bad time or topic, in the past, outside the term) or
    Conflict (overlaps one of the student's own, or too many waiting)."""
    topic = clean_text(topic, "The topic", TOPIC_MAX)
    start = check_start(services, when)
    end = start + appointment_length(services)
    now = services.now()
    limit = services.config.appointments.max_pending
    async with services.db.write(APPOINTMENTS_LOCK) as session:
        await ensure_student(
            session, discord_id=discord_id, discord_name=discord_name, joined_at=min(joined_at or now, now)
        )
        waiting = await session.scalar(
            select(func.count())
            .select_from(Appointment)
            .where(Appointment.discord_id == discord_id, Appointment.status.in_(WAITING))
        )
        if (waiting or 0) >= limit:
            raise Conflict(
                f"You already have {waiting} request{'s' if waiting != 1 else ''} waiting for an answer "
                f"(at most {limit}); cancel one in `/appointment list` or wait for the staff."
            )
        clash = await overlapping(session, discord_id, start, end)
        if clash is not None:
            raise Conflict(
                f"That overlaps your {clash.status} appointment #{clash.id} at {stamp(clash.starts_at)}."
            )
        row = Appointment(
            discord_id=discord_id,
            starts_at=start,
            ends_at=end,
            asked_start=start,
            topic=topic,
            status="pending",
            created_at=now,
        )
        session.add(row)
        await session.flush()
        audit(
            session,
            at=now,
            actor_id=discord_id,
            action="appointment.request",
            target_id=discord_id,
            appointment=row.id,
            start=start.isoformat(),
        )
        info = appointment_info(row)
        await enqueue(
            session,
            Planned(
                f"{REQUEST_PREFIX}{row.id}",
                REQUEST_KIND,
                "staff",
                request_line(services, info),
                now,
                event_at=row.ends_at,
            ),
        )
        return info


async def answer_proposal(
    services: Services, *, discord_id: int, appointment_id: int, accept: bool
) -> AppointmentInfo:
    """The student accepts or declines the time the staff proposed; the staff member who proposed
    it is told by DM. Raises NotFound (not theirs), Conflict (nothing proposed now, the time has
    passed, or it overlaps another of theirs)."""
    now = services.now()
    async with services.db.write(APPOINTMENTS_LOCK) as session:
        row = await session.get(Appointment, appointment_id, with_for_update=True)
        if row is None or row.discord_id != discord_id:
            raise NotFound("You have no such appointment.")
        if row.status != "proposed":
            raise (
                already_decided(row)
                if row.status != "pending"
                else Conflict("Nothing was proposed for it yet.")
            )
        if accept:
            if row.starts_at <= now:
                raise Conflict(f"The proposed time {stamp(row.starts_at)} has passed; ask again.")
            clash = await overlapping(session, discord_id, row.starts_at, row.ends_at, other_than=row.id)
            if clash is not None:
                raise Conflict(
                    f"The proposed time overlaps your {clash.status} appointment #{clash.id}; cancel that one first."
                )
        row.status, row.decided_at = ("accepted" if accept else "declined"), now
        audit(
            session,
            at=now,
            actor_id=discord_id,
            action="appointment.proposal_accept" if accept else "appointment.proposal_decline",
            target_id=row.staff_id,
            appointment=row.id,
            start=row.starts_at.isoformat(),
        )
        verb = "accepted" if accept else "declined"
        if row.staff_id is not None:
            await enqueue(
                session,
                direct_dm(
                    f"appointment:{row.id}:proposal-{verb}",
                    row.staff_id,
                    f"📅 <@{discord_id}> {verb} the time you proposed for appointment #{row.id}, "
                    f"{stamp(row.starts_at)}: {row.topic}",
                    now,
                ),
            )
        await enqueue(
            session,
            staff_note(
                f"appointment:{row.id}:proposal-{verb}:log",
                f"📅 <@{discord_id}> {verb} the proposed time {stamp(row.starts_at)} (#{row.id}).",
                now,
            ),
        )
        await replan_reminders(services, session, row)
        return appointment_info(row)


async def my_appointments(services: Services, discord_id: int) -> list[AppointmentInfo]:
    """The student's pending, proposed and accepted appointments that are not over, soonest first."""
    async with services.db.read() as session:
        rows = await session.scalars(
            select(Appointment)
            .where(
                Appointment.discord_id == discord_id,
                Appointment.status.in_(OPEN),
                Appointment.ends_at > services.now(),
            )
            .order_by(Appointment.starts_at, Appointment.id)
        )
        return [appointment_info(row) for row in rows.all()]
