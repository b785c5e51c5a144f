"""The outbox: every reminder is a row stored before it is due (no discord import here).

Planning is idempotent: `replan` compares what a source wants now with the pending rows it planned
before (by `source_key`), adds what is missing, updates what moved and skips what was cancelled;
rows already sent are never touched, so re-planning can never duplicate a reminder. The dispatcher
(bot/notify/dispatcher.py) claims due rows with a lease, sends them with the row's nonce, and marks
them.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, case, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db import Database, audit
from bot.db.engine import dialect_insert
from bot.db.tables import Notification, ReminderPreference

log = logging.getLogger(__name__)

CATEGORIES = ("office_hours", "deadlines", "presentation", "attendance")
DEFAULT_ON = {"office_hours": False, "deadlines": True, "presentation": True, "attendance": True}
OUTBOX_LOCK = "outbox"
MAX_ATTEMPTS = 8


@dataclass(frozen=True)
class Planned:
    """A notification a source wants to exist."""

    source_key: str
    kind: str
    audience: str  # channel, dm (one user), dm_all (every student with `category` on), staff (ta-log)
    text: str
    due_at: datetime
    event_at: datetime | None = None
    category: str | None = None
    user_id: int | None = None


def direct_dm(source_key: str, user_id: int, text: str, now: datetime) -> Planned:
    """A one-off DM to one member, due now, whatever their reminder settings (a service tells them
    about a change it makes; plan it with `enqueue` in the transaction of that change)."""
    return Planned(source_key, "direct_dm", "dm", text, now, user_id=user_id)


def staff_note(source_key: str, text: str, now: datetime) -> Planned:
    """A one-off line in the staff's log channel (ta-log), due now; mentions in it never ping."""
    return Planned(source_key, "staff_note", "staff", text, now)


@dataclass(frozen=True)
class Claimed:
    id: int
    kind: str
    audience: str
    category: str | None
    user_id: int | None
    text: str
    attempts: int
    source_key: str

    @property
    def nonce(self) -> str:
        """Derived from the row, so a retry after a crash is dropped by Discord as a repeat."""
        return f"cb{self.id}"


@dataclass(frozen=True)
class ReplanResult:
    added: int
    updated: int
    skipped: int


def _values(item: Planned) -> dict[str, object]:
    return {
        "source_key": item.source_key,
        "kind": item.kind,
        "category": item.category,
        "audience": item.audience,
        "user_id": item.user_id,
        "text": item.text,
        "due_at": item.due_at,
        "event_at": item.event_at,
        "status": "pending",
        "attempts": 0,
        "fallback": False,
    }


async def enqueue(session: AsyncSession, item: Planned) -> bool:
    """Store one notification (inside the caller's transaction); False if that key exists already."""
    statement = (
        dialect_insert(session)(Notification)
        .values(**_values(item))
        .on_conflict_do_nothing(index_elements=["source_key"])
    )
    result = await session.execute(statement)
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def replan(
    session: AsyncSession, *, prefix: str, desired: Sequence[Planned], now: datetime
) -> ReplanResult:
    """Make the pending rows under `prefix` match `desired` (inside the caller's transaction).

    New rows whose time has already passed are not created: a reminder is promised only once it
    is stored before it is due. Pending rows the source no longer wants are skipped with a reason;
    skipped rows it wants again (at a time still ahead) are pending again.
    """
    wanted = {item.source_key: item for item in desired}
    rows = (
        await session.scalars(
            select(Notification)
            .where(Notification.source_key.startswith(prefix, autoescape=True))
            .with_for_update()
        )
    ).all()
    existing = {row.source_key: row for row in rows}
    added = updated = skipped = 0
    for key, item in wanted.items():
        row = existing.get(key)
        if row is None:
            if item.due_at >= now and await enqueue(session, item):
                added += 1
        elif row.status == "skipped" and item.due_at >= now:
            # wanted again (a deadline added back, a cancelled session moved): a skipped row was
            # never sent, so it can come back to life without any risk of a second copy
            row.due_at, row.text, row.event_at = item.due_at, item.text, item.event_at
            row.status, row.error, row.attempts, row.claimed_at = "pending", None, 0, None
            updated += 1
        elif row.status == "pending" and (
            row.due_at != item.due_at or row.text != item.text or row.event_at != item.event_at
        ):
            row.due_at, row.text, row.event_at = item.due_at, item.text, item.event_at
            updated += 1
    for key, row in existing.items():
        parent = key.split("#", 1)[0]  # rows expanded from a dm_all parent follow their parent
        if parent not in wanted and row.status == "pending":
            row.status, row.error = "skipped", "its source was cancelled or changed"
            skipped += 1
    return ReplanResult(added, updated, skipped)


async def recover(db: Database) -> int:
    """At start-up (one bot process): rows claimed by a process that died go back to pending.
    Their nonce makes Discord drop a second copy if the first send did get through."""
    async with db.write() as session:
        result = await session.execute(
            update(Notification)
            .where(Notification.status == "claimed")
            .values(status="pending", claimed_at=None)
        )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def claim_due(
    db: Database, *, now: datetime, lease: timedelta, limit: int = 50, expired: list[int] | None = None
) -> list[Claimed]:
    """Claim due rows for sending (a lease: a claim older than `lease` is claimable again).

    Rows whose event has already passed are marked skipped with the reason, logged and audited,
    never silently dropped; their ids are appended to `expired` when given. On PostgreSQL,
    FOR UPDATE SKIP LOCKED lets dispatchers share the work.
    """
    async with db.write() as session:
        due = or_(
            and_(Notification.status == "pending", Notification.due_at <= now),
            and_(Notification.status == "claimed", Notification.claimed_at < now - lease),
        )
        rows = (
            await session.scalars(
                select(Notification)
                .where(due)
                .order_by(Notification.due_at, Notification.id)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
        ).all()
        claimed = []
        for row in rows:
            if row.event_at is not None and row.event_at <= now:
                row.status, row.error = (
                    "skipped",
                    f"the event had passed ({row.event_at:%Y-%m-%d %H:%M} UTC) when it could be sent",
                )
                log.warning("Skipped reminder %s (%s): %s", row.id, row.source_key, row.error)
                audit(
                    session,
                    at=now,
                    actor_id=None,
                    action="notify.skip",
                    target_id=row.user_id,
                    notification=row.id,
                    source=row.source_key,
                    reason=row.error,
                )
                if expired is not None:
                    expired.append(row.id)
                continue
            row.status, row.claimed_at, row.attempts = "claimed", now, row.attempts + 1
            claimed.append(
                Claimed(
                    row.id,
                    row.kind,
                    row.audience,
                    row.category,
                    row.user_id,
                    row.text,
                    row.attempts,
                    row.source_key,
                )
            )
        return claimed


async def claim_key(db: Database, source_key: str, *, now: datetime) -> Claimed | None:
    """Claim one pending row by its key, to send it at once (a command whose reply links to the
    post); None when it is not pending any more (sent, or claimed by the dispatcher)."""
    async with db.write() as session:
        row = await session.scalar(
            select(Notification)
            .where(Notification.source_key == source_key, Notification.status == "pending")
            .with_for_update()
        )
        if row is None:
            return None
        row.status, row.claimed_at, row.attempts = "claimed", now, row.attempts + 1
        return Claimed(
            row.id, row.kind, row.audience, row.category, row.user_id, row.text, row.attempts, row.source_key
        )


async def next_due(db: Database) -> datetime | None:
    async with db.read() as session:
        return await session.scalar(
            select(Notification.due_at)
            .where(Notification.status == "pending")
            .order_by(Notification.due_at)
            .limit(1)
        )


@dataclass(frozen=True)
class Backlog:
    """Rows not yet sent (pending, or claimed by a send in progress), and how many of them are due."""

    pending: int
    due: int


async def backlog(db: Database, *, now: datetime) -> Backlog:
    """Count the rows not yet sent (for health checks): one query. Raises the database's errors."""
    async with db.read() as session:
        row = (
            await session.execute(
                select(
                    func.count(),
                    func.coalesce(func.sum(case((Notification.due_at <= now, 1), else_=0)), 0),
                ).where(Notification.status.in_(("pending", "claimed")))
            )
        ).one()
        return Backlog(pending=int(row[0]), due=int(row[1]))


async def mark_sent(
    db: Database, notification_id: int, *, now: datetime, fallback: bool = False, note: str | None = None
) -> None:
    async with db.write() as session:
        row = await session.get(Notification, notification_id, with_for_update=True)
        if row is not None:
            row.status, row.sent_at, row.fallback, row.error = "sent", now, fallback, note


async def mark_skipped(db: Database, notification_id: int, *, reason: str) -> None:
    async with db.write() as session:
        row = await session.get(Notification, notification_id, with_for_update=True)
        if row is not None:
            row.status, row.error = "skipped", reason


async def mark_retry(
    db: Database, notification_id: int, *, error: str, retry_at: datetime, now: datetime
) -> bool:
    """Back to pending for a later try; after MAX_ATTEMPTS the row fails (logged and audited).
    True when it failed for good."""
    async with db.write() as session:
        row = await session.get(Notification, notification_id, with_for_update=True)
        if row is None:
            return False
        row.error = error[:500]
        if row.attempts >= MAX_ATTEMPTS:
            row.status = "failed"
            log.error("Notification %s failed after %s attempts: %s", row.id, row.attempts, error)
            audit(
                session,
                at=now,
                actor_id=None,
                action="notify.fail",
                target_id=row.user_id,
                notification=row.id,
                error=error[:200],
            )
            return True
        row.status, row.due_at, row.claimed_at = "pending", retry_at, None
        return False


async def expand(db: Database, parent: Claimed, recipients: Sequence[int], *, now: datetime) -> int:
    """Turn a due `dm_all` row into one `dm` row per recipient and mark the parent sent, atomically;
    safe to repeat after a crash (child keys are unique)."""
    async with db.write() as session:
        parent_row = await session.get(Notification, parent.id, with_for_update=True)
        if parent_row is None or parent_row.status == "sent":
            return 0
        created = 0
        for user_id in recipients:
            child = Planned(
                source_key=f"{parent_row.source_key}#{user_id}",
                kind=parent_row.kind,
                audience="dm",
                text=parent_row.text,
                due_at=now,
                event_at=parent_row.event_at,
                category=parent_row.category,
                user_id=user_id,
            )
            created += int(await enqueue(session, child))
        parent_row.status, parent_row.sent_at = "sent", now
        return created


# ---- preferences -----------------------------------------------------------------------------
async def enabled_for(session: AsyncSession, category: str, user_ids: Sequence[int]) -> list[int]:
    """Those of `user_ids` who have `category` on (explicitly, or by its default)."""
    choices = {
        row.discord_id: row.enabled
        for row in (
            await session.scalars(
                select(ReminderPreference).where(
                    ReminderPreference.category == category, ReminderPreference.discord_id.in_(user_ids)
                )
            )
        ).all()
    }
    default = DEFAULT_ON.get(category, True)
    return [uid for uid in user_ids if choices.get(uid, default)]
