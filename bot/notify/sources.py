"""What each source wants in the outbox: deadlines, weekly office hours (with one-off changes) and
presenters' talks. Pure functions from data to `Planned` rows; `replan_*` store them."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.calendar import CourseCalendar
from bot.config import Config, parse_hhmm, parse_offsets
from bot.db.models import DeadlineRow, OfficeHoursChange, Paper, Presenter
from bot.notify.outbox import Planned, ReplanResult, replan


def offset_label(offset: timedelta) -> str:
    seconds = int(offset.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def stamp(instant: datetime) -> str:
    return f"<t:{int(instant.timestamp())}:F> (<t:{int(instant.timestamp())}:R>)"


# ---- deadlines -------------------------------------------------------------------------------
def _stored_offsets(remind: str) -> list[timedelta]:
    """The offsets of a stored deadline that still parse (one stored before offsets were bounded may
    hold "400d", which is no longer planned). Raises nothing."""
    offsets: list[timedelta] = []
    for part in remind.split(","):
        try:
            offsets.extend(parse_offsets(part))
        except ValueError:
            continue
    return sorted(set(offsets), reverse=True)


def deadline_plans(deadlines: Iterable[DeadlineRow], tz: tzinfo | None = None) -> list[Planned]:
    """Offsets count in `tz`'s wall-clock time ("1d" before 23:59 is 23:59 the day before, across a
    DST change too), whether `due_at` was just set (course time) or read back (UTC)."""
    plans = []
    for deadline in deadlines:
        if deadline.removed:
            continue
        due_at = deadline.due_at.astimezone(tz) if tz is not None else deadline.due_at
        for offset in _stored_offsets(deadline.remind):
            label = offset_label(offset)
            text = f"⏰ **{deadline.title}** is due {stamp(deadline.due_at)}."
            base = f"deadline:{deadline.key}:{label}"
            due = due_at - offset
            plans.append(Planned(f"{base}:channel", "deadline", "channel", text, due, deadline.due_at))
            plans.append(
                Planned(f"{base}:dm", "deadline", "dm_all", text, due, deadline.due_at, category="deadlines")
            )
    return plans


async def replan_deadlines(session: AsyncSession, *, now: datetime, tz: tzinfo) -> ReplanResult:
    rows = (await session.scalars(select(DeadlineRow))).all()
    return await replan(session, prefix="deadline:", desired=deadline_plans(rows, tz), now=now)


# ---- office hours ----------------------------------------------------------------------------
@dataclass(frozen=True)
class OfficeHoursSession:
    day: date  # the regular date (the key of any change)
    starts_at: datetime
    ends_at: datetime
    place: str
    cancelled: bool
    moved: bool
    reason: str | None


def office_hours_sessions(
    config: Config, calendar: CourseCalendar, changes: Iterable[OfficeHoursChange]
) -> list[OfficeHoursSession]:
    """Every weekly session of the term with its one-off change applied."""
    office = config.office_hours
    length = datetime.combine(date.min, office.end) - datetime.combine(date.min, office.start)
    by_day = {change.day: change for change in changes}
    sessions = []
    for week in range(1, config.course.weeks + 1):
        day = calendar.day_in_week(week, office.day)
        start, place = calendar.at(day, office.start), office.place
        change = by_day.get(day)
        if change is not None and change.kind == "move" and change.starts_at is not None:
            start, place = change.starts_at.astimezone(calendar.tz), change.place or place
        sessions.append(
            OfficeHoursSession(
                day,
                start,
                start + length,
                place,
                change is not None and change.kind == "cancel",
                change is not None and change.kind == "move",
                change.reason if change else None,
            )
        )
    return sessions


def office_hours_plans(config: Config, sessions: Sequence[OfficeHoursSession]) -> list[Planned]:
    plans = []
    for session in sessions:
        if session.cancelled:
            continue
        moved = " (moved this week)" if session.moved else ""
        text = f"☕ Office hours {stamp(session.starts_at)} at {session.place}{moved}."
        for offset in config.office_hours.remind:
            base = f"officehours:{session.day.isoformat()}:{offset_label(offset)}"
            due = session.starts_at - offset
            plans.append(Planned(f"{base}:channel", "office_hours", "channel", text, due, session.starts_at))
            plans.append(
                Planned(
                    f"{base}:dm",
                    "office_hours",
                    "dm_all",
                    text,
                    due,
                    session.starts_at,
                    category="office_hours",
                )
            )
    return plans


async def replan_office_hours(
    session: AsyncSession, *, config: Config, calendar: CourseCalendar, now: datetime
) -> ReplanResult:
    changes = (await session.scalars(select(OfficeHoursChange))).all()
    sessions = office_hours_sessions(config, calendar, changes)
    return await replan(session, prefix="officehours:", desired=office_hours_plans(config, sessions), now=now)


# ---- talks -----------------------------------------------------------------------------------
def talk_plans(
    config: Config, calendar: CourseCalendar, talks: Iterable[tuple[int, str, int, int, int]]
) -> list[Planned]:
    """`talks`: (paper number, title, week, order in the week, presenter id)."""
    reminders = config.reminders
    morning = parse_hhmm(reminders.talk_morning) if reminders.talk_morning else None
    plans = []
    for number, title, week, order, presenter in talks:
        starts = calendar.talk_starts_at(week, order)
        text = f"🎤 Your talk on paper {number} — {title} is {stamp(starts)} (talk #{order + 1} of the day)."
        moments = [(offset_label(offset), starts - offset) for offset in reminders.talk_remind]
        if morning is not None and calendar.at(calendar.talk_date(week), morning) < starts:
            moments.append(("morning", calendar.at(calendar.talk_date(week), morning)))
        for label, due in moments:
            key = f"talk:{number}:{presenter}:{label}"
            plans.append(
                Planned(key, "talk", "dm", text, due, starts, category="presentation", user_id=presenter)
            )
    return plans


async def replan_talks(
    session: AsyncSession, *, config: Config, calendar: CourseCalendar, now: datetime
) -> ReplanResult:
    """Talk reminders for the presenters as they are now (call after any change of presenters)."""
    papers = (await session.scalars(select(Paper).order_by(Paper.week, Paper.number))).all()
    order: dict[int, int] = {}
    counters: dict[int, int] = {}
    for paper in papers:
        order[paper.number] = counters.get(paper.week, 0)
        counters[paper.week] = order[paper.number] + 1
    by_number = {paper.number: paper for paper in papers}
    presenters = (await session.execute(select(Presenter.paper_number, Presenter.discord_id))).all()
    talks = [
        (number, by_number[number].title, by_number[number].week, order[number], discord_id)
        for number, discord_id in presenters
        if number in by_number
    ]
    return await replan(session, prefix="talk:", desired=talk_plans(config, calendar, talks), now=now)
