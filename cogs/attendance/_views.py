"""Approve / Deny buttons for excuse requests; they survive a restart."""

from __future__ import annotations

import re
from typing import Any

import discord

from bot.permissions import require_staff
from bot.services import attendance
from cogs._base import guarded
from cogs._render import bot_of


class ExcuseDecision(
    discord.ui.DynamicItem[discord.ui.Button[Any]], template=r"excuse:(?P<id>\d+):(?P<decision>approve|deny)"
):
    """Approve or Deny one excuse request; the student is told by DM."""

    def __init__(self, excuse_id: int, approve: bool) -> None:
        decision = "approve" if approve else "deny"
        style = discord.ButtonStyle.success if approve else discord.ButtonStyle.danger
        super().__init__(
            discord.ui.Button(
                label=f"{decision.title()} #{excuse_id}",
                style=style,
                custom_id=f"excuse:{excuse_id}:{decision}",
            )
        )
        self.excuse_id, self.approve = excuse_id, approve

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> ExcuseDecision:
        return cls(int(match["id"]), match["decision"] == "approve")

    async def callback(self, interaction: discord.Interaction) -> None:
        await guarded(interaction, lambda: self.decide(interaction))

    async def decide(self, interaction: discord.Interaction) -> None:
        bot = bot_of(interaction)
        require_staff(interaction, bot.config.discord.roles)
        result = await attendance.decide_excuse(
            bot.services, actor_id=interaction.user.id, excuse_id=self.excuse_id, approve=self.approve
        )
        await interaction.response.send_message(
            f"Excuse #{result.id} of <@{result.discord_id}> for {result.lecture_date}: {result.status}.",
            ephemeral=True,
        )
        bot.dispatcher.wake()  # the student's DM was planned with the decision
        await bot.post_staff_log(
            f"{interaction.user.mention} {result.status} the excuse of <@{result.discord_id}> for {result.lecture_date}"
        )
