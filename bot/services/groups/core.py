"""Groups: the results every group function returns, name and title rules, reading groups (members
in joining order, the lock state from `groups.lock_at` and the staff's override), and the row helpers
every change uses (capacity, dissolving an emptied group, the DMs a change plans)."""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db import audit
from bot.db.models import Group, GroupInvite, GroupMember
from bot.db.settings import get_setting
from bot.errors import Conflict, InvalidInput, NotAllowed, NotFound
from bot.notify.outbox import direct_dm, enqueue
from bot.services import Services
from bot.services.cache import batched
from bot.services.codes import UNAMBIGUOUS, random_code
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


async def tell(session: AsyncSession, event: str, discord_id: int, text: str, now: datetime) -> None:
    """Plan a DM about a change inside its transaction (`event` names it in the row's unique key)."""
    await enqueue(session, direct_dm(f"{event}:{discord_id}:{secrets.token_hex(6)}", discord_id, text, now))


# ---- reading ----------------------------------------------------------------------------------
async def lock_state(services: Services, session: AsyncSession) -> LockState:
    lock_at = services.calendar.resolve_moment(services.config.groups.lock_at)
    value = await get_setting(session, LOCK_OVERRIDE)
    override = value if value in ("locked", "unlocked") else None
    scheduled = lock_at is not None and services.now() >= lock_at
    return LockState(scheduled if override is None else override == "locked", lock_at, override)


async def group_infos(
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


async def group_info(services: Services, session: AsyncSession, group_id: int) -> GroupInfo:
    infos = await group_infos(services, session, [group_id])
    if not infos:
        raise NotFound("That group no longer exists.")
    return infos[0]


async def membership_of(session: AsyncSession, discord_id: int) -> GroupMember | None:
    return await session.scalar(select(GroupMember).where(GroupMember.discord_id == discord_id))


async def all_groups(services: Services) -> list[GroupInfo]:
    async with services.db.read() as session:
        return await group_infos(services, session)


async def group_of(services: Services, discord_id: int) -> GroupInfo | None:
    """The student's group, or None. Concurrent calls share their queries (`cache.batched`): those
    that arrive while one runs are read together in the next."""
    return await batched(services, "groups.of", discord_id, lambda ids: _groups_of(services, ids))


async def _groups_of(services: Services, ids: Sequence[int]) -> dict[int, GroupInfo | None]:
    async with services.db.read() as session:
        rows = await session.execute(
            select(GroupMember.discord_id, GroupMember.group_id).where(GroupMember.discord_id.in_(ids))
        )
        group_of_member = {member: group for member, group in rows.all()}
        found = await group_infos(services, session, list(set(group_of_member.values())))
    infos = {info.id: info for info in found}
    return {discord_id: infos.get(group_of_member.get(discord_id, 0)) for discord_id in ids}


async def find_group(services: Services, name: str) -> GroupInfo:
    """The group with this name (ignoring case). Raises NotFound."""
    async with services.db.read() as session:
        group = await session.scalar(select(Group).where(Group.name_key == " ".join(name.split()).casefold()))
        if group is None:
            raise NotFound(f"There is no group called `{name[:40]}`; see `/group list`.")
        return await group_info(services, session, group.id)


async def grouped_students(services: Services) -> set[int]:
    async with services.db.read() as session:
        return set((await session.scalars(select(GroupMember.discord_id))).all())


async def new_group(session: AsyncSession, name: str, *, at: datetime, by: int | None) -> Group:
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


# ---- row helpers every change uses ---------------------------------------------------------
async def require_unlocked(services: Services, session: AsyncSession, group: Group | None = None) -> None:
    state = await lock_state(services, session)
    if state.all_locked or (group is not None and group.locked):
        raise NotAllowed("Groups are locked; ask the staff to move you (`/ta group move`).")


async def add_member(
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


async def dissolve_if_empty(session: AsyncSession, group: Group, now: datetime, actor_id: int | None) -> bool:
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


async def own_unlocked_group(
    services: Services, session: AsyncSession, discord_id: int, not_in_one: str
) -> tuple[GroupMember, Group]:
    """The caller's membership and group (locked for the transaction). Raises Conflict with
    `not_in_one` when they have none, or NotAllowed when groups are locked."""
    membership = await membership_of(session, discord_id)
    if membership is None:
        raise Conflict(not_in_one)
    group = await session.get(Group, membership.group_id, with_for_update=True)
    assert group is not None
    await require_unlocked(services, session, group)
    return membership, group
