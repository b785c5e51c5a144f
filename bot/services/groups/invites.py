"""Invitations: a member invites a classmate (expiring after `groups.invite_hours`), and the invitee
accepts (joining with every rule re-checked) or declines; the inviter is told the answer by DM,
planned in its transaction. The invitation reaches the invitee as a `group_invite` outbox row planned
with it; its delivery (the groups cog) adds the Accept/Decline buttons, skips an invitation answered,
withdrawn or expired before it could be sent, and withdraws one Discord refuses to deliver (the
inviter is told, with the invite code to share)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from bot.db import audit
from bot.db.models import Group, GroupInvite
from bot.errors import Conflict, NotFound
from bot.notify.kinds import ReminderKind, ReminderKinds
from bot.notify.outbox import Planned, direct_dm, enqueue
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

INVITE_KIND = "group_invite"
INVITE_PREFIX = "group-invite:"


def register_kinds(services: Services, kinds: ReminderKinds) -> None:
    """The invitation DM: planned once with the invitation (its delivery is the cog's)."""
    kinds.register(ReminderKind(INVITE_KIND))


def invite_text(info: InviteInfo) -> str:
    """The DM that brings an invitation to the invitee (the buttons are added by the delivery)."""
    members = ", ".join(f"<@{member}>" for member in info.group.members) or "nobody yet"
    return (
        f"<@{info.inviter_id}> invites you to project group {info.group.name} ({members}). "
        f"The invitation expires <t:{int(info.expires_at.timestamp())}:R>."
    )


def invite_id_of(source_key: str) -> int:
    """The invitation of a `group_invite` outbox row."""
    return int(source_key.removeprefix(INVITE_PREFIX))


async def invite(
    services: Services, *, inviter_id: int, invitee_id: int, invitee_is_bot: bool = False
) -> InviteInfo:
    """Invite a classmate into your group (expires after `groups.invite_hours`); the invitation's DM
    is planned in the outbox with it. Raises Conflict (yourself, no group, they have one, full, pending invite) or NotAllowed (locked)."""
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
        offer = InviteInfo(row.id, info, inviter_id, invitee_id, row.status, row.expires_at)
        await enqueue(
            session,
            Planned(
                f"{INVITE_PREFIX}{row.id}",
                INVITE_KIND,
                "dm",
                invite_text(offer),
                now,
                event_at=row.expires_at,
                user_id=invitee_id,
            ),
        )
        return offer


async def invite_to_deliver(services: Services, invite_id: int) -> InviteInfo | None:
    """The invitation as it is now, for its DM; None when it or its group is gone."""
    async with services.db.read() as session:
        row = await session.get(GroupInvite, invite_id)
        if row is None or await session.get(Group, row.group_id) is None:
            return None
        info = await group_info(services, session, row.group_id)
        return InviteInfo(row.id, info, row.inviter_id, row.invitee_id, row.status, row.expires_at)


async def withdraw_invite(services: Services, *, invite_id: int, reason: str) -> bool:
    """Cancel a pending invitation that could not be delivered (`reason`, e.g. DMs closed), so it
    does not block a new one; in the same transaction it is audited and the inviter is told by DM,
    with the group's invite code to share instead. False when it was not pending any more."""
    now = services.now()
    async with services.db.write(GROUPS_LOCK) as session:
        row = await session.get(GroupInvite, invite_id, with_for_update=True)
        if row is None or row.status != "pending":
            return False
        group = await session.get(Group, row.group_id)
        if group is None:
            return False
        row.status, row.decided_at = "cancelled", now
        audit(
            session,
            at=now,
            actor_id=None,
            action="group.invite_withdrawn",
            target_id=row.invitee_id,
            group=group.name,
            invite=row.id,
            reason=reason,
        )
        code = group.invite_code
        await enqueue(
            session,
            direct_dm(
                f"group-invite-undelivered:{row.id}",
                row.inviter_id,
                f"Your invitation to <@{row.invitee_id}> (group {group.name}) could not be delivered "
                f"({reason}), so it is withdrawn. Share your invite code instead: `{code}` "
                f"(`/group join code:{code}`).",
                now,
            ),
        )
        return True


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
