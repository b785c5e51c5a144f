"""Paper sign-ups: `/papers`, `/signup paper|status|withdraw|swap`, and the staff's `/ta paper` and
`/ta signups`. The rules live in bot/services/papers.py."""

from __future__ import annotations

import discord
from discord import app_commands

from bot.app import CourseBot
from bot.services import papers
from cogs._base import FeatureCog, add_cogs
from cogs.papers._delivery import SwapOfferDelivery
from cogs.papers._render import choice_label, status_embed, talk_text
from cogs.papers._staff import PaperStaffCog
from cogs.papers._views import BoardPage, SwapAnswer, board_message


class PapersCog(FeatureCog):
    signup = app_commands.Group(name="signup", description="Sign up to present a paper", guild_only=True)

    async def cog_load(self) -> None:
        await super().cog_load()
        self.bot.add_dynamic_items(BoardPage, SwapAnswer)
        SwapOfferDelivery(self.bot).attach()

    async def cog_unload(self) -> None:
        self.bot.remove_dynamic_items(BoardPage, SwapAnswer)
        await super().cog_unload()

    @app_commands.command(
        name="papers", description="The paper board: papers by week, presenters, free slots, waitlists"
    )
    @app_commands.describe(week="Only this talk week")
    async def papers_board(
        self, interaction: discord.Interaction, week: app_commands.Range[int, 1, 52] | None = None
    ) -> None:
        card, view = await board_message(interaction, week, 0)
        await interaction.response.send_message(embed=card, view=view, ephemeral=True)

    async def _paper_choices(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[int]]:
        typed = current.strip().casefold()
        infos = await papers.board(self.bot.services)
        matching = [
            i for i in infos if not typed or str(i.number).startswith(typed) or typed in i.title.casefold()
        ]
        return [app_commands.Choice(name=choice_label(i), value=i.number) for i in matching[:25]]

    @signup.command(
        name="paper", description="Take a presenter slot on a paper (or join its waitlist when full)"
    )
    @app_commands.describe(number="The paper's number (start typing a number or a title)")
    async def signup_paper(self, interaction: discord.Interaction, number: int) -> None:
        member = interaction.user
        result = await papers.sign_up(
            self.bot.services,
            discord_id=member.id,
            discord_name=member.name,
            joined_at=getattr(member, "joined_at", None),
            number=number,
        )
        if result.waitlisted:
            text = f"Paper {number} is full, so you are on its waitlist at position {result.position}. You will get a DM if a slot opens."
        else:
            text = f"You present {talk_text(result.paper)}."
            if result.left_waitlist_of is not None:
                text += f" (You left the waitlist of paper {result.left_waitlist_of}.)"
        await interaction.response.send_message(text, ephemeral=True)

    @signup_paper.autocomplete("number")
    async def _signup_paper_number(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[int]]:
        return await self._paper_choices(interaction, current)

    @signup.command(name="status", description="Your paper, talk date, waitlist position and swap offers")
    async def signup_status(self, interaction: discord.Interaction) -> None:
        status = await papers.status(self.bot.services, interaction.user.id)
        view = discord.ui.View(timeout=None)
        for offer in status.offers_received[:12]:
            for button in SwapAnswer.pair(offer.id):
                view.add_item(button)
        await interaction.response.send_message(embed=status_embed(status), view=view, ephemeral=True)

    @signup.command(name="withdraw", description="Give up your presenter slot or waitlist place")
    async def signup_withdraw(self, interaction: discord.Interaction) -> None:
        result = await papers.withdraw(self.bot.services, discord_id=interaction.user.id)
        parts = [f"You no longer present paper {n}." for n in result.papers]
        if result.waitlist_paper is not None:
            parts.append(f"You left the waitlist of paper {result.waitlist_paper}.")
        await interaction.response.send_message(" ".join(parts), ephemeral=True)
        if result.promotions:
            self.bot.dispatcher.wake()  # their DMs were planned with the withdrawal

    @signup.command(name="swap", description="Offer to swap papers with another presenter")
    @app_commands.describe(member="The presenter you want to swap with")
    async def signup_swap(self, interaction: discord.Interaction, member: discord.Member) -> None:
        offer = await papers.offer_swap(self.bot.services, from_id=interaction.user.id, to_id=member.id)
        await interaction.response.send_message(
            f"Swap offered to {member.mention}: your paper {offer.from_paper} for their paper {offer.to_paper}. "
            f"They get it by DM and in `/signup status`, and can accept until "
            f"<t:{int(offer.expires_at.timestamp())}:F>.",
            ephemeral=True,
        )
        self.bot.dispatcher.wake()  # the offer's DM was planned with the offer


async def setup(bot: CourseBot) -> None:
    await add_cogs(bot, PapersCog(bot), PaperStaffCog(bot))
