"""`coursebot setup`'s comparison of the course server with the config — pure, no Discord.

`plan_setup(config, server)` takes a plain snapshot of the server (`ServerState`: roles, channels
with their permission overwrites, the bot's roles) and returns a `Plan`: one `PlanItem` per thing
that is missing or wrong, each with the line to show, and the action that fixes it when the bot can
(`CreateRole`, `EditRole`, `CreateChannel`, `SetOverwrite`). `bot/server_setup.py` builds the
snapshot from Discord and applies the actions.

Overwrite targets are symbolic (`Target`): a course role that is created in the same run has no id
yet when the plan is made.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from bot.config import Config, reference_matches

# Discord permission bits (https://discord.com/developers/docs/topics/permissions)
ADD_REACTIONS = 1 << 6
ADMINISTRATOR = 1 << 3
MANAGE_CHANNELS = 1 << 4
MANAGE_GUILD = 1 << 5
VIEW_CHANNEL = 1 << 10
SEND_MESSAGES = 1 << 11
EMBED_LINKS = 1 << 14
ATTACH_FILES = 1 << 15
READ_MESSAGE_HISTORY = 1 << 16
MENTION_EVERYONE = 1 << 17
MANAGE_ROLES = 1 << 28
MANAGE_EVENTS = 1 << 33
CREATE_PUBLIC_THREADS = 1 << 35
SEND_MESSAGES_IN_THREADS = 1 << 38
ALL_PERMISSIONS = (1 << 53) - 1

PERMISSION_NAMES = {
    ADMINISTRATOR: "Administrator",
    MANAGE_CHANNELS: "Manage Channels",
    MANAGE_GUILD: "Manage Server",
    ADD_REACTIONS: "Add Reactions",
    VIEW_CHANNEL: "View Channel",
    SEND_MESSAGES: "Send Messages",
    EMBED_LINKS: "Embed Links",
    ATTACH_FILES: "Attach Files",
    READ_MESSAGE_HISTORY: "Read Message History",
    MENTION_EVERYONE: "Mention Everyone",
    MANAGE_ROLES: "Manage Roles",
    MANAGE_EVENTS: "Manage Events",
    CREATE_PUBLIC_THREADS: "Create Public Threads",
    SEND_MESSAGES_IN_THREADS: "Send Messages in Threads",
}

BOT_POSTS = VIEW_CHANNEL | SEND_MESSAGES | EMBED_LINKS | ATTACH_FILES  # what the bot needs where it posts
ALWAYS_NEEDED = BOT_POSTS | READ_MESSAGE_HISTORY

ROLE_KEYS = ("instructor", "ta", "student")
CHANNEL_KEYS = ("announcements", "ta_log", "fallback")
CHANNEL_TOPICS = {
    "announcements": "Course announcements: students read, the bot and the staff post.",
    "ta_log": "Course staff only: the bot's notices for the TAs and the instructor.",
    "fallback": "The bot mentions you here when it cannot DM you: open your DMs to get reminders privately.",
}


def permission_names(bits: int) -> str:
    """'View Channel, Send Messages' for a set of permission bits (lowest bit first)."""
    names = []
    for bit in range(64):
        if bits & (1 << bit):
            names.append(PERMISSION_NAMES.get(1 << bit, f"permission 1<<{bit}"))
    return ", ".join(names)


# ---- the snapshot ---------------------------------------------------------------------------
@dataclass(frozen=True)
class RoleState:
    """A role on the server; @everyone has the server's id and position 0."""

    id: int
    name: str
    position: int = 1
    permissions: int = 0
    mentionable: bool = False
    managed: bool = False


@dataclass(frozen=True)
class Overwrite:
    """A channel's permission overwrite for a role (`is_role`) or a member."""

    target_id: int
    is_role: bool
    allow: int = 0
    deny: int = 0


@dataclass(frozen=True)
class ChannelState:
    """A channel; `is_text` for the kinds the bot posts in (text and announcement channels)."""

    id: int
    name: str
    is_text: bool = True
    overwrites: tuple[Overwrite, ...] = ()


@dataclass(frozen=True)
class ServerState:
    """What `coursebot setup` reads from the server, in Discord's order (roles by position)."""

    guild_id: int
    name: str
    roles: tuple[RoleState, ...]
    channels: tuple[ChannelState, ...]
    bot_id: int
    bot_name: str
    bot_role_ids: tuple[int, ...] = ()
    application_id: int = 0

    def role(self, role_id: int) -> RoleState | None:
        return next((r for r in self.roles if r.id == role_id), None)

    @property
    def everyone_permissions(self) -> int:
        everyone = self.role(self.guild_id)
        return everyone.permissions if everyone else 0

    @property
    def bot_permissions(self) -> int:
        """The bot's server-wide permissions (Administrator means all)."""
        perms = self.everyone_permissions
        for role_id in self.bot_role_ids:
            role = self.role(role_id)
            perms |= role.permissions if role else 0
        return ALL_PERMISSIONS if perms & ADMINISTRATOR else perms

    @property
    def bot_top_role(self) -> RoleState | None:
        roles = [r for r in (self.role(i) for i in self.bot_role_ids) if r is not None]
        return max(roles, key=lambda r: r.position, default=None)


# ---- the plan -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Target:
    """Whom an overwrite is for: @everyone, the bot, a course role (by config key), another role
    or a member (by id)."""

    kind: str  # "everyone" | "bot" | "course_role" | "role" | "member"
    key: str = ""
    id: int = 0


EVERYONE = Target("everyone")
BOT = Target("bot")


@dataclass(frozen=True)
class CreateRole:
    key: str
    name: str
    mentionable: bool


@dataclass(frozen=True)
class EditRole:
    role_id: int
    name: str
    mentionable: bool = True


@dataclass(frozen=True)
class OverwriteSpec:
    target: Target
    allow: int
    deny: int


@dataclass(frozen=True)
class CreateChannel:
    keys: tuple[str, ...]
    name: str
    topic: str
    overwrites: tuple[OverwriteSpec, ...]


@dataclass(frozen=True)
class SetOverwrite:
    """Set `target`'s overwrite on a channel to exactly allow/deny; both 0 removes it."""

    channel_id: int
    channel_name: str
    target: Target
    target_name: str
    allow: int
    deny: int


Action = CreateRole | EditRole | CreateChannel | SetOverwrite


@dataclass(frozen=True)
class PlanItem:
    """One thing that differs from the config. `action` is None when a person must do it;
    `blocked_by` names the server permission the bot needs before it can apply `action`."""

    line: str
    action: Action | None = None
    done: str = ""
    blocked_by: str = ""

    @property
    def fixable(self) -> bool:
        return self.action is not None and not self.blocked_by


@dataclass(frozen=True)
class Plan:
    items: tuple[PlanItem, ...]
    notes: tuple[str, ...] = ()

    @property
    def fixable(self) -> tuple[PlanItem, ...]:
        return tuple(item for item in self.items if item.fixable)

    @property
    def manual(self) -> tuple[PlanItem, ...]:
        return tuple(item for item in self.items if not item.fixable)


# ---- resolving the config's references ---------------------------------------------------------
@dataclass
class _RoleSlot:
    keys: list[str]
    reference: str
    role: RoleState | None
    target: Target

    @property
    def name(self) -> str:
        return self.role.name if self.role else self.reference

    @property
    def missing_id(self) -> bool:
        return self.role is None and self.reference.isdigit()


@dataclass
class _ChannelSlot:
    keys: list[str]
    reference: str
    channel: ChannelState | None


def _find_role(server: ServerState, reference: str) -> RoleState | None:
    return next(
        (r for r in server.roles if r.id != server.guild_id and reference_matches(r.id, r.name, reference)),
        None,
    )


def _role_slots(config: Config, server: ServerState) -> dict[str, _RoleSlot]:
    """Config key → slot; keys naming the same role share one slot."""
    slots: dict[str, _RoleSlot] = {}
    for key in ROLE_KEYS:
        reference = str(getattr(config.discord.roles, key))
        role = _find_role(server, reference)
        same = next(
            (
                s
                for s in slots.values()
                if (role is not None and s.role is not None and s.role.id == role.id)
                or (role is None and s.role is None and s.reference.casefold() == reference.casefold())
            ),
            None,
        )
        if same is not None:
            same.keys.append(key)
            slots[key] = same
        else:
            slots[key] = _RoleSlot([key], reference, role, Target("course_role", key))
    return slots


def _channel_slots(config: Config, server: ServerState) -> tuple[dict[str, _ChannelSlot], list[PlanItem]]:
    slots: dict[str, _ChannelSlot] = {}
    problems: list[PlanItem] = []
    for key in CHANNEL_KEYS:
        reference = str(getattr(config.discord.channels, key))
        if reference.isdigit():
            channel = next((c for c in server.channels if c.id == int(reference)), None)
            if channel is None:
                problems.append(
                    PlanItem(
                        f"channel {key}: no channel has id {reference} on the server (a channel given by id "
                        f"cannot be created): create it and put its id in [discord.channels] {key}, or use a name"
                    )
                )
                continue
            if not channel.is_text:
                problems.append(
                    PlanItem(
                        f"channel {key}: #{channel.name} ({reference}) is not a text channel: "
                        f"give a text channel in [discord.channels] {key}"
                    )
                )
                continue
        else:
            if any(ch.isspace() for ch in reference):
                normal = "-".join(reference.lower().split())
                if not any(c.is_text and reference_matches(c.id, c.name, reference) for c in server.channels):
                    problems.append(
                        PlanItem(
                            f"channel {key}: Discord names text channels in lower case without spaces, so "
                            f"{reference!r} would become #{normal}: put {normal!r} in [discord.channels] {key}"
                        )
                    )
                    continue
            channel = next(
                (c for c in server.channels if c.is_text and reference_matches(c.id, c.name, reference)), None
            )
        same = next(
            (
                s
                for s in slots.values()
                if (channel is not None and s.channel is not None and s.channel.id == channel.id)
                or (channel is None and s.channel is None and s.reference.casefold() == reference.casefold())
            ),
            None,
        )
        if same is not None:
            same.keys.append(key)
            slots[key] = same
        else:
            slots[key] = _ChannelSlot([key], reference, channel)
    return slots, problems


# ---- permission arithmetic ------------------------------------------------------------------
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


def _has(perms: int, bits: int) -> bool:
    return perms & bits == bits


@dataclass
class _Context:
    config: Config
    server: ServerState
    roles: dict[str, _RoleSlot]
    by_role_id: dict[int, Target] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for slot in self.roles.values():
            if slot.role is not None:
                self.by_role_id.setdefault(slot.role.id, slot.target)

    def usable(self, key: str) -> _RoleSlot | None:
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


class _Wanted:
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


def _channel_rules(ctx: _Context, keys: list[str], wanted: _Wanted, *, creating: bool) -> None:
    """Make `wanted` meet the contract for the channel that the config keys `keys` name."""
    private = "ta_log" in keys
    staff = [slot for slot in (ctx.usable("instructor"), ctx.usable("ta")) if slot is not None]
    student = ctx.usable("student")
    reader = "student" if student is not None else None
    staff_targets = {slot.target for slot in staff}
    bot_roles = {ctx.by_role_id.get(i, Target("role", id=i)) for i in ctx.server.bot_role_ids}

    if private:
        open_to_all = _has(ctx.member_permissions(wanted.overwrites, None), VIEW_CHANNEL)
        wanted.require(
            EVERYONE,
            deny=VIEW_CHANNEL,
            reason=" (every member can read it now: a privacy problem)" if open_to_all else "",
        )
        for target, (allow, _deny) in list(wanted.overwrites.items()):
            if (
                target.kind in ("course_role", "role")
                and target not in staff_targets
                and target not in bot_roles
                and allow & VIEW_CHANNEL
            ):
                name = ctx.target_name(target)
                wanted.require(
                    target, drop_allow=VIEW_CHANNEL, reason=f" ({name} can read it now: a privacy problem)"
                )
        for slot in staff:
            if creating:
                wanted.require(slot.target, allow=VIEW_CHANNEL)
            elif not _has(ctx.member_permissions(wanted.overwrites, slot.keys[0]), VIEW_CHANNEL):
                wanted.require(slot.target, allow=VIEW_CHANNEL, reason=f" ({slot.name} cannot read it now)")
    else:
        if "announcements" in keys:
            can_post = _has(ctx.member_permissions(wanted.overwrites, reader), SEND_MESSAGES)
            wanted.require(
                EVERYONE, deny=SEND_MESSAGES, reason=" (members can post there now)" if can_post else ""
            )
            if student is not None and wanted.overwrites.get(student.target, (0, 0))[0] & SEND_MESSAGES:
                wanted.require(
                    student.target, drop_allow=SEND_MESSAGES, reason=" (students can post there now)"
                )
        if not _has(ctx.member_permissions(wanted.overwrites, reader), VIEW_CHANNEL):
            wanted.require(EVERYONE, drop_deny=VIEW_CHANNEL, reason=" (students cannot read it now)")
            if student is not None and not _has(
                ctx.member_permissions(wanted.overwrites, reader), VIEW_CHANNEL
            ):
                wanted.require(
                    student.target,
                    allow=VIEW_CHANNEL,
                    drop_deny=VIEW_CHANNEL,
                    reason=" (students cannot read it now)",
                )
    if creating or not _has(ctx.bot_channel_permissions(wanted.overwrites), BOT_POSTS):
        wanted.require(BOT, allow=BOT_POSTS, drop_deny=BOT_POSTS, reason=" (the bot cannot post there now)")


def _describe_change(old: tuple[int, int], new: tuple[int, int]) -> str:
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


def _target_order(target: Target) -> tuple[int, int, int]:
    kinds = {"everyone": 0, "course_role": 1, "role": 2, "member": 3, "bot": 4}
    key = ROLE_KEYS.index(target.key) if target.kind == "course_role" else 0
    return kinds[target.kind], key, target.id


def _describe_overwrites(ctx: _Context, overwrites: Iterable[OverwriteSpec]) -> str:
    return "; ".join(
        f"{ctx.target_name(spec.target)} {_describe_change((0, 0), (spec.allow, spec.deny))}"
        for spec in overwrites
    )


# ---- the planner ----------------------------------------------------------------------------
def _feature(config: Config, section: str, key: str) -> bool:
    """A boolean config key read defensively: sections other engineers add may not exist yet."""
    return bool(getattr(getattr(config, section, None), key, False))


def invite_url(client_id: int, guild_id: int, permissions: int) -> str:
    """The OAuth2 link that (re-)invites the bot to the server with `permissions`."""
    return (
        f"https://discord.com/oauth2/authorize?client_id={client_id}&scope=bot+applications.commands"
        f"&permissions={permissions}&guild_id={guild_id}&disable_guild_select=true"
    )


def plan_setup(config: Config, server: ServerState) -> Plan:
    """Compare the server with the config; an empty `items` means nothing is left to do."""
    ctx = _Context(config, server, _role_slots(config, server))
    role_items: list[PlanItem] = []
    manual: list[PlanItem] = []
    bot_perms = server.bot_permissions
    bot_top = server.bot_top_role
    top_position = bot_top.position if bot_top else 0
    bot_role_name = bot_top.name if bot_top else server.bot_name

    seen: set[int] = set()
    for key in ROLE_KEYS:
        slot = ctx.roles[key]
        if id(slot) in seen:
            continue
        seen.add(id(slot))
        is_student = "student" in slot.keys
        if slot.missing_id:
            manual.append(
                PlanItem(
                    f"role {key}: no role has id {slot.reference} on the server (a role given by id cannot be "
                    f"created): create the role and put its id in [discord.roles] {key}, or use a name"
                )
            )
        elif slot.role is None:
            suffix = " (mentionable: announcement pings use it)" if is_student else ""
            role_items.append(
                PlanItem(
                    f"create role {slot.reference}{suffix}",
                    CreateRole(key, slot.reference, mentionable=is_student),
                    f"created role {slot.reference}",
                )
            )
        elif is_student and not slot.role.mentionable and not bot_perms & MENTION_EVERYONE:
            if slot.role.position >= top_position:
                manual.append(
                    PlanItem(
                        f"role {slot.role.name} is not mentionable and not below the bot's highest role "
                        f"({bot_role_name}), so the bot cannot change it: make it mentionable in Server "
                        "Settings → Roles (announcement pings use it), or move the bot's role above it"
                    )
                )
            else:
                role_items.append(
                    PlanItem(
                        f"make role {slot.role.name} mentionable (announcement pings use it)",
                        EditRole(slot.role.id, slot.role.name),
                        f"made role {slot.role.name} mentionable",
                    )
                )
        if (
            is_student
            and slot.role is not None
            and _feature(config, "onboarding", "grant_student_role")
            and slot.role.position >= top_position
        ):
            manual.append(
                PlanItem(
                    f"the bot cannot give role {slot.role.name} ([onboarding] grant_student_role): it is not "
                    f"below the bot's highest role ({bot_role_name}); drag {bot_role_name} above it in "
                    "Server Settings → Roles"
                )
            )

    channel_slots, channel_problems = _channel_slots(config, server)
    manual.extend(channel_problems)
    create_items: list[PlanItem] = []
    overwrite_items: list[PlanItem] = []
    seen = set()
    for key in CHANNEL_KEYS:
        channel_slot = channel_slots.get(key)
        if channel_slot is None or id(channel_slot) in seen:
            continue
        seen.add(id(channel_slot))
        keys = channel_slot.keys
        if "ta_log" in keys and len(keys) > 1:
            others = ", ".join(k for k in keys if k != "ta_log")
            manual.append(
                PlanItem(
                    f"[discord.channels] ta_log and {others} name the same channel ({channel_slot.reference}): "
                    "ta-log is for the staff only, so give the others a channel of their own"
                )
            )
        channel = channel_slot.channel
        if channel is None:
            wanted = _Wanted({})
            _channel_rules(ctx, keys, wanted, creating=True)
            specs = tuple(
                OverwriteSpec(t, *wanted.overwrites[t]) for t in sorted(wanted.overwrites, key=_target_order)
            )
            create_items.append(
                PlanItem(
                    f"create channel #{channel_slot.reference}: {_describe_overwrites(ctx, specs)}",
                    CreateChannel(tuple(keys), channel_slot.reference, CHANNEL_TOPICS[keys[0]], specs),
                    f"created channel #{channel_slot.reference}",
                )
            )
            continue
        current = {ctx.target_of(o): (o.allow, o.deny) for o in channel.overwrites}
        wanted = _Wanted(current)
        _channel_rules(ctx, keys, wanted, creating=False)
        for target in sorted(set(current) | set(wanted.overwrites), key=_target_order):
            old, new = current.get(target, (0, 0)), wanted.overwrites.get(target, (0, 0))
            if old == new:
                continue
            name = ctx.target_name(target)
            change = f"set overwrite on #{channel.name}: {name} {_describe_change(old, new)}"
            overwrite_items.append(
                PlanItem(
                    change + wanted.reasons.get(target, ""),
                    SetOverwrite(channel.id, channel.name, target, name, *new),
                    change,
                )
            )

    # What the bot itself needs on the server, and why.
    needs: dict[int, list[str]] = {bit: ["for every feature"] for bit in _bits(ALWAYS_NEEDED)}

    def need(bit: int, why: str) -> None:
        needs.setdefault(bit, []).append(why)

    if any(isinstance(i.action, CreateRole) for i in role_items):
        need(MANAGE_ROLES, "to create the roles")
    if any(isinstance(i.action, EditRole) for i in role_items):
        need(MANAGE_ROLES, "to make the student role mentionable")
    if overwrite_items:
        need(MANAGE_ROLES, "to set channel permissions")
    if _feature(config, "onboarding", "grant_student_role"):
        need(MANAGE_ROLES, "to give the student role at /register ([onboarding] grant_student_role)")
    if create_items:
        need(MANAGE_CHANNELS, "to create the channels")
    if _feature(config, "groups", "create_channels"):
        need(MANAGE_ROLES, "to give group roles ([groups] create_channels)")
        need(MANAGE_CHANNELS, "to create group channels ([groups] create_channels)")
    if _feature(config, "calendar", "scheduled_events"):
        need(MANAGE_EVENTS, "for Scheduled Events ([calendar] scheduled_events)")
    if _feature(config, "talks", "threads"):
        need(CREATE_PUBLIC_THREADS, "for talk threads ([talks] threads)")
        need(SEND_MESSAGES_IN_THREADS, "for talk threads ([talks] threads)")
    missing = [bit for bit in needs if not bot_perms & bit]  # in the order of `needs`
    wanted_perms = sum(needs)
    permission_items = [
        PlanItem(
            f"the bot lacks {PERMISSION_NAMES[bit]} ({', '.join(needs[bit])}): give the role {bot_role_name} "
            f"this permission in Server Settings → Roles, or re-invite the bot with the link below"
        )
        for bit in missing
    ]

    def blocked(item: PlanItem) -> PlanItem:
        bit = MANAGE_CHANNELS if isinstance(item.action, CreateChannel) else MANAGE_ROLES
        if bot_perms & bit:
            return item
        name = PERMISSION_NAMES[bit]
        return PlanItem(f"{item.line} (once the bot has {name})", item.action, item.done, blocked_by=name)

    items = [blocked(i) for i in role_items + create_items + overwrite_items] + permission_items + manual
    notes = []
    if missing:
        notes.append(
            f"Invite link with the permissions the bot needs: {invite_url(server.application_id or server.bot_id, server.guild_id, wanted_perms)}"
        )
    staff_roles = [ctx.roles[k].role for k in ("ta", "instructor")]
    if not all(r is not None and r.permissions & (MANAGE_GUILD | ADMINISTRATOR) for r in staff_roles):
        notes.append(
            "The bot cannot choose who sees /ta (members without Manage Server do not): Server Settings → "
            f"Integrations → {server.bot_name} → /ta → add the {ctx.roles['ta'].name} and "
            f"{ctx.roles['instructor'].name} roles."
        )
    return Plan(tuple(items), tuple(notes))


def _bits(value: int) -> list[int]:
    return [1 << bit for bit in range(64) if value & (1 << bit)]
