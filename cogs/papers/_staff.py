"""The staff's `/ta paper add|import|remove|assign|unassign` and `/ta signups open|close`."""

from __future__ import annotations

import discord
from discord import app_commands

from bot.errors import InvalidInput
from bot.services import papers
from bot.services.papers import PaperFields
from cogs._base import StaffCog
from cogs._render import import_problems
from cogs.papers._render import mentions, talk_text

MAX_CSV_BYTES = papers.MAX_IMPORT_BYTES


class PaperStaffCog(StaffCog):
    paper = app_commands.Group(name="paper", description="Manage the paper list and presenters")
    signups = app_commands.Group(name="signups", description="Open or close paper sign-up now")

    async def _log(self, interaction: discord.Interaction, text: str) -> None:
        await self.bot.post_staff_log(f"{interaction.user.mention}: {text}")

    @paper.command(name="add", description="Add a paper, or edit the one with this number")
    @app_commands.describe(
        number="Paper number", title="Title", authors="Authors", url="Link to the paper", week="Talk week"
    )
    async def add(
        self,
        interaction: discord.Interaction,
        number: int,
        title: str,
        authors: str = "",
        url: str = "",
        week: int | None = None,
    ) -> None:
        info, created = await papers.save_paper(
            self.bot.services,
            actor_id=interaction.user.id,
            fields=PaperFields(number, title, authors, url, week),
        )
        verb = "Added" if created else "Updated"
        await interaction.response.send_message(f"{verb} {talk_text(info)}.", ephemeral=True)
        await self._log(interaction, f"{verb.lower()} paper {info.number} (week {info.week})")

    @paper.command(name="import", description="Import papers from a CSV: number,title,authors,url,week")
    @app_commands.describe(file="CSV file with a header row number,title,authors,url,week")
    async def import_csv(self, interaction: discord.Interaction, file: discord.Attachment) -> None:
        if file.size > MAX_CSV_BYTES:
            raise InvalidInput(f"The file is larger than {MAX_CSV_BYTES // 1000} kB; is it the right one?")
        await interaction.response.defer(ephemeral=True, thinking=True)
        result = await papers.import_papers(
            self.bot.services, actor_id=interaction.user.id, data=await file.read()
        )
        if result.errors:
            await interaction.followup.send(import_problems(result.errors), ephemeral=True)
            return
        await interaction.followup.send(
            f"Imported: {result.added} added, {result.updated} updated.", ephemeral=True
        )
        await self._log(interaction, f"imported papers ({result.added} added, {result.updated} updated)")

    @paper.command(name="remove", description="Remove a paper; its presenters and waitlist are told")
    @app_commands.describe(number="Paper number")
    async def remove(self, interaction: discord.Interaction, number: int) -> None:
        info = await papers.remove_paper(self.bot.services, actor_id=interaction.user.id, number=number)
        affected = info.presenters + info.waitlist
        await interaction.response.send_message(
            f"Removed paper {number} — {info.title}. Told: {mentions(affected)}.", ephemeral=True
        )
        if affected:
            self.bot.dispatcher.wake()  # their DMs were planned with the removal
        await self._log(interaction, f"removed paper {number}")

    @paper.command(name="assign", description="Place a presenter on a paper by hand")
    @app_commands.describe(member="The student", number="Paper number")
    async def assign(self, interaction: discord.Interaction, member: discord.Member, number: int) -> None:
        info = await papers.assign(
            self.bot.services,
            actor_id=interaction.user.id,
            discord_id=member.id,
            discord_name=member.name,
            number=number,
        )
        await interaction.response.send_message(
            f"{member.mention} now presents {talk_text(info)}.", ephemeral=True
        )
        self.bot.dispatcher.wake()  # their DM was planned with the assignment
        await self._log(interaction, f"assigned {member.mention} to paper {number}")

    @paper.command(name="unassign", description="Remove a presenter; the waitlist fills the slot")
    @app_commands.describe(member="The student")
    async def unassign(self, interaction: discord.Interaction, member: discord.Member) -> None:
        result = await papers.unassign(self.bot.services, actor_id=interaction.user.id, discord_id=member.id)
        promoted = ", ".join(f"<@{p.discord_id}> (paper {p.paper.number})" for p in result.promotions)
        await interaction.response.send_message(
            f"{member.mention} no longer presents paper {', '.join(map(str, result.papers))}."
            + (f" Promoted from the waitlist: {promoted}." if promoted else ""),
            ephemeral=True,
        )
        self.bot.dispatcher.wake()  # their DM, and the promoted students', were planned with the change
        await self._log(
            interaction, f"unassigned {member.mention} from paper {', '.join(map(str, result.papers))}"
        )

    @signups.command(name="open", description="Open paper sign-up now, whatever the configured dates say")
    async def open_signups(self, interaction: discord.Interaction) -> None:
        await papers.set_signup_override(self.bot.services, actor_id=interaction.user.id, state="open")
        await interaction.response.send_message(
            "Paper sign-up is now open (until you close it).", ephemeral=True
        )
        await self._log(interaction, "opened paper sign-up")

    @signups.command(name="close", description="Close paper sign-up now, whatever the configured dates say")
    async def close_signups(self, interaction: discord.Interaction) -> None:
        await papers.set_signup_override(self.bot.services, actor_id=interaction.user.id, state="closed")
        await interaction.response.send_message(
            "Paper sign-up is now closed (until you open it).", ephemeral=True
        )
        await self._log(interaction, "closed paper sign-up")

    @signups.command(
        name="schedule", description="Follow the configured sign-up dates again (undo open/close)"
    )
    async def schedule_signups(self, interaction: discord.Interaction) -> None:
        window = await papers.set_signup_override(
            self.bot.services, actor_id=interaction.user.id, state="schedule"
        )
        state = "open" if window.is_open else "closed"
        await interaction.response.send_message(
            f"Paper sign-up follows the configured dates again; it is {state} now.", ephemeral=True
        )
        await self._log(interaction, "returned paper sign-up to the configured dates")
