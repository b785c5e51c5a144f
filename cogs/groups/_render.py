"""How groups look in Discord."""

from __future__ import annotations

import discord

from bot.services.groups import AutofillPlan, GroupInfo
from cogs._render import embed


def member_list(ids: tuple[int, ...]) -> str:
    return ", ".join(f"<@{i}>" for i in ids) or "nobody"


def group_embed(info: GroupInfo, *, show_code: bool) -> discord.Embed:
    card = embed(f"Group {info.name}", info.title or "No project title yet: `/group title`.")
    card.add_field(
        name=f"Members ({len(info.members)}/{info.max_size})", value=member_list(info.members), inline=False
    )
    if info.channel_id:
        card.add_field(name="Channel", value=f"<#{info.channel_id}>", inline=False)
    if show_code:
        card.add_field(
            name="Invite code",
            value=f"`{info.invite_code}` — others join with `/group join code:{info.invite_code}`",
            inline=False,
        )
    if info.locked:
        card.set_footer(text="Locked: only the staff can change this group.")
    return card


def plan_text(plan: AutofillPlan) -> str:
    if not plan.groups:
        return "Everyone with the student role is already in a group; nothing to do."
    lines = []
    for group in plan.groups:
        label = f"**{group.name}**" + (
            " (new)" if group.group_id is None else f" ({len(group.existing)} now)"
        )
        lines.append(f"{label}: + {member_list(group.added)}")
    return f"{plan.placed} students without a group would be placed:\n" + "\n".join(lines)
