"""Check-in sessions: opening one for today's lecture (asking first on a day without one, or long
before or after it), its (rotating) codes, closing time, the live message, and the session of a
lecture day that the staff's marks and the excuses refer to. A lecture is *held* once it has a
session (check-in was opened, or the staff marked someone for it).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db import audit
from bot.db.models import AttendanceSession
from bot.errors import Conflict, InvalidInput, NotAllowed, NotFound
from bot.services import Services
from bot.services.codes import derived_code

ATTENDANCE_LOCK = "attendance"


class NoLectureToday(NotAllowed):
    """Opening check-in on a day without a lecture needs the staff's confirmation."""


class OutsideLectureTime(NoLectureToday):
    """Opening check-in long before today's lecture or after it ended needs the staff's confirmation."""


@dataclass(frozen=True)
class SessionInfo:
    id: int
    lecture_date: date
    starts_at: datetime
    extra: bool
    rotate_seconds: int
    opened_at: datetime | None
    closes_at: datetime | None
    closed_at: datetime | None
    live_channel_id: int | None
    live_message_id: int | None

    def is_open(self, now: datetime) -> bool:
        return (
            self.opened_at is not None
            and self.closed_at is None
            and self.closes_at is not None
            and now < self.closes_at
        )


def session_info(row: AttendanceSession) -> SessionInfo:
    return SessionInfo(
        row.id,
        row.lecture_date,
        row.starts_at,
        row.extra,
        row.rotate_seconds,
        row.opened_at,
        row.closes_at,
        row.closed_at,
        row.live_channel_id,
        row.live_message_id,
    )


# ---- codes ----------------------------------------------------------------------------------
def _step(row: AttendanceSession | SessionInfo, now: datetime) -> int:
    if not row.rotate_seconds or row.opened_at is None:
        return 0
    return max(0, int((now - row.opened_at).total_seconds() // row.rotate_seconds))


def current_code(services: Services, row: AttendanceSession) -> str:
    """The code to show now (it changes every `rotate_seconds` when rotating)."""
    return derived_code(row.secret, _step(row, services.now()), services.config.attendance.code_length)


def accepted_codes(services: Services, row: AttendanceSession) -> set[str]:
    """The codes a check-in may type now: the one shown and, when rotating, the one before it."""
    step, length = _step(row, services.now()), services.config.attendance.code_length
    return {derived_code(row.secret, s, length) for s in {step, max(0, step - 1)}}


# ---- sessions ---------------------------------------------------------------------------------
async def open_row(session: AsyncSession, now: datetime) -> AttendanceSession | None:
    """The newest session open at `now`, if any."""
    query = select(AttendanceSession).where(
        AttendanceSession.opened_at.is_not(None),
        AttendanceSession.closed_at.is_(None),
        AttendanceSession.closes_at > now,
    )
    return await session.scalar(query.order_by(AttendanceSession.id.desc()))


async def open_session(
    services: Services,
    *,
    actor_id: int,
    minutes: int | None = None,
    rotate: bool = False,
    extra_ok: bool = False,
) -> tuple[SessionInfo, str]:
    """Open check-in for today's lecture; returns the session and its current code.

    Raises InvalidInput (minutes out of range), Conflict (already open), NoLectureToday (no lecture
    today) or OutsideLectureTime (more than `open_grace_minutes` before today's lecture or after its
    end); the last two only while `extra_ok` is False: the staff confirm, then it opens anyway.
    """
    settings = services.config.attendance
    minutes = settings.minutes_open if minutes is None else minutes
    if not 1 <= minutes <= 240:
        raise InvalidInput("Minutes must be between 1 and 240.")
    now = services.now()
    today = services.calendar.local_date(now)
    lecture = services.calendar.lecture_on(today)
    if lecture is None and not extra_ok:
        raise NoLectureToday(f"There is no lecture today ({today:%a %Y-%m-%d}).")
    if lecture is not None and not extra_ok:
        grace = timedelta(minutes=settings.open_grace_minutes)
        start, end = int(lecture.starts_at.timestamp()), int(lecture.ends_at.timestamp())
        span = f"the lecture of {today:%a %Y-%m-%d} (<t:{start}:t>–<t:{end}:t>)"
        if now > lecture.ends_at + grace:
            raise OutsideLectureTime(
                f"It is after {span}: it ended <t:{end}:R>, so everyone who checks in now is marked late."
            )
        if now < lecture.starts_at - grace:
            closes = int((now + timedelta(minutes=minutes)).timestamp())
            raise OutsideLectureTime(
                f"It is well before {span}: it starts <t:{start}:R>, and check-in opened now closes "
                f"<t:{closes}:t>."
            )
    async with services.db.write(ATTENDANCE_LOCK) as session:
        current = await open_row(session, now)
        if current is not None and current.closes_at is not None:
            until = int(current.closes_at.timestamp())
            raise Conflict(f"Check-in is already open until <t:{until}:t>; `/ta attendance close` first.")
        row = await session.scalar(
            select(AttendanceSession).where(AttendanceSession.lecture_date == today).with_for_update()
        )
        if row is None:
            row = AttendanceSession(
                lecture_date=today,
                starts_at=lecture.starts_at if lecture else now,
                extra=lecture is None,
                secret="",
            )
            session.add(row)
        row.secret = secrets.token_hex(16)
        row.rotate_seconds = settings.rotate_seconds if rotate else 0
        row.opened_at, row.closes_at, row.closed_at, row.opened_by = (
            now,
            now + timedelta(minutes=minutes),
            None,
            actor_id,
        )
        row.live_channel_id = row.live_message_id = None
        await session.flush()
        audit(
            session,
            at=now,
            actor_id=actor_id,
            action="attendance.open",
            date=str(today),
            minutes=minutes,
            rotate=rotate,
            extra=row.extra,
        )
        return session_info(row), current_code(services, row)


async def open_now(services: Services) -> tuple[SessionInfo, str] | None:
    """The session open now and its current code, if any."""
    async with services.db.read() as session:
        row = await open_row(session, services.now())
        return (session_info(row), current_code(services, row)) if row else None


async def sessions_to_close(services: Services) -> list[SessionInfo]:
    """Sessions still marked open (at start-up: those whose time ran out while the bot was down, too)."""
    async with services.db.read() as session:
        rows = await session.scalars(
            select(AttendanceSession).where(
                AttendanceSession.opened_at.is_not(None), AttendanceSession.closed_at.is_(None)
            )
        )
        return [session_info(r) for r in rows.all()]


async def set_live_message(services: Services, *, session_id: int, channel_id: int, message_id: int) -> None:
    async with services.db.write(ATTENDANCE_LOCK) as session:
        row = await session.get(AttendanceSession, session_id, with_for_update=True)
        if row is not None:
            row.live_channel_id, row.live_message_id = channel_id, message_id


async def session_for_day(
    services: Services, session: AsyncSession, day: date, *, create: bool
) -> AttendanceSession | None:
    """The (locked) session of lecture day `day`; with `create`, made for a past lecture that had
    none. Raises NotFound (no lecture that day) or NotAllowed (the lecture is still ahead)."""
    row = await session.scalar(
        select(AttendanceSession).where(AttendanceSession.lecture_date == day).with_for_update()
    )
    if row is not None or not create:
        return row
    lecture = services.calendar.lecture_on(day)
    if lecture is None:
        raise NotFound(f"There was no lecture on {day:%a %Y-%m-%d}.")
    if lecture.starts_at > services.now():
        raise NotAllowed(f"The lecture of {day:%Y-%m-%d} has not happened yet.")
    row = AttendanceSession(
        lecture_date=day,
        starts_at=lecture.starts_at,
        extra=False,
        secret=secrets.token_hex(16),
        rotate_seconds=0,
    )
    session.add(row)
    await session.flush()
    return row


async def held_lectures(services: Services) -> list[SessionInfo]:
    async with services.db.read() as session:
        rows = await session.scalars(select(AttendanceSession).order_by(AttendanceSession.lecture_date))
        return [session_info(r) for r in rows.all()]
