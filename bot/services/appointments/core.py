"""Appointments: the names and results every module shares, the rules on a time and on text people
type, the answer to a second decision, and the outbox rows (the reminders of an accepted appointment,
re-planned on every change and at start-up; the request's post in ta-log)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import Appointment
from bot.errors import Conflict, InvalidInput
from bot.notify.kinds import ReminderKind, ReminderKinds
from bot.notify.outbox import Planned, replan
from bot.services import Services
from bot.services.reminders import parse_instant
from bot.services.text import offset_label, require_visible, stamp

APPOINTMENTS_LOCK = "appointments"
REMINDER_KIND = "appointment_reminder"
REQUEST_KIND = "appointment_request"  # the request's post in ta-log, with the staff's buttons
REQUEST_PREFIX = "appointment-request:"
TOPIC_MAX = 200
NOTE_MAX = 300
WAITING = ("pending", "proposed")  # waiting for an answer (from the staff, or from the student)
OPEN = (*WAITING, "accepted")


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


def appointment_info(row: Appointment) -> AppointmentInfo:
    """The result every function returns, from the row."""
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


async def replan_reminders(services: Services, session: AsyncSession, row: Appointment) -> None:
    """Make the appointment's pending reminder rows match what it wants now (none unless accepted)."""
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
def appointment_length(services: Services) -> timedelta:
    """`[appointments] length_minutes`."""
    return timedelta(minutes=services.config.appointments.length_minutes)


def check_start(services: Services, text: str) -> datetime:
    """Parse and check a start time: an instant ("2025-03-12 15:00", or ISO 8601 with an offset),
    in the future, and inside the term. Raises InvalidInput."""
    start = parse_instant(services, text)
    calendar = services.calendar
    if start <= services.now():
        raise InvalidInput(f"{stamp(start)} has already passed; pick a time ahead.")
    end = start + appointment_length(services)
    if not calendar.term_start <= calendar.local_date(start) <= calendar.term_end or (
        calendar.local_date(end) > calendar.term_end
    ):
        raise InvalidInput(
            f"{stamp(start)} is outside the term ({calendar.term_start} to {calendar.term_end})."
        )
    return start


async def overlapping(
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


def clean_text(text: str, what: str, limit: int) -> str:
    """A topic or note with its whitespace collapsed: 1 to `limit` characters, something visible, no
    @everyone or @here. Raises InvalidInput (naming `what`)."""
    cleaned = " ".join(text.split())
    if not 1 <= len(cleaned) <= limit:
        raise InvalidInput(f"{what} must be 1–{limit} characters.")
    require_visible(cleaned, what)
    if "@everyone" in cleaned or "@here" in cleaned:
        raise InvalidInput(f"{what} cannot contain @everyone or @here.")
    return cleaned


def already_decided(row: Appointment) -> Conflict:
    """The answer to a second decision: what happened, by whom, when."""
    who = row.cancelled_by if row.status == "cancelled" else row.staff_id
    by = f" by <@{who}>" if who else ""
    at = f" <t:{int(row.decided_at.timestamp())}:R>" if row.decided_at else ""
    if row.status == "proposed":
        return Conflict(f"Appointment #{row.id} already has another time proposed{by}{at}.")
    return Conflict(f"Appointment #{row.id} was already {row.status}{by}{at}.")
