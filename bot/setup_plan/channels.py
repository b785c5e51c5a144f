"""The course channels: which server channel each `[discord.channels]` reference names (keys naming
the same channel share one slot; an id that names nothing or a name Discord would change is a
problem for a person), the contract each channel's overwrites must meet (ta-log private to the
staff, announcements read-only for students, the bot able to post), and the channel part of the
plan — create a missing channel with its overwrites, or set each overwrite that breaks the contract."""

from __future__ import annotations

from dataclasses import dataclass

from bot.config import Config, reference_matches
from bot.setup_plan.bits import BOT_POSTS, SEND_MESSAGES, VIEW_CHANNEL, has
from bot.setup_plan.items import BOT, EVERYONE, CreateChannel, OverwriteSpec, PlanItem, SetOverwrite, Target
from bot.setup_plan.overwrites import Context, Wanted, describe_change, describe_overwrites, target_order
from bot.setup_plan.snapshot import ChannelState, ServerState

CHANNEL_KEYS = ("announcements", "ta_log", "fallback")
CHANNEL_TOPICS = {
    "announcements": "Course announcements: students read, the bot and the staff post.",
    "ta_log": "Course staff only: the bot's notices for the TAs and the instructor.",
    "fallback": "The bot mentions you here when it cannot DM you: open your DMs to get reminders privately.",
}


@dataclass
class _ChannelSlot:
    keys: list[str]
    reference: str
    channel: ChannelState | None


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


def _channel_rules(ctx: Context, keys: list[str], wanted: Wanted, *, creating: bool) -> None:
    """Make `wanted` meet the contract for the channel that the config keys `keys` name."""
    private = "ta_log" in keys
    staff = [slot for slot in (ctx.usable("instructor"), ctx.usable("ta")) if slot is not None]
    student = ctx.usable("student")
    reader = "student" if student is not None else None
    staff_targets = {slot.target for slot in staff}
    bot_roles = {ctx.by_role_id.get(i, Target("role", id=i)) for i in ctx.server.bot_role_ids}

    if private:
        open_to_all = has(ctx.member_permissions(wanted.overwrites, None), VIEW_CHANNEL)
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
            elif not has(ctx.member_permissions(wanted.overwrites, slot.keys[0]), VIEW_CHANNEL):
                wanted.require(slot.target, allow=VIEW_CHANNEL, reason=f" ({slot.name} cannot read it now)")
    else:
        if "announcements" in keys:
            can_post = has(ctx.member_permissions(wanted.overwrites, reader), SEND_MESSAGES)
            wanted.require(
                EVERYONE, deny=SEND_MESSAGES, reason=" (members can post there now)" if can_post else ""
            )
            if student is not None and wanted.overwrites.get(student.target, (0, 0))[0] & SEND_MESSAGES:
                wanted.require(
                    student.target, drop_allow=SEND_MESSAGES, reason=" (students can post there now)"
                )
        if not has(ctx.member_permissions(wanted.overwrites, reader), VIEW_CHANNEL):
            wanted.require(EVERYONE, drop_deny=VIEW_CHANNEL, reason=" (students cannot read it now)")
            if student is not None and not has(
                ctx.member_permissions(wanted.overwrites, reader), VIEW_CHANNEL
            ):
                wanted.require(
                    student.target,
                    allow=VIEW_CHANNEL,
                    drop_deny=VIEW_CHANNEL,
                    reason=" (students cannot read it now)",
                )
    if creating or not has(ctx.bot_channel_permissions(wanted.overwrites), BOT_POSTS):
        wanted.require(BOT, allow=BOT_POSTS, drop_deny=BOT_POSTS, reason=" (the bot cannot post there now)")


def plan_channels(ctx: Context) -> tuple[list[PlanItem], list[PlanItem], list[PlanItem]]:
    """The channel part of the plan: (channels to create, overwrites to set, items a person must
    do), each in `CHANNEL_KEYS` order."""
    channel_slots, manual = _channel_slots(ctx.config, ctx.server)
    create_items: list[PlanItem] = []
    overwrite_items: list[PlanItem] = []
    seen: set[int] = set()
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
            wanted = Wanted({})
            _channel_rules(ctx, keys, wanted, creating=True)
            specs = tuple(
                OverwriteSpec(t, *wanted.overwrites[t]) for t in sorted(wanted.overwrites, key=target_order)
            )
            create_items.append(
                PlanItem(
                    f"create channel #{channel_slot.reference}: {describe_overwrites(ctx, specs)}",
                    CreateChannel(tuple(keys), channel_slot.reference, CHANNEL_TOPICS[keys[0]], specs),
                    f"created channel #{channel_slot.reference}",
                )
            )
            continue
        current = {ctx.target_of(o): (o.allow, o.deny) for o in channel.overwrites}
        wanted = Wanted(current)
        _channel_rules(ctx, keys, wanted, creating=False)
        for target in sorted(set(current) | set(wanted.overwrites), key=target_order):
            old, new = current.get(target, (0, 0)), wanted.overwrites.get(target, (0, 0))
            if old == new:
                continue
            name = ctx.target_name(target)
            change = f"set overwrite on #{channel.name}: {name} {describe_change(old, new)}"
            overwrite_items.append(
                PlanItem(
                    change + wanted.reasons.get(target, ""),
                    SetOverwrite(channel.id, channel.name, target, name, *new),
                    change,
                )
            )
    return create_items, overwrite_items, manual
