"""Approve / Deny buttons for excuse requests; they survive a restart."""

from __future__ import annotations

import discord

from bot.permissions import require_staff
from bot.services import attendance
from cogs._answer import AnswerButton
from cogs._render import bot_of


class ExcuseDecision(AnswerButton, prefix="excuse", answers=("approve", "deny"), numbered=True):
    """Approve or Deny one excuse request (staff only); the student is told by DM."""

    async def answer(self, interaction: discord.Interaction) -> None:
        bot = bot_of(interaction)
        require_staff(interaction, bot.config.discord.roles)
        result = await attendance.decide_excuse(
            bot.services, actor_id=interaction.user.id, excuse_id=self.item_id, approve=self.yes
        )
        await interaction.response.send_message(
            f"Excuse #{result.id} of <@{result.discord_id}> for {result.lecture_date}: {result.status}.",
            ephemeral=True,
        )
        bot.dispatcher.wake()  # the student's DM was planned with the decision
        await bot.post_staff_log(
            f"{interaction.user.mention} {result.status} the excuse of <@{result.discord_id}> for {result.lecture_date}"
        )
