"""The bot's own permissions on the server: each one it needs and why (always the ones for posting,
more for what the plan would apply and for the features the config turns on), the plan items for
those it lacks, the items it cannot apply until it has them, and the link that re-invites it with
all of them."""

from __future__ import annotations

from collections.abc import Sequence

from bot.config import Config
from bot.setup_plan.bits import (
    ALWAYS_NEEDED,
    CREATE_PUBLIC_THREADS,
    MANAGE_CHANNELS,
    MANAGE_EVENTS,
    MANAGE_ROLES,
    PERMISSION_NAMES,
    SEND_MESSAGES_IN_THREADS,
    bits_of,
)
from bot.setup_plan.items import CreateChannel, CreateRole, EditRole, PlanItem
from bot.setup_plan.snapshot import ServerState


def feature(config: Config, section: str, key: str) -> bool:
    """A boolean config key read defensively: sections other engineers add may not exist yet."""
    return bool(getattr(getattr(config, section, None), key, False))


def invite_url(client_id: int, guild_id: int, permissions: int) -> str:
    """The OAuth2 link that (re-)invites the bot to the server with `permissions`."""
    return (
        f"https://discord.com/oauth2/authorize?client_id={client_id}&scope=bot+applications.commands"
        f"&permissions={permissions}&guild_id={guild_id}&disable_guild_select=true"
    )


def bot_needs(
    config: Config,
    *,
    role_items: Sequence[PlanItem],
    create_items: Sequence[PlanItem],
    overwrite_items: Sequence[PlanItem],
) -> dict[int, list[str]]:
    """Each permission bit the bot needs on the server → the reasons, in the order they are shown."""
    needs: dict[int, list[str]] = {bit: ["for every feature"] for bit in bits_of(ALWAYS_NEEDED)}

    def need(bit: int, why: str) -> None:
        needs.setdefault(bit, []).append(why)

    if any(isinstance(i.action, CreateRole) for i in role_items):
        need(MANAGE_ROLES, "to create the roles")
    if any(isinstance(i.action, EditRole) for i in role_items):
        need(MANAGE_ROLES, "to make the student role mentionable")
    if overwrite_items:
        need(MANAGE_ROLES, "to set channel permissions")
    if feature(config, "onboarding", "grant_student_role"):
        need(MANAGE_ROLES, "to give the student role at /register ([onboarding] grant_student_role)")
    if create_items:
        need(MANAGE_CHANNELS, "to create the channels")
    if feature(config, "groups", "create_channels"):
        need(MANAGE_ROLES, "to give group roles ([groups] create_channels)")
        need(MANAGE_CHANNELS, "to create group channels ([groups] create_channels)")
    if feature(config, "calendar", "scheduled_events"):
        need(MANAGE_EVENTS, "for Scheduled Events ([calendar] scheduled_events)")
    if feature(config, "talks", "threads"):
        need(CREATE_PUBLIC_THREADS, "for talk threads ([talks] threads)")
        need(SEND_MESSAGES_IN_THREADS, "for talk threads ([talks] threads)")
    return needs


def lacking(server: ServerState, needs: dict[int, list[str]]) -> list[PlanItem]:
    """One item (for a person) per needed permission the bot does not have, in the order of `needs`."""
    return [
        PlanItem(
            f"the bot lacks {PERMISSION_NAMES[bit]} ({', '.join(needs[bit])}): give the role "
            f"{server.bot_role_name} this permission in Server Settings → Roles, or re-invite the bot "
            "with the link below"
        )
        for bit in needs
        if not server.bot_permissions & bit
    ]


def blocked(item: PlanItem, bot_permissions: int) -> PlanItem:
    """`item`, marked as waiting for the permission its action needs when the bot lacks it."""
    bit = MANAGE_CHANNELS if isinstance(item.action, CreateChannel) else MANAGE_ROLES
    if bot_permissions & bit:
        return item
    name = PERMISSION_NAMES[bit]
    return PlanItem(f"{item.line} (once the bot has {name})", item.action, item.done, blocked_by=name)
