"""Appointments, the staff's side: accepting, declining or proposing another time, the overview and
the reads behind the request's post in ta-log; and cancelling, from either side."""

from __future__ import annotations

from sqlalchemy import case, select

from bot.db import audit
from bot.db.models import Appointment
from bot.errors import Conflict, InvalidInput, NotFound
from bot.notify.outbox import direct_dm, enqueue, staff_note
from bot.services import Services
from bot.services.appointments.core import (
    APPOINTMENTS_LOCK,
    NOTE_MAX,
    OPEN,
    WAITING,
    AppointmentInfo,
    already_decided,
    appointment_info,
    appointment_length,
    check_start,
    clean_text,
    replan_reminders,
)
from bot.services.text import stamp


async def decide(services: Services, *, actor_id: int, appointment_id: int, accept: bool) -> AppointmentInfo:
    """Accept or decline a pending request; the student is told by DM, and an accepted one is
    reminded to the student and to `actor_id`. Raises NotFound, or Conflict (already decided —
    the reason says by whom —, or accepting a time that has passed)."""
    now = services.now()
    async with services.db.write(APPOINTMENTS_LOCK) as session:
        row = await session.get(Appointment, appointment_id, with_for_update=True)
        if row is None:
            raise NotFound(f"There is no appointment #{appointment_id}.")
        if row.status != "pending":
            raise already_decided(row)
        if accept and row.starts_at <= now:
            raise Conflict(f"{stamp(row.starts_at)} has passed; decline it or propose another time.")
        row.status, row.staff_id, row.decided_at = ("accepted" if accept else "declined"), actor_id, now
        audit(
            session,
            at=now,
            actor_id=actor_id,
            action=f"appointment.{row.status}",
            target_id=row.discord_id,
            appointment=row.id,
            start=row.starts_at.isoformat(),
        )
        place = services.config.appointments.place
        if accept:
            where = f" at {place}" if place else ""
            text = (
                f"📅 Your appointment {stamp(row.starts_at)}{where} was accepted by <@{actor_id}>: {row.topic}. "
                "Cancel it in `/appointment list` if you cannot come."
            )
        else:
            text = (
                f"📅 Your appointment request for {stamp(row.starts_at)} ({row.topic}) was declined by "
                f"<@{actor_id}>. Ask for another time with `/appointment request`, or come to the weekly office hours."
            )
        await enqueue(session, direct_dm(f"appointment:{row.id}:decision", row.discord_id, text, now))
        await replan_reminders(services, session, row)
        return appointment_info(row)


async def propose(
    services: Services, *, actor_id: int, appointment_id: int, when: str, note: str | None
) -> AppointmentInfo:
    """Offer the student another time for a pending request; the student is told by DM and answers
    in `/appointment list`. Raises InvalidInput (bad time or note), NotFound or Conflict (decided)."""
    start = check_start(services, when)
    cleaned = clean_text(note, "The note", NOTE_MAX) if note and note.strip() else None
    now = services.now()
    async with services.db.write(APPOINTMENTS_LOCK) as session:
        row = await session.get(Appointment, appointment_id, with_for_update=True)
        if row is None:
            raise NotFound(f"There is no appointment #{appointment_id}.")
        if row.status != "pending":
            raise already_decided(row)
        if start == row.starts_at:
            raise InvalidInput("That is the time the student asked for; accept it instead.")
        row.status, row.staff_id, row.decided_at, row.note = "proposed", actor_id, now, cleaned
        row.starts_at, row.ends_at = start, start + appointment_length(services)
        audit(
            session,
            at=now,
            actor_id=actor_id,
            action="appointment.propose",
            target_id=row.discord_id,
            appointment=row.id,
            asked=row.asked_start.isoformat(),
            start=start.isoformat(),
            note=cleaned,
        )
        said = f" ({cleaned})" if cleaned else ""
        text = (
            f"📅 <@{actor_id}> proposes {stamp(start)} instead of {stamp(row.asked_start)} for your "
            f"appointment ({row.topic}){said}. Accept or decline it in `/appointment list`."
        )
        await enqueue(session, direct_dm(f"appointment:{row.id}:proposal", row.discord_id, text, now))
        return appointment_info(row)


async def staff_overview(services: Services) -> tuple[list[AppointmentInfo], list[AppointmentInfo]]:
    """For `/ta appointments`: requests waiting (pending first, then proposed), and accepted ones not
    over yet, soonest first."""
    now = services.now()
    async with services.db.read() as session:
        waiting = await session.scalars(
            select(Appointment)
            .where(Appointment.status.in_(WAITING), Appointment.ends_at > now)
            .order_by(case((Appointment.status == "pending", 0), else_=1), Appointment.starts_at)
        )
        ahead = await session.scalars(
            select(Appointment)
            .where(Appointment.status == "accepted", Appointment.ends_at > now)
            .order_by(Appointment.starts_at)
        )
        return [appointment_info(r) for r in waiting.all()], [appointment_info(r) for r in ahead.all()]


async def get_appointment(services: Services, appointment_id: int) -> AppointmentInfo:
    """Raises NotFound."""
    async with services.db.read() as session:
        row = await session.get(Appointment, appointment_id)
        if row is None:
            raise NotFound(f"There is no appointment #{appointment_id}.")
        return appointment_info(row)


async def pending_request(services: Services, appointment_id: int) -> AppointmentInfo:
    """A request still waiting for the staff (before opening the proposal form). Raises NotFound,
    or Conflict saying who decided it."""
    async with services.db.read() as session:
        row = await session.get(Appointment, appointment_id)
        if row is None:
            raise NotFound(f"There is no appointment #{appointment_id}.")
        if row.status != "pending":
            raise already_decided(row)
        return appointment_info(row)


async def set_staff_message(
    services: Services, *, appointment_id: int, message_id: int
) -> AppointmentInfo | None:
    """Remember the request's post in ta-log (the post a retry finds is the one recorded: a post
    recorded already is kept). The appointment as it is now; None when it is gone."""
    async with services.db.write(APPOINTMENTS_LOCK) as session:
        row = await session.get(Appointment, appointment_id, with_for_update=True)
        if row is None:
            return None
        if row.staff_message_id is None:
            row.staff_message_id = message_id
        return appointment_info(row)


# ---- either side ---------------------------------------------------------------------------------
async def cancel(
    services: Services, *, actor_id: int, appointment_id: int, as_staff: bool
) -> AppointmentInfo:
    """Cancel a pending, proposed or accepted appointment that is not over: the student cancels
    their own, the staff any. The other side is told by DM (the student, and the staff member who
    accepted or proposed it when that is someone else), ta-log by a note; reminders are dropped.
    Raises NotFound (not the student's own) or Conflict (already decided, declined or over)."""
    now = services.now()
    async with services.db.write(APPOINTMENTS_LOCK) as session:
        row = await session.get(Appointment, appointment_id, with_for_update=True)
        if row is None or (not as_staff and row.discord_id != actor_id):
            raise NotFound(
                "You have no such appointment."
                if not as_staff
                else f"There is no appointment #{appointment_id}."
            )
        if row.status not in OPEN:
            raise already_decided(row)
        if row.ends_at <= now:
            raise Conflict(f"Appointment #{row.id} is over.")
        was = row.status
        row.status, row.cancelled_by, row.decided_at = "cancelled", actor_id, now
        audit(
            session,
            at=now,
            actor_id=actor_id,
            action="appointment.cancel",
            target_id=row.discord_id,
            appointment=row.id,
            was=was,
            by_staff=as_staff,
        )
        what = f"appointment #{row.id} {stamp(row.starts_at)} ({row.topic})"
        told = {row.discord_id, row.staff_id} - {actor_id, None}
        for user_id in sorted(u for u in told if u is not None):
            await enqueue(
                session,
                direct_dm(
                    f"appointment:{row.id}:cancel:{user_id}",
                    user_id,
                    f"📅 <@{actor_id}> cancelled {'your ' if user_id == row.discord_id else ''}{what}.",
                    now,
                ),
            )
        await enqueue(
            session,
            staff_note(f"appointment:{row.id}:cancel:log", f"📅 <@{actor_id}> cancelled {what}.", now),
        )
        await replan_reminders(services, session, row)
        return appointment_info(row)
