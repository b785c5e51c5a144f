"""Reminder kinds: what the outbox knows of a feature, registered by the feature at start-up.

A kind is a name (the `kind` of the rows it plans) with two optional hooks: `plan`, which (re)plans
every row of the kind from the data as it is now (run at start-up, inside one write transaction
under the outbox lock), and `recipients`, which narrows the students a due `dm_all` row of the kind
fans out to (e.g. only those who have not reviewed yet). A feature may also attach a `delivery` for
rows that are not a message to an audience (e.g. creating a thread), or `buttons` for DM rows that
carry them (a swap offer, an invitation): such a DM goes the dispatcher's one way (paced, sent with
the row's nonce, the fallback channel when refused), with the buttons built when it is sent. The dispatcher sends rows and
asks this registry; it never names a kind. A kind nobody registered (e.g. the generic `direct_dm` and
`staff_note`, or a row left by an older version) is sent as it is, to everyone its audience says.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession

from bot.db import Database
from bot.notify.outbox import OUTBOX_LOCK, Claimed

PlanFunction = Callable[[AsyncSession], Awaitable[object]]
RecipientFilter = Callable[[Claimed, Sequence[int]], Awaitable[list[int]]]
# Sends one row its own way (e.g. creates a thread), idempotently (with the row's nonce, or by
# finding what a crashed try made); returns a note for the row, raises discord's errors (retried
# later) or Undeliverable (skipped with the reason).
Delivery = Callable[[Claimed], Awaitable[str | None]]
# The buttons of a DM row, built when it is sent, from the state then; raises Undeliverable when what
# they answer is no longer open (the row is skipped). Only the row's addressee may answer them: a
# refused DM posts them in the fallback channel, where everyone sees them.
Buttons = Callable[[Claimed], Awaitable["discord.ui.View"]]
# Instead of the fallback post when Discord refuses such a DM (e.g. withdraw what it offered): raises
# Undeliverable with the reason the row is skipped for.
Refused = Callable[[Claimed], Awaitable[None]]

if TYPE_CHECKING:
    import discord


class Undeliverable(Exception):
    """A row that can never be delivered (what it refers to is gone, a permission is missing):
    the dispatcher marks it skipped with this reason."""


@dataclass(frozen=True)
class DmButtons:
    """What a feature attached to the DM rows of a kind (see `ReminderKinds.attach_buttons`)."""

    buttons: Buttons
    refused: Refused | None = None


@dataclass(frozen=True)
class ReminderKind:
    name: str
    plan: PlanFunction | None = None  # re-plans every row of the kind (inside the caller's transaction)
    recipients: RecipientFilter | None = None  # of the candidates, those a `dm_all` row goes to


class ReminderKinds:
    """The registry of one bot: kinds in the order they were registered (the order plans run in)."""

    def __init__(self) -> None:
        self._kinds: dict[str, ReminderKind] = {}
        self._deliveries: dict[str, Delivery] = {}
        self._buttons: dict[str, DmButtons] = {}

    def register(self, kind: ReminderKind) -> None:
        """Add a kind. Raises ValueError when a kind of that name is registered already."""
        if kind.name in self._kinds:
            raise ValueError(f"reminder kind {kind.name!r} is registered twice")
        self._kinds[kind.name] = kind

    def attach_delivery(self, name: str, deliver: Delivery) -> None:
        """Deliver the rows of kind `name` with `deliver` instead of by their audience (a feature's
        Discord side does this when it loads). Raises KeyError for a kind nobody registered."""
        if name not in self._kinds:
            raise KeyError(f"reminder kind {name!r} is not registered")
        self._deliveries[name] = deliver

    def delivery(self, name: str) -> Delivery | None:
        """The delivery attached to kind `name`, if any."""
        return self._deliveries.get(name)

    def attach_buttons(self, name: str, buttons: Buttons, *, refused: Refused | None = None) -> None:
        """Send the DM rows of kind `name` with `buttons(row)` (and, when Discord refuses the DM,
        `refused(row)` instead of the fallback post). Raises KeyError for a kind nobody registered."""
        if name not in self._kinds:
            raise KeyError(f"reminder kind {name!r} is not registered")
        self._buttons[name] = DmButtons(buttons, refused)

    def buttons(self, name: str) -> DmButtons | None:
        """The buttons attached to the DM rows of kind `name`, if any."""
        return self._buttons.get(name)

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
