"""Buttons that keep working after a restart: their custom ids carry everything they need."""

from __future__ import annotations

import re
from typing import Any

import discord

from bot.services import papers
from cogs._answer import AnswerButton, answer_view
from cogs._base import guarded
from cogs._render import bot_of, embed
from cogs.papers._render import board_pages
from cogs.talks._render import slide_notes


class BoardPage(
    discord.ui.DynamicItem[discord.ui.Button[Any]], template=r"papers:board:(?P<week>\d+):(?P<page>\d+)"
):
    """Previous/next page of `/papers` (week 0 = all weeks)."""

    def __init__(self, week: int, page: int, label: str, *, disabled: bool = False) -> None:
        super().__init__(
            discord.ui.Button(
                label=label,
                style=discord.ButtonStyle.secondary,
                custom_id=f"papers:board:{week}:{page}",
                disabled=disabled,
            )
        )
        self.week, self.page = week, page

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> BoardPage:
        return cls(int(match["week"]), int(match["page"]), getattr(item, "label", None) or "")

    async def callback(self, interaction: discord.Interaction) -> None:
        async def show() -> None:
            card, view = await board_message(interaction, self.week or None, self.page)
            await interaction.response.edit_message(embed=card, view=view)

        await guarded(interaction, show)


async def board_message(
    interaction: discord.Interaction, week: int | None, page: int
) -> tuple[discord.Embed, discord.ui.View]:
    bot = bot_of(interaction)
    infos = await papers.board(bot.services, week)
    topics = {w: bot.calendar.topic(w) for w in {i.week for i in infos}}
    notes = await slide_notes(bot.services, [i.number for i in infos], interaction.guild_id)
    pages = board_pages(infos, topics, notes)
    page = min(max(page, 0), len(pages) - 1)
    capacity = bot.config.papers.capacity
    card = embed("Paper board" + (f" · week {week}" if week else ""), pages[page])
    card.set_footer(
        text=f"Page {page + 1}/{len(pages)} · {capacity} presenters per paper · /signup paper NUMBER"
    )
    view = discord.ui.View(timeout=None)
    if len(pages) > 1:
        # Clamped: a custom id must match the template (no page -1), even on a disabled button.
        last = len(pages) - 1
        view.add_item(BoardPage(week or 0, max(page - 1, 0), "◀ Previous", disabled=page == 0))
        view.add_item(BoardPage(week or 0, min(page + 1, last), "Next ▶", disabled=page == last))
    return card, view


class SwapAnswer(AnswerButton, prefix="swap", answers=("accept", "decline")):
    """Accept or Decline on a swap offer; only the addressee can answer."""

    async def answer(self, interaction: discord.Interaction) -> None:
        bot = bot_of(interaction)
        result = await papers.answer_swap(
            bot.services, offer_id=self.item_id, discord_id=interaction.user.id, accept=self.yes
        )
        texts = {
            "accepted": f"Swapped: you now present paper {result.from_paper}.",
            "declined": "Swap declined.",
            "expired": "That offer has expired (offers last 24 hours).",
            "cancelled": "The papers in that offer changed hands since; the offer is cancelled.",
        }
        await interaction.response.send_message(texts[result.status], ephemeral=True)
        if result.status in ("accepted", "declined"):
            bot.dispatcher.wake()  # the one who offered is told by a DM planned with the answer
        if interaction.message is not None and interaction.message.flags.ephemeral is False:
            await interaction.message.edit(view=None)


def swap_view(offer_id: int) -> discord.ui.View:
    return answer_view(SwapAnswer, offer_id)
