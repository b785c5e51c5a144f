"""Buttons of excuse requests; they survive a restart: Approve / Deny and the evidence file (staff),
Withdraw (the student who asked)."""

from __future__ import annotations

import io
import re
from typing import Any

import discord

from bot.permissions import require_staff
from bot.services import attendance
from cogs._answer import AnswerButton
from cogs._base import guarded
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


class EvidenceButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=r"excuseevidence:(?P<id>\d+)"):
    """Show the stored evidence of a request as a file (staff only, in a reply only they see)."""

    def __init__(self, excuse_id: int) -> None:
        super().__init__(
            discord.ui.Button(
                label=f"Evidence #{excuse_id}",
                emoji="📎",
                style=discord.ButtonStyle.secondary,
                custom_id=f"excuseevidence:{excuse_id}",
            )
        )
        self.excuse_id = excuse_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> EvidenceButton:
        return cls(int(match["id"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        async def show() -> None:
            bot = bot_of(interaction)
            require_staff(interaction, bot.config.discord.roles)
            found = await attendance.evidence_file(bot.services, excuse_id=self.excuse_id)
            await interaction.response.send_message(
                f"Evidence of excuse #{found.excuse_id} (<@{found.discord_id}>): {found.filename}",
                file=discord.File(io.BytesIO(found.data), filename=found.filename),
                ephemeral=True,
            )

        await guarded(interaction, show)


class WithdrawExcuse(discord.ui.DynamicItem[discord.ui.Button[Any]], template=r"excusewithdraw:(?P<id>\d+)"):
    """The student takes back their pending request (its evidence is deleted with it)."""

    def __init__(self, excuse_id: int) -> None:
        super().__init__(
            discord.ui.Button(
                label=f"Withdraw #{excuse_id}",
                style=discord.ButtonStyle.danger,
                custom_id=f"excusewithdraw:{excuse_id}",
            )
        )
        self.excuse_id = excuse_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> WithdrawExcuse:
        return cls(int(match["id"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        async def withdraw() -> None:
            bot = bot_of(interaction)
            info = await attendance.withdraw_excuse(
                bot.services, discord_id=interaction.user.id, excuse_id=self.excuse_id
            )
            await interaction.response.send_message(
                f"Your request #{info.id} to excuse {info.lecture_date:%a %Y-%m-%d} is withdrawn; "
                "anything you attached to it is deleted.",
                ephemeral=True,
            )
            bot.dispatcher.wake()  # the staff's note was planned with the withdrawal

        await guarded(interaction, withdraw)


def withdraw_view(excuse_id: int) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    view.add_item(WithdrawExcuse(excuse_id))
    return view


EXCUSE_ITEMS = (ExcuseDecision, EvidenceButton, WithdrawExcuse)
