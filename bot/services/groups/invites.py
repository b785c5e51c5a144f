"""Invitations: a member invites a classmate (expiring after `groups.invite_hours`), an undeliverable
invitation is withdrawn, and the invitee accepts (joining with every rule re-checked) or declines;
the inviter is told the answer by DM, planned in its transaction."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from bot.db import audit
from bot.db.models import Group, GroupInvite
from bot.errors import Conflict, NotFound
from bot.services import Services
from bot.services.groups.core import (
    GROUPS_LOCK,
    InviteInfo,
    group_info,
    membership_of,
    own_unlocked_group,
    tell,
)
from bot.services.groups.membership import join_group


async def invite(
    services: Services, *, inviter_id: int, invitee_id: int, invitee_is_bot: bool = False
) -> InviteInfo:
    """Invite a classmate into your group (expires after `groups.invite_hours`).
    Raises Conflict (yourself, no group, they have one, full, pending invite) or NotAllowed (locked)."""
    if inviter_id == invitee_id:
        raise Conflict("You cannot invite yourself.")
    if invitee_is_bot:
        raise Conflict("Bots cannot join project groups.")
    now = services.now()
    async with services.db.write(GROUPS_LOCK) as session:
        _, group = await own_unlocked_group(
            services, session, inviter_id, "You are not in a group; `/group create` first."
        )
        if await membership_of(session, invitee_id) is not None:
            raise Conflict("They are already in a group.")
        info = await group_info(services, session, group.id)
        if info.is_full:
            raise Conflict(f"Your group is full ({info.max_size} members).")
        pending = await session.scalar(
            select(GroupInvite.id).where(
                GroupInvite.group_id == group.id,
                GroupInvite.invitee_id == invitee_id,
                GroupInvite.status == "pending",
                GroupInvite.expires_at > now,
            )
        )
        if pending is not None:
            raise Conflict("They already have a pending invitation to your group.")
        row = GroupInvite(
            group_id=group.id,
            inviter_id=inviter_id,
            invitee_id=invitee_id,
            status="pending",
            created_at=now,
            expires_at=now + timedelta(hours=services.config.groups.invite_hours),
        )
        session.add(row)
        await session.flush()
        audit(
            session,
            at=now,
            actor_id=inviter_id,
            action="group.invite",
            target_id=invitee_id,
            group=group.name,
            invite=row.id,
        )
        return InviteInfo(row.id, info, inviter_id, invitee_id, row.status, row.expires_at)


async def withdraw_invite(services: Services, *, invite_id: int) -> None:
    """Cancel an invitation that could not be delivered (DMs closed), so it does not block a new one."""
    async with services.db.write(GROUPS_LOCK) as session:
        row = await session.get(GroupInvite, invite_id, with_for_update=True)
        if row is not None and row.status == "pending":
            row.status, row.decided_at = "cancelled", services.now()


async def answer_invite(
    services: Services, *, invite_id: int, discord_id: int, discord_name: str | None, accept: bool
) -> InviteInfo:
    """Accept (join, with every rule re-checked) or decline an invitation addressed to you; the
    inviter is told by DM. The returned status is accepted, declined or expired. Raises NotFound
    (not yours, group gone), Conflict (answered already, full, in a group) or NotAllowed (locked)."""
    now = services.now()
    async with services.db.write(GROUPS_LOCK) as session:
        row = await session.get(GroupInvite, invite_id, with_for_update=True)
        if row is None or row.invitee_id != discord_id:
            raise NotFound("That invitation is not addressed to you, or its group no longer exists.")
        if row.status != "pending":
            raise Conflict(f"That invitation was already {row.status}.")
        group = await session.get(Group, row.group_id, with_for_update=True)
        if group is None:
            raise NotFound("That group no longer exists.")
        if row.expires_at <= now:
            row.status, row.decided_at = "expired", now
            audit(
                session,
                at=now,
                actor_id=discord_id,
                action="group.invite_expired",
                target_id=row.inviter_id,
                invite=row.id,
            )
            return InviteInfo(
                row.id,
                await group_info(services, session, group.id),
                row.inviter_id,
                discord_id,
                row.status,
                row.expires_at,
            )
        if accept:
            info = await join_group(
                services, session, group, discord_id, discord_name, now, action="group.invite_accept"
            )
            row.status = "accepted"
        else:
            info = await group_info(services, session, group.id)
            row.status = "declined"
            audit(
                session,
                at=now,
                actor_id=discord_id,
                action="group.invite_decline",
                target_id=row.inviter_id,
                group=group.name,
            )
        row.decided_at = now
        await tell(
            session,
            f"group-invite-answer:{row.id}",
            row.inviter_id,
            f"<@{discord_id}> {row.status} your invitation to group {group.name}.",
            now,
        )
        return InviteInfo(row.id, info, row.inviter_id, discord_id, row.status, row.expires_at)
