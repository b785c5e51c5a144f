"""Reminders: preferences per category, deadlines (config + staff), office hours and their one-off
changes, and what each of them wants in the outbox. Every change re-plans the affected outbox rows
in the same transaction; at start-up the kinds registered here re-plan everything (see
`register_kinds`)."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.calendar import CourseCalendar
from bot.config import Config, parse_offsets
from bot.db import audit
from bot.db.models import DeadlineRow, OfficeHoursChange, OfficeHoursNotice, ReminderPreference
from bot.errors import Conflict, InvalidInput, NotFound
from bot.notify.kinds import ReminderKind, ReminderKinds
from bot.notify.outbox import (
    CATEGORIES,
    DEFAULT_ON,
    OUTBOX_LOCK,
    Planned,
    ReplanResult,
    enabled_for,
    enqueue,
    replan,
)
from bot.services import Services, cache
from bot.services.text import offset_label, parse_day, stamp

TITLE_MAX = 200
DEADLINE_KIND, OFFICE_HOURS_KIND, OFFICE_HOURS_NOTICE_KIND = "deadline", "office_hours", "office_hours_notice"


# ---- start-up --------------------------------------------------------------------------------
def register_kinds(services: Services, kinds: ReminderKinds) -> None:
    """The kinds this service plans: deadline pings (at start-up the configured deadlines are synced
    first), weekly office hours, and the notices of a change (planned once, nothing to re-plan)."""
    kinds.register(
        ReminderKind(DEADLINE_KIND, plan=lambda session: _plan_deadlines_at_start(services, session))
    )
    kinds.register(
        ReminderKind(
            OFFICE_HOURS_KIND,
            plan=lambda session: replan_office_hours(
                session, config=services.config, calendar=services.calendar, now=services.now()
            ),
        )
    )
    kinds.register(ReminderKind(OFFICE_HOURS_NOTICE_KIND))


async def _plan_deadlines_at_start(services: Services, session: AsyncSession) -> ReplanResult:
    """Sync the configured deadlines into the table (a deadline taken out of config.toml is removed,
    one the staff added stays), then plan their pings."""
    stored = {row.key: row for row in (await session.scalars(select(DeadlineRow))).all()}
    for deadline in services.calendar.deadlines:
        remind = ",".join(offset_label(o) for o in deadline.remind)
        row = stored.get(deadline.key)
        if row is None:
            session.add(
                DeadlineRow(
                    key=deadline.key,
                    title=deadline.title,
                    due_at=deadline.due_at,
                    remind=remind,
                    origin="config",
                    removed=False,
                )
            )
        elif row.origin == "config":
            row.title, row.due_at, row.remind = deadline.title, deadline.due_at, remind
    configured = {deadline.key for deadline in services.calendar.deadlines}
    for row in stored.values():
        if row.origin == "config" and row.key not in configured:
            row.removed = True  # taken out of config.toml: its pending pings are skipped
    await session.flush()
    cache.changed(services, session, cache.DEADLINES)
    return await replan_deadlines(session, now=services.now(), tz=services.calendar.tz)


# ---- preferences -----------------------------------------------------------------------------
def check_category(category: str) -> str:
    if category not in CATEGORIES:
        raise InvalidInput(f"Category must be one of {', '.join(CATEGORIES)}.")
    return category


async def set_preference(services: Services, *, discord_id: int, category: str, enabled: bool) -> None:
    """Turn DM reminders of one category on or off. Raises InvalidInput for an unknown category."""
    check_category(category)
    async with services.db.write(OUTBOX_LOCK) as session:
        row = await session.scalar(
            select(ReminderPreference).where(
                ReminderPreference.discord_id == discord_id, ReminderPreference.category == category
            )
        )
        if row is None:
            session.add(ReminderPreference(discord_id=discord_id, category=category, enabled=enabled))
        else:
            row.enabled = enabled
        audit(
            session,
            at=services.now(),
            actor_id=discord_id,
            action="reminders.set",
            target_id=discord_id,
            category=category,
            enabled=enabled,
        )


async def preferences(services: Services, discord_id: int) -> dict[str, bool]:
    async with services.db.read() as session:
        return {c: bool(await enabled_for(session, c, [discord_id])) for c in CATEGORIES}


def default_preferences() -> dict[str, bool]:
    return dict(DEFAULT_ON)


# ---- deadlines -------------------------------------------------------------------------------
@dataclass(frozen=True)
class DeadlineInfo:
    key: str
    title: str
    due_at: datetime
    remind: str
    origin: str


def _deadline(row: DeadlineRow) -> DeadlineInfo:
    return DeadlineInfo(row.key, row.title, row.due_at, row.remind, row.origin)


# ---- what deadlines want in the outbox -----------------------------------------------------------
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
            plans.append(Planned(f"{base}:channel", DEADLINE_KIND, "channel", text, due, deadline.due_at))
            plans.append(
                Planned(
                    f"{base}:dm", DEADLINE_KIND, "dm_all", text, due, deadline.due_at, category="deadlines"
                )
            )
    return plans


async def replan_deadlines(session: AsyncSession, *, now: datetime, tz: tzinfo) -> ReplanResult:
    """Make the pending deadline pings match the deadlines table (inside the caller's transaction)."""
    rows = (await session.scalars(select(DeadlineRow))).all()
    return await replan(session, prefix="deadline:", desired=deadline_plans(rows, tz), now=now)


async def upcoming_deadlines(services: Services) -> list[DeadlineInfo]:
    """The deadlines not yet due, soonest first (the table is kept until a change of it commits)."""
    now = services.now()
    deadlines = await cache.cached(services, cache.DEADLINES, None, lambda: _deadlines(services))
    return [deadline for deadline in deadlines if deadline.due_at > now]


async def _deadlines(services: Services) -> tuple[DeadlineInfo, ...]:
    async with services.db.read() as session:
        rows = await session.scalars(
            select(DeadlineRow).where(DeadlineRow.removed.is_(False)).order_by(DeadlineRow.due_at)
        )
        return tuple(_deadline(r) for r in rows.all())


def parse_instant(services: Services, text: str) -> datetime:
    """ "YYYY-MM-DD HH:MM" in the course timezone (or ISO 8601 with an offset). Raises InvalidInput."""
    try:
        return services.calendar.resolve(text)
    except ValueError:
        raise InvalidInput(f"`{text[:30]}` is not a time like 2025-04-18 23:59.") from None


async def add_deadline(
    services: Services, *, actor_id: int, key: str, title: str, due: str, remind: str | None
) -> DeadlineInfo:
    """Add a deadline (or change one with that key) and plan its pings. Raises InvalidInput."""
    key = key.strip().lower()
    if not re.fullmatch(r"[a-z0-9_]{1,32}", key):
        raise InvalidInput("A key is 1–32 lowercase letters, digits or _ (e.g. `midterm_report`).")
    title = " ".join(title.split())
    if not 1 <= len(title) <= TITLE_MAX or "@" in title:
        raise InvalidInput(f"A title is 1–{TITLE_MAX} characters, without @ mentions.")
    due_at = parse_instant(services, due)
    now = services.now()
    if due_at <= now:
        raise InvalidInput("That time has already passed.")
    try:
        offsets = parse_offsets(remind if remind is not None else "7d,1d,1h")
    except ValueError as error:
        raise InvalidInput(f"Reminders: {error}.") from None
    remind_text = ",".join(offset_label(o) for o in offsets)
    async with services.db.write(OUTBOX_LOCK) as session:
        row = await session.get(DeadlineRow, key, with_for_update=True)
        if row is None:
            row = DeadlineRow(
                key=key, title=title, due_at=due_at, remind=remind_text, origin="staff", removed=False
            )
            session.add(row)
        else:
            row.title, row.due_at, row.remind, row.removed, row.origin = (
                title,
                due_at,
                remind_text,
                False,
                "staff",
            )
        await session.flush()
        audit(
            session,
            at=now,
            actor_id=actor_id,
            action="deadline.add",
            key=key,
            title=title,
            due=due_at.isoformat(),
            remind=remind_text,
        )
        await replan_deadlines(session, now=now, tz=services.calendar.tz)
        cache.changed(services, session, cache.DEADLINES)
        return _deadline(row)


async def remove_deadline(services: Services, *, actor_id: int, key: str) -> DeadlineInfo:
    """Remove a deadline; its pending pings are skipped. Raises NotFound."""
    now = services.now()
    async with services.db.write(OUTBOX_LOCK) as session:
        row = await session.get(DeadlineRow, key.strip().lower(), with_for_update=True)
        if row is None or row.removed:
            raise NotFound(f"There is no deadline `{key[:32]}`; see `/deadlines`.")
        row.removed = True
        audit(session, at=now, actor_id=actor_id, action="deadline.remove", key=row.key, title=row.title)
        await session.flush()
        await replan_deadlines(session, now=now, tz=services.calendar.tz)
        cache.changed(services, session, cache.DEADLINES)
        return _deadline(row)


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
    """A channel post and a DM to subscribers before each session that is not cancelled."""
    plans = []
    for session in sessions:
        if session.cancelled:
            continue
        moved = " (moved this week)" if session.moved else ""
        text = f"☕ Office hours {stamp(session.starts_at)} at {session.place}{moved}."
        for offset in config.office_hours.remind:
            base = f"officehours:{session.day.isoformat()}:{offset_label(offset)}"
            due = session.starts_at - offset
            plans.append(
                Planned(f"{base}:channel", OFFICE_HOURS_KIND, "channel", text, due, session.starts_at)
            )
            plans.append(
                Planned(
                    f"{base}:dm",
                    OFFICE_HOURS_KIND,
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
    """Make the pending office-hours reminders match the sessions (inside the caller's transaction)."""
    changes = (await session.scalars(select(OfficeHoursChange))).all()
    sessions = office_hours_sessions(config, calendar, changes)
    return await replan(session, prefix="officehours:", desired=office_hours_plans(config, sessions), now=now)


async def office_hours(services: Services) -> list[OfficeHoursSession]:
    """Every session of the term with its change (kept until a change of office hours commits)."""
    return list(await cache.cached(services, cache.OFFICE_HOURS, None, lambda: _office_hours(services)))


async def _office_hours(services: Services) -> tuple[OfficeHoursSession, ...]:
    async with services.db.read() as session:
        changes = (await session.scalars(select(OfficeHoursChange))).all()
    return tuple(office_hours_sessions(services.config, services.calendar, changes))


async def next_office_hours(services: Services) -> OfficeHoursSession | None:
    """The next session (cancelled ones included, so the change can be shown)."""
    now = services.now()
    return next((s for s in await office_hours(services) if s.ends_at > now), None)


async def _regular_session(services: Services, day: date) -> OfficeHoursSession:
    session = next((s for s in await office_hours(services) if s.day == day), None)
    if session is None:
        raise NotFound(
            f"There are no office hours on {day:%a %Y-%m-%d} (they are on {services.config.office_hours.day}s)."
        )
    if session.ends_at <= services.now():
        raise Conflict("Those office hours are over.")
    return session


async def change_office_hours(
    services: Services,
    *,
    actor_id: int,
    day_text: str,
    cancel: bool,
    start: str | None = None,
    place: str | None = None,
    reason: str | None = None,
) -> tuple[OfficeHoursSession, int]:
    """Cancel or move one session; re-plans its reminders and notifies subscribers and the channel
    at once (through the outbox). Returns the changed session and the notice row count.
    Raises InvalidInput, NotFound or Conflict."""
    day = parse_day(day_text)
    await _regular_session(services, day)
    now = services.now()
    new_start = None
    if not cancel:
        if start is None:
            raise InvalidInput("Give the new start, e.g. `16:00` or `2025-03-13 16:00`.")
        new_start = parse_instant(
            services, start if " " in start.strip() or "T" in start else f"{day.isoformat()} {start.strip()}"
        )
        if new_start <= now:
            raise InvalidInput("The new time has already passed.")
    if reason is not None and len(reason) > 300:
        raise InvalidInput("The reason must be at most 300 characters.")
    async with services.db.write(OUTBOX_LOCK) as session:
        row = await session.get(OfficeHoursChange, day, with_for_update=True)
        if row is None:
            row = OfficeHoursChange(day=day, kind="cancel", changed_at=now)
            session.add(row)
        row.kind, row.starts_at, row.place, row.reason, row.changed_by, row.changed_at = (
            ("cancel", None, None, reason, actor_id, now)
            if cancel
            else ("move", new_start, place, reason, actor_id, now)
        )
        await session.flush()
        await replan_office_hours(session, config=services.config, calendar=services.calendar, now=now)
        cache.changed(services, session, cache.OFFICE_HOURS)
        changed = next(
            s for s in office_hours_sessions(services.config, services.calendar, [row]) if s.day == day
        )
        why = f" ({reason})" if reason else ""
        if cancel:
            text = f"☕ Office hours on {day:%a %b} {day.day} are **cancelled**{why}."
        else:
            text = f"☕ Office hours on {day:%a %b} {day.day} **moved** to {stamp(changed.starts_at)} at {changed.place}{why}."
        notices = await _notice(
            session, f"officehours-change:{day.isoformat()}:{secrets.token_hex(6)}", text, now
        )
        audit(
            session,
            at=now,
            actor_id=actor_id,
            action="officehours.cancel" if cancel else "officehours.move",
            date=day.isoformat(),
            start=new_start.isoformat() if new_start else None,
            place=place,
            reason=reason,
        )
        return changed, notices


async def office_hours_notice(services: Services, *, actor_id: int, text: str) -> int:
    """Tell subscribers and the channel something about office hours, now. Raises InvalidInput."""
    text = " ".join(text.split())
    if not 1 <= len(text) <= 1500 or "@everyone" in text or "@here" in text:
        raise InvalidInput("A notice is 1–1500 characters, without @everyone or @here.")
    now = services.now()
    async with services.db.write(OUTBOX_LOCK) as session:
        count = await _notice(
            session, f"officehours-notice:{secrets.token_hex(6)}", f"☕ Office hours: {text}", now
        )
        audit(session, at=now, actor_id=actor_id, action="officehours.notice", text=text[:200])
        session.add(OfficeHoursNotice(posted_at=now, text=text, posted_by=actor_id))  # the calendar shows it
        cache.changed(services, session, cache.OFFICE_HOURS_NOTICES)
        return count


async def _notice(session: AsyncSession, key: str, text: str, now: datetime) -> int:
    channel = Planned(f"{key}:channel", OFFICE_HOURS_NOTICE_KIND, "channel", text, now)
    dms = Planned(f"{key}:dm", OFFICE_HOURS_NOTICE_KIND, "dm_all", text, now, category="office_hours")
    return int(await enqueue(session, channel)) + int(await enqueue(session, dms))
