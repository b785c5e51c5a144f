"""Permission arithmetic: a member's permissions in a channel by Discord's rules
(`channel_permissions`), what a member with only one course role — or the bot — may do in a channel
(`Context`), the overwrites a channel should have with a reason per change (`Wanted`), and how a
change of overwrites is written in the plan."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from bot.config import Config
from bot.setup_plan.bits import ADMINISTRATOR, ALL_PERMISSIONS, VIEW_CHANNEL, permission_names
from bot.setup_plan.items import BOT, EVERYONE, OverwriteSpec, Target
from bot.setup_plan.roles import ROLE_KEYS, RoleSlot
from bot.setup_plan.snapshot import Overwrite, ServerState

Overwrites = dict[Target, tuple[int, int]]


def channel_permissions(
    base: int, overwrites: Mapping[Target, tuple[int, int]], roles: Iterable[Target], member: Target | None
) -> int:
    """A member's permissions in a channel, by Discord's rules: server permissions (`base`), then
    @everyone's overwrite, then the member's roles' overwrites together, then the member's own.
    Without View Channel a member has no permission in the channel."""
    if base & ADMINISTRATOR:
        return ALL_PERMISSIONS
    allow, deny = overwrites.get(EVERYONE, (0, 0))
    perms = (base & ~deny) | allow
    allow = deny = 0
    for role in roles:
        role_allow, role_deny = overwrites.get(role, (0, 0))
        allow, deny = allow | role_allow, deny | role_deny
    perms = (perms & ~deny) | allow
    if member is not None:
        allow, deny = overwrites.get(member, (0, 0))
        perms = (perms & ~deny) | allow
    return perms if perms & VIEW_CHANNEL else 0


@dataclass
class Context:
    config: Config
    server: ServerState
    roles: dict[str, RoleSlot]
    by_role_id: dict[int, Target] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for slot in self.roles.values():
            if slot.role is not None:
                self.by_role_id.setdefault(slot.role.id, slot.target)

    def usable(self, key: str) -> RoleSlot | None:
        """The slot of a course role that exists or will be created (not a missing id)."""
        slot = self.roles[key]
        return None if slot.missing_id else slot

    def target_of(self, overwrite: Overwrite) -> Target:
        if overwrite.is_role:
            if overwrite.target_id == self.server.guild_id:
                return EVERYONE
            return self.by_role_id.get(overwrite.target_id, Target("role", id=overwrite.target_id))
        if overwrite.target_id == self.server.bot_id:
            return BOT
        return Target("member", id=overwrite.target_id)

    def target_name(self, target: Target) -> str:
        if target == EVERYONE:
            return "@everyone"
        if target == BOT:
            return self.server.bot_name
        if target.kind == "course_role":
            return self.roles[target.key].name
        if target.kind == "role":
            role = self.server.role(target.id)
            return role.name if role else f"role {target.id}"
        return f"member {target.id}"

    def member_permissions(self, overwrites: Overwrites, key: str | None) -> int:
        """In a channel: a member with only the course role `key` (None: with no role at all)."""
        base = self.server.everyone_permissions
        roles: list[Target] = []
        if key is not None:
            slot = self.roles[key]
            base |= slot.role.permissions if slot.role else 0
            roles.append(slot.target)
        return channel_permissions(base, overwrites, roles, None)

    def bot_channel_permissions(self, overwrites: Overwrites) -> int:
        roles = [self.by_role_id.get(i, Target("role", id=i)) for i in self.server.bot_role_ids]
        return channel_permissions(self.server.bot_permissions, overwrites, roles, BOT)


class Wanted:
    """The overwrites a channel should have, built from its current ones, with a reason per change."""

    def __init__(self, current: Overwrites) -> None:
        self.overwrites: Overwrites = dict(current)
        self.reasons: dict[Target, str] = {}

    def require(
        self,
        target: Target,
        *,
        allow: int = 0,
        deny: int = 0,
        drop_allow: int = 0,
        drop_deny: int = 0,
        reason: str = "",
    ) -> None:
        old_allow, old_deny = self.overwrites.get(target, (0, 0))
        new_allow = (old_allow | allow) & ~drop_allow & ~deny
        new_deny = (old_deny | deny) & ~drop_deny & ~allow
        if (new_allow, new_deny) != (old_allow, old_deny):
            self.overwrites[target] = (new_allow, new_deny)
            if reason and target not in self.reasons:
                self.reasons[target] = reason


def describe_change(old: tuple[int, int], new: tuple[int, int]) -> str:
    parts = []
    if new[0] & ~old[0]:
        parts.append(f"allow {permission_names(new[0] & ~old[0])}")
    if new[1] & ~old[1]:
        parts.append(f"deny {permission_names(new[1] & ~old[1])}")
    if old[0] & ~new[0] & ~new[1]:
        parts.append(f"drop allow {permission_names(old[0] & ~new[0] & ~new[1])}")
    if old[1] & ~new[1] & ~new[0]:
        parts.append(f"drop deny {permission_names(old[1] & ~new[1] & ~new[0])}")
    return ", ".join(parts)


def target_order(target: Target) -> tuple[int, int, int]:
    kinds = {"everyone": 0, "course_role": 1, "role": 2, "member": 3, "bot": 4}
    key = ROLE_KEYS.index(target.key) if target.kind == "course_role" else 0
    return kinds[target.kind], key, target.id


def describe_overwrites(ctx: Context, overwrites: Iterable[OverwriteSpec]) -> str:
    return "; ".join(
        f"{ctx.target_name(spec.target)} {describe_change((0, 0), (spec.allow, spec.deny))}"
        for spec in overwrites
    )
