"""Buttons that keep working after a restart: invitation answers and the autofill confirmation."""

from __future__ import annotations

import re
from typing import Any

import discord

from bot.app import CourseBot
from bot.permissions import require_staff
from bot.services import groups
from cogs._answer import AnswerButton, answer_view
from cogs._base import guarded
from cogs._render import bot_of
from cogs.groups._channels import GroupChannels


class InviteAnswer(AnswerButton, prefix="ginvite", answers=("accept", "decline")):
    """Accept or Decline on a group invitation (sent by DM)."""

    async def answer(self, interaction: discord.Interaction) -> None:
        bot = bot_of(interaction)
        result = await groups.answer_invite(
            bot.services,
            invite_id=self.item_id,
            discord_id=interaction.user.id,
            discord_name=interaction.user.name,
            accept=self.yes,
        )
        name = result.group.name
        mine = {
            "accepted": f"You joined group {name}.",
            "declined": f"You declined the invitation to group {name}.",
            "expired": "That invitation has expired; ask for a new one or for the group's invite code.",
        }[result.status]
        await interaction.response.send_message(mine, ephemeral=True)
        if interaction.message is not None and not interaction.message.flags.ephemeral:
            await interaction.message.edit(view=None)
        if result.status == "accepted":
            await GroupChannels(bot).set_member(result.group.role_id, interaction.user.id, True)
        if result.status in ("accepted", "declined"):
            bot.dispatcher.wake()  # the inviter is told by a DM planned with the answer


def invite_view(invite_id: int) -> discord.ui.View:
    return answer_view(InviteAnswer, invite_id)


class AutofillConfirm(
    discord.ui.DynamicItem[discord.ui.Button[Any]], template=r"gautofill:(?P<digest>[0-9a-f]{16})"
):
    """Confirm an autofill plan. The digest names the state the plan was made from."""

    def __init__(self, digest: str) -> None:
        super().__init__(
            discord.ui.Button(
                label="Confirm", style=discord.ButtonStyle.primary, custom_id=f"gautofill:{digest}"
            )
        )
        self.digest = digest

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> AutofillConfirm:
        return cls(match["digest"])

    async def callback(self, interaction: discord.Interaction) -> None:
        await guarded(interaction, lambda: self.confirm(interaction))

    async def confirm(self, interaction: discord.Interaction) -> None:
        bot = bot_of(interaction)
        require_staff(interaction, bot.config.discord.roles)
        await interaction.response.defer(ephemeral=True, thinking=True)
        plan = await groups.apply_autofill(
            bot.services, actor_id=interaction.user.id, student_ids=student_ids(bot), digest=self.digest
        )
        bot.dispatcher.wake()  # each placed student's DM was planned with the placement
        channels = GroupChannels(bot)
        by_name = {g.name: g for g in await groups.all_groups(bot.services)}
        for planned in plan.groups:
            info = by_name[planned.name]
            if planned.group_id is None:
                await channels.create(info)
            else:
                for member_id in planned.added:
                    await channels.set_member(info.role_id, member_id, True)
        await interaction.followup.send(
            f"Done: {plan.placed} students placed in {len(plan.groups)} groups.", ephemeral=True
        )
        await bot.post_staff_log(
            f"{interaction.user.mention}: autofill placed {plan.placed} students in {len(plan.groups)} groups"
        )


def student_ids(bot: CourseBot) -> list[int]:
    return [m.id for m in bot.student_members()]
