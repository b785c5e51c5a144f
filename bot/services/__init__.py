"""Feature services: plain async code that owns the rules. No discord import here.

Each service function takes the `Services` bundle (database, clock, config, calendar) first.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.calendar import CourseCalendar
from bot.clock import Clock
from bot.config import Config
from bot.db import Database


@dataclass(frozen=True)
class Services:
    """What every service needs, injected once at start-up."""

    db: Database
    clock: Clock
    config: Config
    calendar: CourseCalendar

    def now(self) -> datetime:
        return self.clock.now()

    async def record(
        self, *, actor_id: int | None, action: str, target_id: int | None = None, **details: Any
    ) -> None:
        """Audit an action that changed nothing in the database (e.g. an announcement posted)."""
        from bot.db import audit

        async with self.db.write() as session:
            audit(session, at=self.now(), actor_id=actor_id, action=action, target_id=target_id, **details)
