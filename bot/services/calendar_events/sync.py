"""Discord Scheduled Events kept in step with the course's moments: which events should exist, what
the bot last made of each (the `scheduled_events` table), and the steps that bring Discord to the
data (`plan`). Discord-free: the cog makes the calls and records each result here.

The rules:
- Talk days, office-hours sessions and the poster session (and, with `[calendar] lectures`, each
  lecture) that start within `[calendar] horizon_days` and have not ended are wanted, as external
  events (entity type 3) with the room or place as location and an end time.
- A wanted event the bot has not made is created (an event the bot made earlier with the same name
  and start, not yet recorded, e.g. after a crash between the call and the record, is taken over
  instead, so re-runs never duplicate); one whose content changed is edited (once started, only its
  name, description and place); a cancelled office-hours session's event is cancelled, and a
  cancelled session not on Discord yet is never created.
- An event deleted by hand on Discord while it is still wanted is created again (the data is the
  source of truth; turn `scheduled_events` off to manage events by hand).
- An event no longer wanted (its moment removed, or moved beyond the horizon) is deleted; a past one
  is forgotten and left to Discord; any other scheduled event the bot made that nothing here records
  is deleted as a duplicate.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select

from bot.db import audit
from bot.db.models import ScheduledEventRow
from bot.services import Services
from bot.services.calendar_events.moments import LECTURE, OFFICE_HOURS, POSTER_SESSION, TALKS, Moment

NAME_MAX, DESCRIPTION_MAX, LOCATION_MAX = 100, 1000, 100  # Discord's limits
CREATE, UPDATE, CANCEL, DELETE, FORGET = "create", "update", "cancel", "delete", "forget"
SCHEDULED, CANCELLED = "scheduled", "cancelled"
_ORDER = {DELETE: 0, FORGET: 1, CANCEL: 2, UPDATE: 3, CREATE: 4}


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True)
class WantedEvent:
    """What one Scheduled Event should look like."""

    key: str
    name: str
    description: str
    location: str
    starts_at: datetime
    ends_at: datetime
    cancelled: bool = False

    @property
    def digest(self) -> str:
        """A fingerprint of the content (an event whose digest changed is edited)."""
        content = [
            self.name,
            self.description,
            self.location,
            self.starts_at.timestamp(),
            self.ends_at.timestamp(),
            self.cancelled,
        ]
        return hashlib.sha256(json.dumps(content).encode()).hexdigest()


@dataclass(frozen=True)
class KeptEvent:
    """What the bot recorded of an event it made."""

    key: str
    event_id: int
    digest: str
    status: str  # scheduled or cancelled
    starts_at: datetime
    ends_at: datetime


@dataclass(frozen=True)
class RemoteEvent:
    """An event on Discord as listed now."""

    event_id: int
    name: str
    starts_at: datetime
    live: bool  # scheduled or active (not completed or cancelled)
    started: bool  # active
    ours: bool  # created by the bot


@dataclass(frozen=True)
class Step:
    """One change on Discord. `key` is None for a duplicate nothing records; `event_id` is None for
    a create (and for a cancel of an event no longer on Discord, which is only recorded)."""

    action: str
    key: str | None
    event_id: int | None = None
    wanted: WantedEvent | None = None
    started: bool = False  # an update of an event in progress leaves its times alone


def scheduled_kinds(services: Services) -> tuple[str, ...]:
    return (TALKS, OFFICE_HOURS, POSTER_SESSION) + ((LECTURE,) if services.config.calendar.lectures else ())


def wanted_events(services: Services, moments: Iterable[Moment]) -> list[WantedEvent]:
    """The Scheduled Event of each moment of the kinds kept on Discord (all of the term; `plan`
    keeps the horizon)."""
    kinds = scheduled_kinds(services)
    return [
        WantedEvent(
            moment.key,
            _clip(moment.title, NAME_MAX),
            _clip(moment.description, DESCRIPTION_MAX),
            _clip(moment.location or "to be announced", LOCATION_MAX),
            moment.starts_at,
            moment.ends_at,
            moment.cancelled,
        )
        for moment in moments
        if moment.kind in kinds and moment.ends_at is not None
    ]


def plan(
    wanted: Sequence[WantedEvent],
    kept: Sequence[KeptEvent],
    remote: Sequence[RemoteEvent] | None,
    *,
    now: datetime,
    horizon: timedelta,
) -> list[Step]:
    """The steps that bring Discord to `wanted` (see the module's rules). `remote` None: the list of
    events could not be read, so every recorded event is taken to still exist and duplicates are
    left alone. Deletions come first (Discord allows 100 events), creations last, each by start."""
    window = {w.key: w for w in wanted if w.ends_at > now and w.starts_at < now + horizon}
    live = {r.event_id: r for r in remote if r.live} if remote is not None else None
    steps: list[Step] = []
    claimed: set[int] = set()
    kept_keys = set()
    for row in kept:
        kept_keys.add(row.key)
        claimed.add(row.event_id)
        on_discord = live.get(row.event_id) if live is not None else None
        exists = live is None or on_discord is not None
        started = on_discord.started if on_discord is not None else (live is None and row.starts_at <= now)
        want = window.get(row.key)
        if row.ends_at <= now and (want is None or want.ends_at <= now):
            steps.append(Step(FORGET, row.key, row.event_id))
        elif want is None:
            steps.append(Step(DELETE if exists and not started else FORGET, row.key, row.event_id))
        elif want.cancelled:
            if row.status != CANCELLED and not started:
                steps.append(Step(CANCEL, row.key, row.event_id if exists else None, want))
        elif row.status == CANCELLED or not exists:
            if want.starts_at > now:
                steps.append(Step(CREATE, row.key, None, want))
            else:
                steps.append(Step(FORGET, row.key, row.event_id))
        elif row.digest != want.digest:
            steps.append(Step(UPDATE, row.key, row.event_id, want, started=started))
    mine = [r for r in live.values() if r.ours and r.event_id not in claimed] if live is not None else []
    for key, want in window.items():
        if key in kept_keys or want.cancelled or want.starts_at <= now:
            continue
        match = next((r for r in mine if r.name == want.name and r.starts_at == want.starts_at), None)
        if match is not None:  # made before a crash, never recorded: take it over
            mine.remove(match)
            steps.append(Step(UPDATE, key, match.event_id, want, started=match.started))
        else:
            steps.append(Step(CREATE, key, None, want))
    steps += [Step(DELETE, None, r.event_id) for r in mine if not r.started]

    def order(step: Step) -> tuple[int, float]:
        return _ORDER[step.action], step.wanted.starts_at.timestamp() if step.wanted else 0.0

    return sorted(steps, key=order)


# ---- what the bot recorded -------------------------------------------------------------------------
async def kept_events(services: Services) -> list[KeptEvent]:
    async with services.db.read() as session:
        rows = (await session.scalars(select(ScheduledEventRow).order_by(ScheduledEventRow.starts_at))).all()
    return [KeptEvent(r.key, r.event_id, r.digest, r.status, r.starts_at, r.ends_at) for r in rows]


async def record(services: Services, step: Step, event_id: int | None) -> None:
    """Record a step Discord carried out (`event_id`: the event created or edited). Raises nothing
    of its own."""
    if step.key is None:
        return
    now = services.now()
    async with services.db.write() as session:
        row = await session.get(ScheduledEventRow, step.key, with_for_update=True)
        if step.action in (DELETE, FORGET) or step.wanted is None:
            if row is not None:
                await session.delete(row)
            return
        want = step.wanted
        if event_id is None and row is not None:
            event_id = row.event_id  # a cancel of an event that is gone: recorded as cancelled
        if event_id is None:
            return
        if row is None:
            await session.execute(delete(ScheduledEventRow).where(ScheduledEventRow.event_id == event_id))
            row = ScheduledEventRow(key=step.key, event_id=event_id)
            session.add(row)
        row.event_id = event_id
        row.digest = want.digest
        row.status = CANCELLED if step.action == CANCEL else SCHEDULED
        row.starts_at, row.ends_at, row.synced_at = want.starts_at, want.ends_at, now


async def record_run(services: Services, done: Sequence[Step]) -> None:
    """Audit a sync that changed something on Discord (one row with the counts)."""
    if not done:
        return
    counts: dict[str, int] = {}
    for step in done:
        counts[step.action] = counts.get(step.action, 0) + 1
    async with services.db.write() as session:
        audit(session, at=services.now(), actor_id=None, action="calendar.sync", **counts)
