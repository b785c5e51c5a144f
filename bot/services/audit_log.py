"""Reading the audit log for the staff: the newest entries (about one member, or all), with their
details decoded, for `/ta audit` and `/ta student`. Writing it is `bot/db/audit.py`'s, inside the
transaction of each change."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.db.audit import recent
from bot.services import Services


@dataclass(frozen=True)
class AuditLine:
    at: datetime
    actor_id: int | None  # None: the bot itself
    target_id: int | None
    action: str
    details: dict[str, Any]


def _details(text: str | None) -> dict[str, Any]:
    """An entry's details; an entry whose details are not a JSON object shows none. Raises nothing."""
    try:
        data = json.loads(text or "{}")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


async def recent_entries(
    services: Services, *, member_id: int | None = None, limit: int = 20
) -> list[AuditLine]:
    """Newest first, optionally only those about one member (as actor or target)."""
    async with services.db.read() as session:
        entries = await recent(session, target_id=member_id, limit=limit)
    return [AuditLine(e.at, e.actor_id, e.target_id, e.action, _details(e.details)) for e in entries]
