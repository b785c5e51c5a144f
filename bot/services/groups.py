"""Project groups: create, join by code, invite, leave, titles, locking, staff moves, autofill.

Rules (under any concurrency): a group never has more than `groups.max_size` members; a student is
in at most one group; names are unique ignoring case; a locked group changes only through staff.
Every change runs in one `db.write(GROUPS_LOCK)` transaction and is audited; whoever it must be
told (the inviter of an answered invitation, a student the staff moved or placed) gets a DM planned in
the outbox in that transaction.
"""

from __future__ import annotations

import hashlib
import math
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db import audit
from bot.db.models import Group, GroupInvite, GroupMember
from bot.db.settings import get_setting, put_setting
from bot.errors import Conflict, InvalidInput, NotAllowed, NotFound
from bot.notify.outbox import direct_dm, enqueue
from bot.services import Services
from bot.services.codes import UNAMBIGUOUS, normalise, random_code
from bot.services.students import ensure_student
from bot.services.text import require_visible

GROUPS_LOCK = "groups"
LOCK_OVERRIDE = "groups.override"
CODE_ALPHABET = UNAMBIGUOUS
CODE_LENGTH = 6
NAME_MAX, TITLE_MAX = 40, 200
_NAME_FORBIDDEN = re.compile(r"[@#<>`*_~|\\:]|https?://", re.IGNORECASE)


@dataclass(frozen=True)
class GroupInfo:
    id: int
    name: str
    invite_code: str
    title: str
    members: tuple[int, ...]  # discord ids, in joining order
    locked: bool  # this group, or every group by the deadline or the staff
    channel_id: int | None
    role_id: int | None
    max_size: int

    @property
    def is_full(self) -> bool:
        return len(self.members) >= self.max_size


@dataclass(frozen=True)
class Departure:
    group: GroupInfo  # as it was before the member left
    dissolved: bool


@dataclass(frozen=True)
class InviteInfo:
    id: int
    group: GroupInfo
    inviter_id: int
    invitee_id: int
    status: str
    expires_at: datetime


@dataclass(frozen=True)
class LockState:
    all_locked: bool
    lock_at: datetime | None
    override: str | None  # "locked" / "unlocked" when the staff forced it


# ---- validation ----------------------------------------------------------------------------
def clean_group_name(name: str) -> str:
    """Collapse whitespace; 1–40 characters, something visible (`text.require_visible`), no
    mentions, links or markdown. Raises InvalidInput."""
    cleaned = " ".join(name.split())
    if not 1 <= len(cleaned) <= NAME_MAX:
        raise InvalidInput(f"A group name must be 1–{NAME_MAX} characters.")
    require_visible(cleaned, "A group name")
    if _NAME_FORBIDDEN.search(cleaned) or any(not ch.isprintable() for ch in cleaned):
        raise InvalidInput(
            "A group name cannot contain mentions, links or formatting characters (@ # < > ` * _ ~ | \\ :)."
        )
    return cleaned


def clean_title(text: str) -> str:
    """Collapse whitespace; 1–200 characters, something visible, no mentions. Raises InvalidInput."""
    cleaned = " ".join(text.split())
    if not 1 <= len(cleaned) <= TITLE_MAX:
        raise InvalidInput(f"A project title must be 1–{TITLE_MAX} characters.")
    require_visible(cleaned, "A project title")
    if "@everyone" in cleaned or "@here" in cleaned or re.search(r"<[@#][!&]?\d+>", cleaned):
        raise InvalidInput("A project title cannot contain mentions.")
    return cleaned


def new_code() -> str:
    return random_code(CODE_LENGTH)


async def _tell(session: AsyncSession, event: str, discord_id: int, text: str, now: datetime) -> None:
    """Plan a DM about a change inside its transaction (`event` names it in the row's unique key)."""
    await enqueue(session, direct_dm(f"{event}:{discord_id}:{secrets.token_hex(6)}", discord_id, text, now))


# ---- reading ----------------------------------------------------------------------------------
async def lock_state(services: Services, session: AsyncSession) -> LockState:
    lock_at = services.calendar.resolve_moment(services.config.groups.lock_at)
    value = await get_setting(session, LOCK_OVERRIDE)
    override = value if value in ("locked", "unlocked") else None
    scheduled = lock_at is not None and services.now() >= lock_at
    return LockState(scheduled if override is None else override == "locked", lock_at, override)


async def _infos(
    services: Services, session: AsyncSession, ids: Sequence[int] | None = None
) -> list[GroupInfo]:
    query = select(Group).order_by(func.lower(Group.name))
    if ids is not None:
        query = query.where(Group.id.in_(ids))
    groups = list((await session.scalars(query)).all())
    members: dict[int, list[int]] = {g.id: [] for g in groups}
    rows = await session.execute(
        select(GroupMember.group_id, GroupMember.discord_id)
        .where(GroupMember.group_id.in_(list(members)))
        .order_by(GroupMember.joined_at, GroupMember.id)
    )
    for group_id, discord_id in rows.all():
        members[group_id].append(discord_id)
    state = await lock_state(services, session)
    size = services.config.groups.max_size
    return [
        GroupInfo(
            g.id,
            g.name,
            g.invite_code,
            g.title,
            tuple(members[g.id]),
            g.locked or state.all_locked,
            g.channel_id,
            g.role_id,
            size,
        )
        for g in groups
    ]


async def _info(services: Services, session: AsyncSession, group_id: int) -> GroupInfo:
    infos = await _infos(services, session, [group_id])
    if not infos:
        raise NotFound("That group no longer exists.")
    return infos[0]


async def _membership(session: AsyncSession, discord_id: int) -> GroupMember | None:
    return await session.scalar(select(GroupMember).where(GroupMember.discord_id == discord_id))


async def all_groups(services: Services) -> list[GroupInfo]:
    async with services.db.read() as session:
        return await _infos(services, session)


async def group_of(services: Services, discord_id: int) -> GroupInfo | None:
    async with services.db.read() as session:
        membership = await _membership(session, discord_id)
        return await _info(services, session, membership.group_id) if membership else None


async def find_group(services: Services, name: str) -> GroupInfo:
    """The group with this name (ignoring case). Raises NotFound."""
    async with services.db.read() as session:
        group = await session.scalar(select(Group).where(Group.name_key == " ".join(name.split()).casefold()))
        if group is None:
            raise NotFound(f"There is no group called `{name[:40]}`; see `/group list`.")
        return await _info(services, session, group.id)


async def grouped_students(services: Services) -> set[int]:
    async with services.db.read() as session:
        return set((await session.scalars(select(GroupMember.discord_id))).all())


async def _new_group(session: AsyncSession, name: str, *, at: datetime, by: int | None) -> Group:
    """A new, empty group with a fresh invite code (unique among groups)."""
    code = new_code()
    while await session.scalar(select(Group.id).where(Group.invite_code == code)) is not None:
        code = new_code()
    group = Group(
        name=name,
        name_key=name.casefold(),
        invite_code=code,
        title="",
        locked=False,
        created_at=at,
        created_by=by,
    )
    session.add(group)
    await session.flush()
    return group


# ---- changes by students ----------------------------------------------------------------------
async def _require_unlocked(services: Services, session: AsyncSession, group: Group | None = None) -> None:
    state = await lock_state(services, session)
    if state.all_locked or (group is not None and group.locked):
        raise NotAllowed("Groups are locked; ask the staff to move you (`/ta group move`).")


async def _add_member(
    services: Services, session: AsyncSession, group: Group, discord_id: int, now: datetime
) -> None:
    count = (
        await session.scalar(
            select(func.count()).select_from(GroupMember).where(GroupMember.group_id == group.id)
        )
        or 0
    )
    if count >= services.config.groups.max_size:
        raise Conflict(f"Group {group.name} is full ({services.config.groups.max_size} members).")
    session.add(GroupMember(group_id=group.id, discord_id=discord_id, joined_at=now))


async def create(services: Services, *, discord_id: int, discord_name: str | None, name: str) -> GroupInfo:
    """Start a group with the creator in it. Raises InvalidInput, NotAllowed (locked) or Conflict
    (already in a group, name taken)."""
    name = clean_group_name(name)
    now = services.now()
    async with services.db.write(GROUPS_LOCK) as session:
        await _require_unlocked(services, session)
        await ensure_student(session, discord_id=discord_id, discord_name=discord_name, joined_at=now)
        current = await _membership(session, discord_id)
        if current is not None:
            existing = await session.get(Group, current.group_id)
            raise Conflict(
                f"You are already in group {existing.name if existing else '?'}; `/group leave` first."
            )
        if await session.scalar(select(Group.id).where(Group.name_key == name.casefold())) is not None:
            raise Conflict(f"The name `{name}` is taken; choose another.")
        group = await _new_group(session, name, at=now, by=discord_id)
        session.add(GroupMember(group_id=group.id, discord_id=discord_id, joined_at=now))
        audit(session, at=now, actor_id=discord_id, action="group.create", target_id=discord_id, group=name)
        await session.flush()
        return await _info(services, session, group.id)


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
        return await _join(services, session, group, discord_id, discord_name, now, action="group.join")


async def _join(
    services: Services,
    session: AsyncSession,
    group: Group,
    discord_id: int,
    discord_name: str | None,
    now: datetime,
    *,
    action: str,
) -> GroupInfo:
    await _require_unlocked(services, session, group)
    await ensure_student(session, discord_id=discord_id, discord_name=discord_name, joined_at=now)
    current = await _membership(session, discord_id)
    if current is not None:
        if current.group_id == group.id:
            raise Conflict(f"You are already in group {group.name}.")
        raise Conflict("You are already in a group; `/group leave` first.")
    await _add_member(services, session, group, discord_id, now)
    audit(session, at=now, actor_id=discord_id, action=action, target_id=discord_id, group=group.name)
    await session.flush()
    return await _info(services, session, group.id)


async def _dissolve_if_empty(
    session: AsyncSession, group: Group, now: datetime, actor_id: int | None
) -> bool:
    left = (
        await session.scalar(
            select(func.count()).select_from(GroupMember).where(GroupMember.group_id == group.id)
        )
        or 0
    )
    if left:
        return False
    await session.execute(delete(GroupInvite).where(GroupInvite.group_id == group.id))
    await session.delete(group)
    audit(session, at=now, actor_id=actor_id, action="group.dissolve", group=group.name)
    return True


async def _own_unlocked_group(
    services: Services, session: AsyncSession, discord_id: int, not_in_one: str
) -> tuple[GroupMember, Group]:
    """The caller's membership and group (locked for the transaction). Raises Conflict with
    `not_in_one` when they have none, or NotAllowed when groups are locked."""
    membership = await _membership(session, discord_id)
    if membership is None:
        raise Conflict(not_in_one)
    group = await session.get(Group, membership.group_id, with_for_update=True)
    assert group is not None
    await _require_unlocked(services, session, group)
    return membership, group


async def leave(services: Services, *, discord_id: int) -> Departure:
    """Leave your group; an emptied group is dissolved. Raises Conflict (no group) or NotAllowed (locked)."""
    now = services.now()
    async with services.db.write(GROUPS_LOCK) as session:
        membership, group = await _own_unlocked_group(
            services, session, discord_id, "You are not in a group."
        )
        before = await _info(services, session, group.id)
        await session.delete(membership)
        audit(
            session, at=now, actor_id=discord_id, action="group.leave", target_id=discord_id, group=group.name
        )
        await session.flush()
        return Departure(before, await _dissolve_if_empty(session, group, now, discord_id))


async def set_title(services: Services, *, discord_id: int, text: str) -> GroupInfo:
    """Set your group's project title. Raises InvalidInput, Conflict (no group) or NotAllowed (locked)."""
    title = clean_title(text)
    now = services.now()
    async with services.db.write(GROUPS_LOCK) as session:
        _, group = await _own_unlocked_group(
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
        return await _info(services, session, group.id)


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
        _, group = await _own_unlocked_group(
            services, session, inviter_id, "You are not in a group; `/group create` first."
        )
        if await _membership(session, invitee_id) is not None:
            raise Conflict("They are already in a group.")
        info = await _info(services, session, group.id)
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
                await _info(services, session, group.id),
                row.inviter_id,
                discord_id,
                row.status,
                row.expires_at,
            )
        if accept:
            info = await _join(
                services, session, group, discord_id, discord_name, now, action="group.invite_accept"
            )
            row.status = "accepted"
        else:
            info = await _info(services, session, group.id)
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
        await _tell(
            session,
            f"group-invite-answer:{row.id}",
            row.inviter_id,
            f"<@{discord_id}> {row.status} your invitation to group {group.name}.",
            now,
        )
        return InviteInfo(row.id, info, row.inviter_id, discord_id, row.status, row.expires_at)


# ---- staff ------------------------------------------------------------------------------------
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
        membership = await _membership(session, discord_id)
        if membership is None and target is None:
            raise Conflict("They are not in a group.")
        if membership is not None and target is not None and membership.group_id == target.id:
            raise Conflict(f"They are already in {target.name}.")
        left = left_dissolved = None
        if membership is not None:
            old = await session.get(Group, membership.group_id, with_for_update=True)
            assert old is not None
            left = await _info(services, session, old.id)
            await session.delete(membership)
            await session.flush()
            left_dissolved = await _dissolve_if_empty(session, old, now, actor_id)
        joined = None
        if target is not None:
            await _add_member(services, session, target, discord_id, now)
            await session.flush()
            joined = await _info(services, session, target.id)
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
        await _tell(session, "group-move", discord_id, f"The staff moved you {' and '.join(parts)}.", now)
        return Move(discord_id, left, bool(left_dissolved), joined)


async def set_discord_ids(
    services: Services, *, group_id: int, channel_id: int | None, role_id: int | None
) -> None:
    """Remember the private channel and role made for a group."""
    async with services.db.write(GROUPS_LOCK) as session:
        group = await session.get(Group, group_id, with_for_update=True)
        if group is not None:
            group.channel_id, group.role_id = channel_id, role_id


# ---- autofill ----------------------------------------------------------------------------------
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
    infos = await _infos(services, session)
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
                group_id = (await _new_group(session, planned.name, at=now, by=actor_id)).id
            else:
                group_id = planned.group_id
            for discord_id in planned.added:
                await ensure_student(session, discord_id=discord_id, discord_name=None, joined_at=now)
                session.add(GroupMember(group_id=group_id, discord_id=discord_id, joined_at=now))
            placed.append((group_id, planned.added))
        await session.flush()
        for group_id, added in placed:
            info = await _info(services, session, group_id)
            for discord_id in added:
                others = ", ".join(f"<@{m}>" for m in info.members if m != discord_id)
                company = f" with {others}" if others else " (on your own for now)"
                text = f"The staff placed you in project group {info.name}{company}."
                await _tell(session, f"group-autofill:{group_id}", discord_id, text, now)
        audit(
            session,
            at=now,
            actor_id=actor_id,
            action="group.autofill",
            placed=plan.placed,
            groups={g.name: list(g.added) for g in plan.groups},
        )
        return plan
