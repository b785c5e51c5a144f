"""Reminder kinds: what the outbox knows of a feature, registered by the feature at start-up.

A kind is a name (the `kind` of the rows it plans) with two optional hooks: `plan`, which (re)plans
every row of the kind from the data as it is now (run at start-up, inside one write transaction
under the outbox lock), and `recipients`, which narrows the students a due `dm_all` row of the kind
fans out to (e.g. only those who have not reviewed yet). The dispatcher sends rows and asks this
registry; it never names a kind. A kind nobody registered (e.g. the generic `direct_dm` and
`staff_note`, or a row left by an older version) is sent as it is, to everyone its audience says.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from bot.db import Database
from bot.notify.outbox import OUTBOX_LOCK, Claimed

PlanFunction = Callable[[AsyncSession], Awaitable[object]]
RecipientFilter = Callable[[Claimed, Sequence[int]], Awaitable[list[int]]]


@dataclass(frozen=True)
class ReminderKind:
    name: str
    plan: PlanFunction | None = None  # re-plans every row of the kind (inside the caller's transaction)
    recipients: RecipientFilter | None = None  # of the candidates, those a `dm_all` row goes to


class ReminderKinds:
    """The registry of one bot: kinds in the order they were registered (the order plans run in)."""

    def __init__(self) -> None:
        self._kinds: dict[str, ReminderKind] = {}

    def register(self, kind: ReminderKind) -> None:
        """Add a kind. Raises ValueError when a kind of that name is registered already."""
        if kind.name in self._kinds:
            raise ValueError(f"reminder kind {kind.name!r} is registered twice")
        self._kinds[kind.name] = kind

    def __iter__(self) -> Iterator[ReminderKind]:
        return iter(self._kinds.values())

    def __contains__(self, name: object) -> bool:
        return name in self._kinds

    async def plan_all(self, db: Database) -> None:
        """At start-up: every kind re-plans its rows, in one write transaction (an error rolls all
        of it back and is raised)."""
        async with db.write(OUTBOX_LOCK) as session:
            for kind in self._kinds.values():
                if kind.plan is not None:
                    await kind.plan(session)

    async def recipients(self, row: Claimed, candidates: Sequence[int]) -> list[int]:
        """Those of `candidates` the kind of `row` sends it to (all of them without a filter)."""
        kind = self._kinds.get(row.kind)
        if kind is None or kind.recipients is None:
            return list(candidates)
        return await kind.recipients(row, candidates)
