"""Autofill: a plan placing every student without a group (topping up open groups, smallest first,
then new "Team N" groups of even size), shown to the staff and applied only if groups have not changed
since (its digest), with a DM to each placed student planned in the same transaction."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from bot.db import audit
from bot.db.models import GroupMember
from bot.errors import Conflict
from bot.services import Services
from bot.services.groups.core import GROUPS_LOCK, group_info, group_infos, new_group, tell
from bot.services.students import ensure_student


@dataclass(frozen=True)
class PlannedGroup:
    group_id: int | None  # None for a new group
    name: str
    existing: tuple[int, ...]
    added: tuple[int, ...]


@dataclass(frozen=True)
class AutofillPlan:
    groups: tuple[PlannedGroup, ...]
    digest: str  # identifies the state the plan was made from; Confirm applies only if unchanged

    @property
    def placed(self) -> int:
        return sum(len(g.added) for g in self.groups)


def plan_placement(
    existing: Sequence[tuple[int, Sequence[int]]], unplaced: Sequence[int], max_size: int
) -> tuple[dict[int, list[int]], list[list[int]]]:
    """Pure: top up existing groups below `max_size` (smallest first), then split the rest into
    ceil(n / max_size) new groups whose sizes differ by at most one. Returns (additions per existing
    group id, new groups)."""
    queue = list(unplaced)
    additions: dict[int, list[int]] = {}
    sizes = {group_id: len(members) for group_id, members in existing}
    while queue:
        open_groups = [g for g, n in sizes.items() if n < max_size]
        if not open_groups:
            break
        smallest = min(open_groups, key=lambda g: (sizes[g], g))
        additions.setdefault(smallest, []).append(queue.pop(0))
        sizes[smallest] += 1
    count = math.ceil(len(queue) / max_size) if queue else 0
    new_groups: list[list[int]] = [[] for _ in range(count)]
    for index, student in enumerate(queue):
        new_groups[index % count].append(student)
    return additions, new_groups


async def plan_autofill(services: Services, *, student_ids: Sequence[int]) -> AutofillPlan:
    """A plan placing every student in `student_ids` who has no group. Nothing is changed."""
    async with services.db.read() as session:
        return await _plan(services, session, student_ids)


async def _plan(services: Services, session: AsyncSession, student_ids: Sequence[int]) -> AutofillPlan:
    infos = await group_infos(services, session)
    grouped = {m for g in infos for m in g.members}
    unplaced = sorted(set(student_ids) - grouped)
    additions, new_groups = plan_placement(
        [(g.id, g.members) for g in infos], unplaced, services.config.groups.max_size
    )
    taken = {g.name.casefold() for g in infos}
    planned = [
        PlannedGroup(g.id, g.name, g.members, tuple(additions[g.id])) for g in infos if g.id in additions
    ]
    number = 1
    for members in new_groups:
        while f"team {number}" in taken:
            number += 1
        planned.append(PlannedGroup(None, f"Team {number}", (), tuple(members)))
        taken.add(f"team {number}")
    state = repr(sorted((g.id, g.members) for g in infos)) + repr(unplaced)
    return AutofillPlan(tuple(planned), hashlib.sha256(state.encode()).hexdigest()[:16])


async def apply_autofill(
    services: Services, *, actor_id: int, student_ids: Sequence[int], digest: str
) -> AutofillPlan:
    """Apply the plan made from the same state (`digest`), in one transaction, which also plans the
    DM telling each placed student their group. Raises Conflict when groups changed since the plan
    was shown."""
    now = services.now()
    async with services.db.write(GROUPS_LOCK) as session:
        plan = await _plan(services, session, student_ids)
        if plan.digest != digest:
            raise Conflict("Groups changed since that plan was made; run `/ta group autofill` again.")
        placed: list[tuple[int, tuple[int, ...]]] = []  # (group id, its new members)
        for planned in plan.groups:
            if planned.group_id is None:
                group_id = (await new_group(session, planned.name, at=now, by=actor_id)).id
            else:
                group_id = planned.group_id
            for discord_id in planned.added:
                await ensure_student(session, discord_id=discord_id, discord_name=None, joined_at=now)
                session.add(GroupMember(group_id=group_id, discord_id=discord_id, joined_at=now))
            placed.append((group_id, planned.added))
        await session.flush()
        for group_id, added in placed:
            info = await group_info(services, session, group_id)
            for discord_id in added:
                others = ", ".join(f"<@{m}>" for m in info.members if m != discord_id)
                company = f" with {others}" if others else " (on your own for now)"
                text = f"The staff placed you in project group {info.name}{company}."
                await tell(session, f"group-autofill:{group_id}", discord_id, text, now)
        audit(
            session,
            at=now,
            actor_id=actor_id,
            action="group.autofill",
            placed=plan.placed,
            groups={g.name: list(g.added) for g in plan.groups},
        )
        return plan
