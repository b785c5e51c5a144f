"""`plan_setup(config, server)`: the whole comparison of the server with the config, in the order it
is shown — what the bot can apply (roles, new channels, overwrites; each blocked until the bot has
the permission it needs), the permissions the bot lacks, then what a person must do — with notes
(the re-invite link, who sees /ta)."""

from __future__ import annotations

from bot.config import Config
from bot.setup_plan.bits import ADMINISTRATOR, MANAGE_GUILD
from bot.setup_plan.channels import plan_channels
from bot.setup_plan.items import Plan
from bot.setup_plan.needs import blocked, bot_needs, feature, invite_url, lacking
from bot.setup_plan.overwrites import Context
from bot.setup_plan.roles import plan_roles, role_slots
from bot.setup_plan.snapshot import ServerState


def plan_setup(config: Config, server: ServerState) -> Plan:
    """Compare the server with the config; an empty `items` means nothing is left to do."""
    ctx = Context(config, server, role_slots(config, server))
    role_items, role_manual = plan_roles(
        ctx.roles, server, grant_student_role=feature(config, "onboarding", "grant_student_role")
    )
    create_items, overwrite_items, channel_manual = plan_channels(ctx)
    needs = bot_needs(
        config, role_items=role_items, create_items=create_items, overwrite_items=overwrite_items
    )
    permission_items = lacking(server, needs)
    items = (
        [blocked(i, server.bot_permissions) for i in role_items + create_items + overwrite_items]
        + permission_items
        + role_manual
        + channel_manual
    )
    notes = []
    if permission_items:
        link = invite_url(server.application_id or server.bot_id, server.guild_id, sum(needs))
        notes.append(f"Invite link with the permissions the bot needs: {link}")
    staff_roles = [ctx.roles[k].role for k in ("ta", "instructor")]
    if not all(r is not None and r.permissions & (MANAGE_GUILD | ADMINISTRATOR) for r in staff_roles):
        notes.append(
            "The bot cannot choose who sees /ta (members without Manage Server do not): Server Settings → "
            f"Integrations → {server.bot_name} → /ta → add the {ctx.roles['ta'].name} and "
            f"{ctx.roles['instructor'].name} roles."
        )
    return Plan(tuple(items), tuple(notes))
