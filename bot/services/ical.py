"""iCalendar (RFC 5545) files of the course: the whole course (`coursebot export calendar`) or one
member's (`/calendar` and the private feed): every moment of `calendar_events.moments`, plus the
member's own talks (with a reminder at each `[reminders] talk_remind` offset) and their accepted
appointments. Times are in the course timezone, with its VTIMEZONE.

Each event's UID comes from its moment's key and the course (stable across calls and restarts). The
`calendar_versions` table keeps each UID's content fingerprint: when the content changes its
SEQUENCE goes up and its DTSTAMP / LAST-MODIFIED become the time of the change, so the same data
gives byte-for-byte the same file (and the same ETag).

Private feeds: a member's feed secret is a random token shown once; only its SHA-256 is stored.
A new link replaces the old one; the feed of a member who left the server is dropped.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from email.utils import format_datetime
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db import audit
from bot.db.models import CalendarFeed, CalendarVersion, Paper, Presenter
from bot.services import Services, appointments
from bot.services.calendar_events.moments import NO_ROOM, Moment, course_moments
from bot.services.talks import talk_slots

if TYPE_CHECKING:  # icalendar itself is imported when a file is built: not at every start-up
    from icalendar import Event

PRODID = "-//coursebot//course calendar//EN"
OWN_TALK = "own_talk"
APPOINTMENT = "appointment"
SECRET_BYTES = 32  # 256 random bits, URL-safe: 43 characters
_SECRET_SHAPE = re.compile(r"[A-Za-z0-9_-]{43}")
_NO_FEED_HASH = hashlib.sha256(b"no feed has this secret").hexdigest()
CONTENT_TYPE = "text/calendar; charset=utf-8"


@dataclass(frozen=True)
class CalendarFile:
    """An iCalendar file and what an HTTP cache needs of it."""

    body: bytes
    etag: str  # quoted, e.g. "3f2a..."
    last_modified: datetime  # the latest change of any event in it (UTC)
    events: int

    @property
    def http_last_modified(self) -> str:
        return format_datetime(self.last_modified.astimezone(UTC), usegmt=True)


def _domain(services: Services) -> str:
    course = services.config.course
    slug = re.sub(r"[^a-z0-9]+", "-", f"{course.code} {course.term}".lower()).strip("-")
    return f"{slug or 'course'}.coursebot"


def uid_of(services: Services, key: str) -> str:
    """The UID of a moment: its key and the course, e.g. `officehours-2025-05-07@eece695d-spring-2025.coursebot`."""
    return f"{re.sub(r'[^A-Za-z0-9.-]+', '-', key).strip('-')}@{_domain(services)}"


# ---- the member's own moments -------------------------------------------------------------------
async def own_talks(services: Services, session: AsyncSession, discord_id: int) -> list[Moment]:
    """The member's talks: each at its own slot, with reminders at the talk-reminder offsets."""
    config = services.config
    numbers = list(
        (
            await session.scalars(select(Presenter.paper_number).where(Presenter.discord_id == discord_id))
        ).all()
    )
    if not numbers:
        return []
    titles = dict(
        (await session.execute(select(Paper.number, Paper.title).where(Paper.number.in_(numbers)))).all()
    )
    slots = await talk_slots(session, services.calendar)
    minutes = config.papers.talk_minutes
    moments = []
    for number in sorted(numbers):
        slot = slots.get(number)
        if slot is None:
            continue
        moments.append(
            Moment(
                f"{OWN_TALK}:{number}:{discord_id}",
                OWN_TALK,
                f"Your talk: paper {number}: {titles.get(number, '')}",
                slot.starts_at,
                slot.starts_at + timedelta(minutes=minutes),
                config.lectures.room or NO_ROOM,
                f"You present paper {number} ({titles.get(number, '')}), talk {slot.order + 1} of the day: "
                f"{minutes} min + {config.papers.qa_minutes} min Q&A.",
                alarms=tuple(config.reminders.talk_remind),
            )
        )
    return moments


async def own_appointments(services: Services, discord_id: int) -> list[Moment]:
    """The member's accepted appointments that are not over (`appointments.my_appointments`)."""
    config = services.config
    moments = []
    for item in await appointments.my_appointments(services, discord_id):
        if item.status != "accepted":
            continue
        moments.append(
            Moment(
                f"{APPOINTMENT}:{item.id}",
                APPOINTMENT,
                f"{config.course.code} appointment: {item.topic}",
                item.starts_at,
                item.ends_at,
                config.appointments.place or config.office_hours.place,
                f"Office-hours appointment with the course staff about: {item.topic}.",
                alarms=tuple(config.appointments.remind),
            )
        )
    return moments


# ---- building the file --------------------------------------------------------------------------
def _fingerprint(moment: Moment) -> str:
    content = [
        moment.title,
        moment.description,
        moment.location,
        moment.starts_at.timestamp(),
        moment.ends_at.timestamp() if moment.ends_at else None,
        moment.cancelled,
        [offset.total_seconds() for offset in moment.alarms],
    ]
    return hashlib.sha256(json.dumps(content).encode()).hexdigest()


async def _versions(services: Services, wanted: dict[str, str]) -> dict[str, tuple[int, datetime]]:
    """(SEQUENCE, time of the last change) of each UID of `wanted` (UID → fingerprint): a new UID
    starts at 0, a changed one goes up by one. Writes only when something is new or changed."""
    async with services.db.read() as session:
        stored = {
            row.uid: row
            for row in (
                await session.scalars(select(CalendarVersion).where(CalendarVersion.uid.in_(list(wanted))))
            ).all()
        }
    if any(uid not in stored or stored[uid].digest != digest for uid, digest in wanted.items()):
        now = services.now()
        async with services.db.write() as session:
            rows = (
                await session.scalars(select(CalendarVersion).where(CalendarVersion.uid.in_(list(wanted))))
            ).all()
            stored = {row.uid: row for row in rows}
            for uid, digest in wanted.items():
                row = stored.get(uid)
                if row is None:
                    row = CalendarVersion(uid=uid, digest=digest, sequence=0, changed_at=now)
                    session.add(row)
                    stored[uid] = row
                elif row.digest != digest:
                    row.digest, row.sequence, row.changed_at = digest, row.sequence + 1, now
    return {uid: (row.sequence, row.changed_at) for uid, row in stored.items()}


def _event(services: Services, moment: Moment, uid: str, sequence: int, changed_at: datetime) -> Event:
    from icalendar import Alarm, Event

    tz = services.calendar.tz
    event = Event()
    event.add("uid", uid)
    event.add("dtstamp", changed_at.astimezone(UTC))
    event.add("last-modified", changed_at.astimezone(UTC))
    event.add("sequence", sequence)
    event.add("summary", moment.title)
    event.add("dtstart", moment.starts_at.astimezone(tz))
    if moment.ends_at is not None:
        event.add("dtend", moment.ends_at.astimezone(tz))
    else:
        event.add("transp", "TRANSPARENT")  # a deadline is a moment, not busy time
    if moment.location:
        event.add("location", moment.location)
    event.add("description", moment.description)
    event.add("categories", [moment.kind.replace("_", " ")])
    event.add("status", "CANCELLED" if moment.cancelled else "CONFIRMED")
    if not moment.cancelled:
        for offset in moment.alarms:
            alarm = Alarm()
            alarm.add("action", "DISPLAY")
            alarm.add("description", moment.title)
            alarm.add("trigger", -offset)
            event.add_component(alarm)
    return event


async def build(services: Services, moments: Sequence[Moment], name: str) -> CalendarFile:
    """The iCalendar file of `moments`, named `name` in calendar apps."""
    from icalendar import Calendar, vDuration

    uids = {uid_of(services, moment.key): moment for moment in moments}
    versions = await _versions(services, {uid: _fingerprint(moment) for uid, moment in uids.items()})
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    calendar.add("x-wr-calname", name)
    calendar.add("x-wr-timezone", services.config.course.timezone)
    calendar.add("refresh-interval", timedelta(hours=1), parameters={"VALUE": "DURATION"})
    calendar.add("x-published-ttl", vDuration(timedelta(hours=1)))
    for uid, moment in uids.items():
        sequence, changed_at = versions[uid]
        calendar.add_component(_event(services, moment, uid, sequence, changed_at))
    term = services.calendar
    calendar.add_missing_timezones(
        first_date=term.term_start - timedelta(days=366), last_date=term.term_end + timedelta(days=366)
    )
    body = calendar.to_ical()
    latest = max((changed for _, changed in versions.values()), default=None)
    if latest is None:
        latest = term.at(term.term_start, time(0, 0))
    return CalendarFile(body, f'"{hashlib.sha256(body).hexdigest()[:32]}"', latest.astimezone(UTC), len(uids))


async def course_calendar(services: Services) -> CalendarFile:
    """The whole course as one file (no one's own talks or appointments)."""
    course = services.config.course
    return await build(services, await course_moments(services), f"{course.code} {course.term}")


async def member_calendar(services: Services, discord_id: int) -> CalendarFile:
    """One member's calendar: the course, their own talks and their accepted appointments."""
    async with services.db.read() as session:
        moments = await course_moments(services, session)
        moments += await own_talks(services, session, discord_id)
    moments += await own_appointments(services, discord_id)
    course = services.config.course
    ordered = sorted(moments, key=lambda moment: (moment.starts_at, moment.key))
    return await build(services, ordered, f"{course.code} {course.term}")


def filename(services: Services) -> str:
    return (
        re.sub(r"[^A-Za-z0-9._-]+", "-", f"{services.config.course.code}-{services.config.course.term}")
        + ".ics"
    )


# ---- private feeds ------------------------------------------------------------------------------
def feeds_enabled(services: Services) -> bool:
    """Feeds are served with `[http] port` and `[http] public_url` set."""
    http = services.config.http
    return bool(http.port and http.public_url)


def feed_url(services: Services, secret: str) -> str:
    return f"{services.config.http.public_url.rstrip('/')}/calendar/{secret}.ics"


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


async def has_feed(services: Services, discord_id: int) -> bool:
    async with services.db.read() as session:
        return await session.get(CalendarFeed, discord_id) is not None


async def new_feed(services: Services, discord_id: int) -> str:
    """A new secret for the member's feed (the old link, if any, stops working). Shown once: only
    its hash is kept. Audited."""
    secret = secrets.token_urlsafe(SECRET_BYTES)
    now = services.now()
    async with services.db.write() as session:
        row = await session.get(CalendarFeed, discord_id, with_for_update=True)
        replaced = row is not None
        if row is None:
            session.add(CalendarFeed(discord_id=discord_id, secret_hash=hash_secret(secret), created_at=now))
        else:
            row.secret_hash, row.created_at = hash_secret(secret), now
        audit(
            session,
            at=now,
            actor_id=discord_id,
            action="calendar.feed_new",
            target_id=discord_id,
            replaced=replaced,
        )
    return secret


async def feed_owner(services: Services, secret: str) -> int | None:
    """The member whose feed `secret` opens, or None. Every secret, of any shape, costs one hash, one
    indexed look-up and one constant-time comparison, so a wrong one tells nothing by its timing."""
    wanted = hash_secret(secret)
    async with services.db.read() as session:
        row = await session.scalar(select(CalendarFeed).where(CalendarFeed.secret_hash == wanted))
    found = row.secret_hash if row is not None else _NO_FEED_HASH
    matches = hmac.compare_digest(found, wanted)
    if row is None or not matches or not _SECRET_SHAPE.fullmatch(secret):
        return None
    return row.discord_id


async def drop_feed(services: Services, discord_id: int, *, reason: str) -> bool:
    """Stop the member's feed (e.g. they left the server). True when there was one. Audited."""
    async with services.db.write() as session:
        row = await session.get(CalendarFeed, discord_id, with_for_update=True)
        if row is None:
            return False
        await session.delete(row)
        audit(
            session,
            at=services.now(),
            actor_id=None,
            action="calendar.feed_drop",
            target_id=discord_id,
            reason=reason,
        )
        return True


async def feed_members(services: Services) -> list[int]:
    """Every member who has a feed."""
    async with services.db.read() as session:
        return list((await session.scalars(select(CalendarFeed.discord_id))).all())
