"""`coursebot setup`'s comparison of the course server with the config — pure, no Discord.

`plan_setup(config, server)` takes a plain snapshot of the server (`ServerState`: roles, channels
with their permission overwrites, the bot's roles) and returns a `Plan`: one `PlanItem` per thing
that is missing or wrong, each with the line to show, and the action that fixes it when the bot can
(`CreateRole`, `EditRole`, `CreateChannel`, `SetOverwrite`). `bot/server_setup.py` builds the
snapshot from Discord and applies the actions. One module per job:

- `bits`: Discord's permission bits and their names; `snapshot`: the server as plain data;
- `items`: the plan, its items, actions and overwrite targets;
- `roles`: the course roles; `channels`: the course channels and their overwrites' contract;
- `overwrites`: the permission arithmetic of a channel; `needs`: the bot's own permissions;
- `planner`: `plan_setup`, putting it together.

Overwrite targets are symbolic (`Target`): a course role that is created in the same run has no id
yet when the plan is made.
"""

from bot.setup_plan.bits import (
    ADD_REACTIONS,
    ADMINISTRATOR,
    ALL_PERMISSIONS,
    ALWAYS_NEEDED,
    ATTACH_FILES,
    BOT_POSTS,
    CREATE_PUBLIC_THREADS,
    EMBED_LINKS,
    MANAGE_CHANNELS,
    MANAGE_EVENTS,
    MANAGE_GUILD,
    MANAGE_ROLES,
    MENTION_EVERYONE,
    PERMISSION_NAMES,
    READ_MESSAGE_HISTORY,
    SEND_MESSAGES,
    SEND_MESSAGES_IN_THREADS,
    VIEW_CHANNEL,
    permission_names,
)
from bot.setup_plan.channels import CHANNEL_KEYS, CHANNEL_TOPICS
from bot.setup_plan.items import (
    BOT,
    EVERYONE,
    Action,
    CreateChannel,
    CreateRole,
    EditRole,
    OverwriteSpec,
    Plan,
    PlanItem,
    SetOverwrite,
    Target,
)
from bot.setup_plan.needs import invite_url
from bot.setup_plan.overwrites import Overwrites, channel_permissions
from bot.setup_plan.planner import plan_setup
from bot.setup_plan.roles import ROLE_KEYS
from bot.setup_plan.snapshot import ChannelState, Overwrite, RoleState, ServerState

__all__ = [
    "ADD_REACTIONS",
    "ADMINISTRATOR",
    "ALL_PERMISSIONS",
    "ALWAYS_NEEDED",
    "ATTACH_FILES",
    "BOT",
    "BOT_POSTS",
    "CHANNEL_KEYS",
    "CHANNEL_TOPICS",
    "CREATE_PUBLIC_THREADS",
    "EMBED_LINKS",
    "EVERYONE",
    "MANAGE_CHANNELS",
    "MANAGE_EVENTS",
    "MANAGE_GUILD",
    "MANAGE_ROLES",
    "MENTION_EVERYONE",
    "PERMISSION_NAMES",
    "READ_MESSAGE_HISTORY",
    "ROLE_KEYS",
    "SEND_MESSAGES",
    "SEND_MESSAGES_IN_THREADS",
    "VIEW_CHANNEL",
    "Action",
    "ChannelState",
    "CreateChannel",
    "CreateRole",
    "EditRole",
    "Overwrite",
    "OverwriteSpec",
    "Overwrites",
    "Plan",
    "PlanItem",
    "RoleState",
    "ServerState",
    "SetOverwrite",
    "Target",
    "channel_permissions",
    "invite_url",
    "permission_names",
    "plan_setup",
]
