"""Office hours "by appointment": a student asks for a time, the staff accept, decline or propose
another time, the student answers a proposal, and either side cancels. The student is told every
decision by DM, the staff member who accepted is told what the student does, and an accepted
appointment is reminded to both (`[appointments] remind`, default 1 h before) — all through the
outbox, in the transaction of the change. Every change is audited.

Rules: an appointment is `[appointments] length_minutes` long, in the future and inside the term;
it never overlaps another pending, proposed or accepted one of the same student; a student has at
most `max_pending` waiting for an answer (pending or proposed). A decision is made once: whoever
comes second is told who decided, and when.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db import audit
from bot.db.models import Appointment
from bot.errors import Conflict, InvalidInput, NotFound
from bot.notify.kinds import ReminderKind, ReminderKinds
from bot.notify.outbox import Planned, direct_dm, enqueue, replan, staff_note
from bot.services import Services
from bot.services.reminders import parse_instant
from bot.services.students import ensure_student
from bot.services.text import offset_label, require_visible, stamp

APPOINTMENTS_LOCK = "appointments"
REMINDER_KIND = "appointment_reminder"
REQUEST_KIND = "appointment_request"  # the request's post in ta-log, with the staff's buttons
REQUEST_PREFIX = "appointment-request:"
TOPIC_MAX = 200
NOTE_MAX = 300
WAITING = ("pending", "proposed")  # waiting for an answer (from the staff, or from the student)
OPEN = (*WAITING, "accepted")
SLOTS_SHOWN = 10


@dataclass(frozen=True)
class AppointmentInfo:
    id: int
    discord_id: int
    starts_at: datetime
    ends_at: datetime
    asked_start: datetime
    topic: str
    status: str
    note: str | None
    staff_id: int | None
    decided_at: datetime | None
    cancelled_by: int | None
    staff_message_id: int | None


@dataclass(frozen=True)
class AppointmentCounts:
    """One student's appointments: requests made, and how many were accepted (cancelled included)."""

    requested: int = 0
    accepted: int = 0


def _info(row: Appointment) -> AppointmentInfo:
    return AppointmentInfo(
        row.id,
        row.discord_id,
        row.starts_at,
        row.ends_at,
        row.asked_start,
        row.topic,
        row.status,
        row.note,
        row.staff_id,
        row.decided_at,
        row.cancelled_by,
        row.staff_message_id,
    )


# ---- start-up ----------------------------------------------------------------------------------
def register_kinds(services: Services, kinds: ReminderKinds) -> None:
    """The reminders of accepted appointments, re-planned from the table at start-up, and the
    request's post in ta-log (planned once with the request; its delivery is the cog's)."""
    kinds.register(ReminderKind(REMINDER_KIND, plan=lambda session: _replan_all(services, session)))
    kinds.register(ReminderKind(REQUEST_KIND))


def request_line(services: Services, info: AppointmentInfo) -> str:
    """The first line of a request's post in ta-log: number, student, time asked, length, topic."""
    minutes = services.config.appointments.length_minutes
    return (
        f"📅 Appointment request #{info.id} from <@{info.discord_id}>: {stamp(info.asked_start)}, "
        f"{minutes} min — {info.topic}"
    )


def request_id_of(source_key: str) -> int:
    """The appointment of an `appointment_request` outbox row."""
    return int(source_key.removeprefix(REQUEST_PREFIX))


def reminder_plans(services: Services, row: Appointment) -> list[Planned]:
    """What an appointment wants in the outbox: before an accepted one, a DM to the student and one
    to the staff member who accepted it, at each `[appointments] remind` offset."""
    if row.status != "accepted":
        return []
    place = services.config.appointments.place
    where = f" at {place}" if place else ""
    plans = []
    for offset in services.config.appointments.remind:
        base = f"appointment-remind:{row.id}:{offset_label(offset)}"
        due = row.starts_at - offset
        plans.append(
            Planned(
                f"{base}:student",
                REMINDER_KIND,
                "dm",
                f"⏰ Your appointment with <@{row.staff_id}> is {stamp(row.starts_at)}{where}: {row.topic}",
                due,
                row.starts_at,
                user_id=row.discord_id,
            )
        )
        if row.staff_id is not None:
            plans.append(
                Planned(
                    f"{base}:staff",
                    REMINDER_KIND,
                    "dm",
                    f"⏰ Appointment #{row.id} with <@{row.discord_id}> {stamp(row.starts_at)}{where}: {row.topic}",
                    due,
                    row.starts_at,
                    user_id=row.staff_id,
                )
            )
    return plans


async def _replan(services: Services, session: AsyncSession, row: Appointment) -> None:
    await replan(
        session,
        prefix=f"appointment-remind:{row.id}:",
        desired=reminder_plans(services, row),
        now=services.now(),
    )


async def _replan_all(services: Services, session: AsyncSession) -> None:
    rows = (await session.scalars(select(Appointment).where(Appointment.status == "accepted"))).all()
    desired = [plan for row in rows for plan in reminder_plans(services, row)]
    await replan(session, prefix="appointment-remind:", desired=desired, now=services.now())


# ---- times ---------------------------------------------------------------------------------------
def _length(services: Services) -> timedelta:
    return timedelta(minutes=services.config.appointments.length_minutes)


def check_start(services: Services, text: str) -> datetime:
    """Parse and check a start time: an instant ("2025-03-12 15:00", or ISO 8601 with an offset),
    in the future, and inside the term. Raises InvalidInput."""
    start = parse_instant(services, text)
    calendar = services.calendar
    if start <= services.now():
        raise InvalidInput(f"{stamp(start)} has already passed; pick a time ahead.")
    end = start + _length(services)
    if not calendar.term_start <= calendar.local_date(start) <= calendar.term_end or (
        calendar.local_date(end) > calendar.term_end
    ):
        raise InvalidInput(
            f"{stamp(start)} is outside the term ({calendar.term_start} to {calendar.term_end})."
        )
    return start


async def _overlap(
    session: AsyncSession, discord_id: int, start: datetime, end: datetime, *, other_than: int | None = None
) -> Appointment | None:
    """The student's open appointment overlapping [start, end), if any."""
    query = select(Appointment).where(
        Appointment.discord_id == discord_id,
        Appointment.status.in_(OPEN),
        Appointment.starts_at < end,
        Appointment.ends_at > start,
    )
    if other_than is not None:
        query = query.where(Appointment.id != other_than)
    return await session.scalar(query.order_by(Appointment.starts_at).limit(1))


def _clean(text: str, what: str, limit: int) -> str:
    cleaned = " ".join(text.split())
    if not 1 <= len(cleaned) <= limit:
        raise InvalidInput(f"{what} must be 1–{limit} characters.")
    require_visible(cleaned, what)
    if "@everyone" in cleaned or "@here" in cleaned:
        raise InvalidInput(f"{what} cannot contain @everyone or @here.")
    return cleaned


def _already(row: Appointment) -> Conflict:
    """The answer to a second decision: what happened, by whom, when."""
    who = row.cancelled_by if row.status == "cancelled" else row.staff_id
    by = f" by <@{who}>" if who else ""
    at = f" <t:{int(row.decided_at.timestamp())}:R>" if row.decided_at else ""
    if row.status == "proposed":
        return Conflict(f"Appointment #{row.id} already has another time proposed{by}{at}.")
    return Conflict(f"Appointment #{row.id} was already {row.status}{by}{at}.")


# ---- the student's side ------------------------------------------------------------------------
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
    topic = _clean(topic, "The topic", TOPIC_MAX)
    start = check_start(services, when)
    end = start + _length(services)
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
        clash = await _overlap(session, discord_id, start, end)
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
        info = _info(row)
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
            raise _already(row) if row.status != "pending" else Conflict("Nothing was proposed for it yet.")
        if accept:
            if row.starts_at <= now:
                raise Conflict(f"The proposed time {stamp(row.starts_at)} has passed; ask again.")
            clash = await _overlap(session, discord_id, row.starts_at, row.ends_at, other_than=row.id)
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
        await _replan(services, session, row)
        return _info(row)


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
        return [_info(row) for row in rows.all()]


# ---- the staff's side --------------------------------------------------------------------------
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
            raise _already(row)
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
        await _replan(services, session, row)
        return _info(row)


async def propose(
    services: Services, *, actor_id: int, appointment_id: int, when: str, note: str | None
) -> AppointmentInfo:
    """Offer the student another time for a pending request; the student is told by DM and answers
    in `/appointment list`. Raises InvalidInput (bad time or note), NotFound or Conflict (decided)."""
    start = check_start(services, when)
    cleaned = _clean(note, "The note", NOTE_MAX) if note and note.strip() else None
    now = services.now()
    async with services.db.write(APPOINTMENTS_LOCK) as session:
        row = await session.get(Appointment, appointment_id, with_for_update=True)
        if row is None:
            raise NotFound(f"There is no appointment #{appointment_id}.")
        if row.status != "pending":
            raise _already(row)
        if start == row.starts_at:
            raise InvalidInput("That is the time the student asked for; accept it instead.")
        row.status, row.staff_id, row.decided_at, row.note = "proposed", actor_id, now, cleaned
        row.starts_at, row.ends_at = start, start + _length(services)
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
        return _info(row)


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
        return [_info(r) for r in waiting.all()], [_info(r) for r in ahead.all()]


async def get_appointment(services: Services, appointment_id: int) -> AppointmentInfo:
    """Raises NotFound."""
    async with services.db.read() as session:
        row = await session.get(Appointment, appointment_id)
        if row is None:
            raise NotFound(f"There is no appointment #{appointment_id}.")
        return _info(row)


async def pending_request(services: Services, appointment_id: int) -> AppointmentInfo:
    """A request still waiting for the staff (before opening the proposal form). Raises NotFound,
    or Conflict saying who decided it."""
    async with services.db.read() as session:
        row = await session.get(Appointment, appointment_id)
        if row is None:
            raise NotFound(f"There is no appointment #{appointment_id}.")
        if row.status != "pending":
            raise _already(row)
        return _info(row)


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
        return _info(row)


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
            raise _already(row)
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
        await _replan(services, session, row)
        return _info(row)


# ---- free slots (autocomplete) ---------------------------------------------------------------------
async def free_slots(services: Services, *, limit: int = SLOTS_SHOWN) -> list[datetime]:
    """The next starts in the staff's `[appointments] hours` that are ahead, inside the term, and
    overlap no pending, proposed or accepted appointment. Raises nothing."""
    config, calendar = services.config.appointments, services.calendar
    if not config.hours:
        return []
    now, length = services.now(), _length(services)
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


# ---- counts --------------------------------------------------------------------------------------
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
