"""The staff's side of groups: locking and unlocking every group (overriding `groups.lock_at`) or
one, moving a student between groups whether locked or not (told by DM), and remembering the private
channel and role made for a group."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from bot.db import audit
from bot.db.models import Group
from bot.db.settings import put_setting
from bot.errors import Conflict, NotFound
from bot.services import Services
from bot.services.groups.core import (
    GROUPS_LOCK,
    LOCK_OVERRIDE,
    GroupInfo,
    LockState,
    add_member,
    dissolve_if_empty,
    group_info,
    lock_state,
    membership_of,
    tell,
)
from bot.services.students import ensure_student


async def set_lock(
    services: Services, *, actor_id: int, locked: bool, group_name: str | None = None
) -> LockState:
    """Lock or unlock every group (overriding the deadline), or one group by name. Raises NotFound."""
    now = services.now()
    async with services.db.write(GROUPS_LOCK) as session:
        if group_name is not None:
            group = await session.scalar(
                select(Group).where(Group.name_key == " ".join(group_name.split()).casefold())
            )
            if group is None:
                raise NotFound(f"There is no group called `{group_name[:40]}`.")
            group.locked = locked
            audit(
                session,
                at=now,
                actor_id=actor_id,
                action="group.lock" if locked else "group.unlock",
                group=group.name,
            )
        else:
            await put_setting(session, LOCK_OVERRIDE, "locked" if locked else "unlocked", at=now, by=actor_id)
            audit(session, at=now, actor_id=actor_id, action=f"groups.{'lock' if locked else 'unlock'}")
        await session.flush()
        return await lock_state(services, session)


@dataclass(frozen=True)
class Move:
    discord_id: int
    left: GroupInfo | None  # the group before the move (None if they had none)
    left_dissolved: bool
    joined: GroupInfo | None


async def move(
    services: Services, *, actor_id: int, discord_id: int, discord_name: str | None, group_name: str | None
) -> Move:
    """Staff: move a student into `group_name` (or out of their group when None), locked or not; the
    student is told by DM. Raises NotFound or Conflict (target full, already there, in no group)."""
    now = services.now()
    async with services.db.write(GROUPS_LOCK) as session:
        await ensure_student(session, discord_id=discord_id, discord_name=discord_name, joined_at=now)
        target = None
        if group_name is not None:
            target = await session.scalar(
                select(Group)
                .where(Group.name_key == " ".join(group_name.split()).casefold())
                .with_for_update()
            )
            if target is None:
                raise NotFound(f"There is no group called `{group_name[:40]}`.")
        membership = await membership_of(session, discord_id)
        if membership is None and target is None:
            raise Conflict("They are not in a group.")
        if membership is not None and target is not None and membership.group_id == target.id:
            raise Conflict(f"They are already in {target.name}.")
        left = left_dissolved = None
        if membership is not None:
            old = await session.get(Group, membership.group_id, with_for_update=True)
            assert old is not None
            left = await group_info(services, session, old.id)
            await session.delete(membership)
            await session.flush()
            left_dissolved = await dissolve_if_empty(session, old, now, actor_id)
        joined = None
        if target is not None:
            await add_member(services, session, target, discord_id, now)
            await session.flush()
            joined = await group_info(services, session, target.id)
        audit(
            session,
            at=now,
            actor_id=actor_id,
            action="group.move",
            target_id=discord_id,
            from_group=left.name if left else None,
            to_group=target.name if target else None,
        )
        parts = []
        if left is not None:
            parts.append(f"out of {left.name}" + (" (now dissolved)" if left_dissolved else ""))
        if joined is not None:
            parts.append(f"into {joined.name}")
        await tell(session, "group-move", discord_id, f"The staff moved you {' and '.join(parts)}.", now)
        return Move(discord_id, left, bool(left_dissolved), joined)


async def set_discord_ids(
    services: Services, *, group_id: int, channel_id: int | None, role_id: int | None
) -> None:
    """Remember the private channel and role made for a group."""
    async with services.db.write(GROUPS_LOCK) as session:
        group = await session.get(Group, group_id, with_for_update=True)
        if group is not None:
            group.channel_id, group.role_id = channel_id, role_id
