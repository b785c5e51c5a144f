"""A student's own group: creating one, joining by invite code, leaving (an emptied group is
dissolved) and the project title; each checks the lock and `groups.max_size` in the transaction."""

from __future__ import annotations

import re
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db import audit
from bot.db.models import Group, GroupMember
from bot.errors import Conflict, InvalidInput, NotFound
from bot.services import Services
from bot.services.codes import normalise
from bot.services.groups.core import (
    CODE_ALPHABET,
    CODE_LENGTH,
    GROUPS_LOCK,
    Departure,
    GroupInfo,
    add_member,
    clean_group_name,
    clean_title,
    dissolve_if_empty,
    group_info,
    membership_of,
    new_group,
    own_unlocked_group,
    require_unlocked,
)
from bot.services.students import ensure_student


async def create(services: Services, *, discord_id: int, discord_name: str | None, name: str) -> GroupInfo:
    """Start a group with the creator in it. Raises InvalidInput, NotAllowed (locked) or Conflict
    (already in a group, name taken)."""
    name = clean_group_name(name)
    now = services.now()
    async with services.db.write(GROUPS_LOCK) as session:
        await require_unlocked(services, session)
        await ensure_student(session, discord_id=discord_id, discord_name=discord_name, joined_at=now)
        current = await membership_of(session, discord_id)
        if current is not None:
            existing = await session.get(Group, current.group_id)
            raise Conflict(
                f"You are already in group {existing.name if existing else '?'}; `/group leave` first."
            )
        if await session.scalar(select(Group.id).where(Group.name_key == name.casefold())) is not None:
            raise Conflict(f"The name `{name}` is taken; choose another.")
        group = await new_group(session, name, at=now, by=discord_id)
        session.add(GroupMember(group_id=group.id, discord_id=discord_id, joined_at=now))
        audit(session, at=now, actor_id=discord_id, action="group.create", target_id=discord_id, group=name)
        await session.flush()
        return await group_info(services, session, group.id)


async def join(services: Services, *, discord_id: int, discord_name: str | None, code: str) -> GroupInfo:
    """Join the group with this invite code. Raises NotFound, NotAllowed or Conflict (full, already in one)."""
    code = normalise(code)
    if not re.fullmatch(f"[{CODE_ALPHABET}]{{{CODE_LENGTH}}}", code):
        raise InvalidInput(f"`{code[:12]}` is not an invite code (6 letters and digits).")
    now = services.now()
    async with services.db.write(GROUPS_LOCK) as session:
        group = await session.scalar(select(Group).where(Group.invite_code == code).with_for_update())
        if group is None:
            raise NotFound(f"No group has the invite code `{code}`.")
        return await join_group(services, session, group, discord_id, discord_name, now, action="group.join")


async def join_group(
    services: Services,
    session: AsyncSession,
    group: Group,
    discord_id: int,
    discord_name: str | None,
    now: datetime,
    *,
    action: str,
) -> GroupInfo:
    await require_unlocked(services, session, group)
    await ensure_student(session, discord_id=discord_id, discord_name=discord_name, joined_at=now)
    current = await membership_of(session, discord_id)
    if current is not None:
        if current.group_id == group.id:
            raise Conflict(f"You are already in group {group.name}.")
        raise Conflict("You are already in a group; `/group leave` first.")
    await add_member(services, session, group, discord_id, now)
    audit(session, at=now, actor_id=discord_id, action=action, target_id=discord_id, group=group.name)
    await session.flush()
    return await group_info(services, session, group.id)


async def leave(services: Services, *, discord_id: int) -> Departure:
    """Leave your group; an emptied group is dissolved. Raises Conflict (no group) or NotAllowed (locked)."""
    now = services.now()
    async with services.db.write(GROUPS_LOCK) as session:
        membership, group = await own_unlocked_group(services, session, discord_id, "You are not in a group.")
        before = await group_info(services, session, group.id)
        await session.delete(membership)
        audit(
            session, at=now, actor_id=discord_id, action="group.leave", target_id=discord_id, group=group.name
        )
        await session.flush()
        return Departure(before, await dissolve_if_empty(session, group, now, discord_id))


async def set_title(services: Services, *, discord_id: int, text: str) -> GroupInfo:
    """Set your group's project title. Raises InvalidInput, Conflict (no group) or NotAllowed (locked)."""
    title = clean_title(text)
    now = services.now()
    async with services.db.write(GROUPS_LOCK) as session:
        _, group = await own_unlocked_group(
            services, session, discord_id, "You are not in a group; `/group create` or `/group join` first."
        )
        group.title = title
        audit(
            session,
            at=now,
            actor_id=discord_id,
            action="group.title",
            target_id=discord_id,
            group=group.name,
            title=title,
        )
        await session.flush()
        return await group_info(services, session, group.id)
