"""The one audit helper every service uses: call it inside the write transaction it describes."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.tables import AuditEntry


def audit(
    session: AsyncSession,
    *,
    at: datetime,
    actor_id: int | None,
    action: str,
    target_id: int | None = None,
    **details: Any,
) -> AuditEntry:
    """Add an audit row to `session` (committed or rolled back with the change it records)."""
    entry = AuditEntry(
        **audit_values(at=at, actor_id=actor_id, action=action, target_id=target_id, **details)
    )
    session.add(entry)
    return entry


def audit_values(
    *, at: datetime, actor_id: int | None, action: str, target_id: int | None = None, **details: Any
) -> dict[str, Any]:
    """The columns of an audit row, for a bulk insert of many (`session.execute(insert(AuditEntry), rows)`)."""
    return {
        "at": at,
        "actor_id": actor_id,
        "action": action,
        "target_id": target_id,
        "details": json.dumps(details, ensure_ascii=False, sort_keys=True, default=str),
    }


async def recent(session: AsyncSession, *, target_id: int | None = None, limit: int = 20) -> list[AuditEntry]:
    """Newest audit rows first, optionally about one member (as actor or target)."""
    query = select(AuditEntry).order_by(AuditEntry.at.desc(), AuditEntry.id.desc()).limit(limit)
    if target_id is not None:
        query = query.where((AuditEntry.target_id == target_id) | (AuditEntry.actor_id == target_id))
    return list((await session.scalars(query)).all())
