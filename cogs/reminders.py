"""Reminders: `/reminders`, `/officehours`, `/deadlines`, and the staff's `/ta deadline` and
`/ta officehours`. Sending is the outbox's job (bot/notify); this cog changes what is planned."""

from __future__ import annotations

import re
from typing import Any, Literal

import discord
from discord import app_commands

from bot.app import CourseBot
from bot.services import reminders
from cogs._base import FeatureCog, StaffCog, add_cogs, guarded
from cogs._render import bot_of, embed, when

Category = Literal["office_hours", "deadlines", "presentation", "attendance"]


class OfficeHoursToggle(
    discord.ui.DynamicItem[discord.ui.Button[Any]], template=r"officehours:(?P<state>on|off)"
):
    """Subscribe / Unsubscribe to office-hours reminders (stateless, survives restarts)."""

    def __init__(self, subscribe: bool) -> None:
        label, style = (
            ("Subscribe", discord.ButtonStyle.success)
            if subscribe
            else ("Unsubscribe", discord.ButtonStyle.secondary)
        )
        super().__init__(
            discord.ui.Button(
                label=label, style=style, custom_id=f"officehours:{'on' if subscribe else 'off'}"
            )
        )
        self.subscribe = subscribe

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> OfficeHoursToggle:
        return cls(match["state"] == "on")

    async def callback(self, interaction: discord.Interaction) -> None:
        async def toggle() -> None:
            bot = bot_of(interaction)
            await reminders.set_preference(
                bot.services, discord_id=interaction.user.id, category="office_hours", enabled=self.subscribe
            )
            state = "on: you will get a DM before office hours" if self.subscribe else "off"
            await interaction.response.send_message(f"Office-hours reminders are {state}.", ephemeral=True)

        await guarded(interaction, toggle)


class RemindersCog(FeatureCog):
    async def cog_load(self) -> None:
        await super().cog_load()
        self.bot.add_dynamic_items(OfficeHoursToggle)

    async def cog_unload(self) -> None:
        self.bot.remove_dynamic_items(OfficeHoursToggle)
        await super().cog_unload()

    @app_commands.command(name="reminders", description="Turn DM reminders of one category on or off")
    @app_commands.describe(category="Which reminders", enabled="On or off")
    async def set_reminders(
        self, interaction: discord.Interaction, category: Category, enabled: bool
    ) -> None:
        await reminders.set_preference(
            self.bot.services, discord_id=interaction.user.id, category=category, enabled=enabled
        )
        current = await reminders.preferences(self.bot.services, interaction.user.id)
        summary = ", ".join(f"{name} {'on' if on else 'off'}" for name, on in current.items())
        await interaction.response.send_message(
            f"{category} reminders are now {'on' if enabled else 'off'}. Your DM reminders: {summary}.",
            ephemeral=True,
        )

    @app_commands.command(name="officehours", description="The next office hours and your reminder setting")
    async def officehours(self, interaction: discord.Interaction) -> None:
        services, office = self.bot.services, self.bot.config.office_hours
        upcoming = await reminders.next_office_hours(services)
        subscribed = (await reminders.preferences(services, interaction.user.id))["office_hours"]
        card = embed(
            "Office hours",
            f"{office.day} {office.start:%H:%M}–{office.end:%H:%M} at {office.place}"
            + (f", {office.note}" if office.note else ""),
        )
        if upcoming is None:
            card.add_field(name="Next", value="No more office hours this term.", inline=False)
        elif upcoming.cancelled:
            card.add_field(
                name="Next",
                value=f"~~{when(upcoming.starts_at)}~~ **cancelled**"
                + (f": {upcoming.reason}" if upcoming.reason else ""),
                inline=False,
            )
        else:
            moved = (
                " (**moved** this week" + (f": {upcoming.reason}" if upcoming.reason else "") + ")"
                if upcoming.moved
                else ""
            )
            card.add_field(
                name="Next", value=f"{when(upcoming.starts_at)} at {upcoming.place}{moved}", inline=False
            )
        card.add_field(
            name="Your reminders",
            value="DM before each session: " + ("on" if subscribed else "off"),
            inline=False,
        )
        view = discord.ui.View(timeout=None)
        view.add_item(OfficeHoursToggle(not subscribed))
        await interaction.response.send_message(embed=card, view=view, ephemeral=True)

    @app_commands.command(name="deadlines", description="Upcoming deadlines")
    async def deadlines(self, interaction: discord.Interaction) -> None:
        upcoming = await reminders.upcoming_deadlines(self.bot.services)
        lines = [f"**{d.title}** — {when(d.due_at)}" for d in upcoming]
        await interaction.response.send_message(
            embed=embed("Upcoming deadlines", "\n".join(lines) or "No deadlines ahead."), ephemeral=True
        )


class RemindersStaffCog(StaffCog):
    deadline_staff = app_commands.Group(name="deadline", description="Manage deadlines and their reminders")
    officehours_staff = app_commands.Group(name="officehours", description="Change one office-hours session")

    @deadline_staff.command(name="add", description="Add or change a deadline and its reminder offsets")
    @app_commands.describe(
        key="Short id, e.g. midterm_report",
        title="What is due",
        due="YYYY-MM-DD HH:MM (course time)",
        remind="Offsets, e.g. 7d,1d,1h",
    )
    async def deadline_add(
        self, interaction: discord.Interaction, key: str, title: str, due: str, remind: str | None = None
    ) -> None:
        info = await reminders.add_deadline(
            self.bot.services, actor_id=interaction.user.id, key=key, title=title, due=due, remind=remind
        )
        self.bot.dispatcher.wake()
        await interaction.response.send_message(
            f"Deadline `{info.key}`: {info.title}, due {when(info.due_at)}; reminders {info.remind} before.",
            ephemeral=True,
        )
        await self.bot.post_staff_log(
            f"{interaction.user.mention} set deadline `{info.key}` ({info.title}) to {when(info.due_at)}"
        )

    @deadline_staff.command(name="remove", description="Remove a deadline; its reminders are cancelled")
    @app_commands.describe(key="The deadline's key (see /deadlines)")
    async def deadline_remove(self, interaction: discord.Interaction, key: str) -> None:
        info = await reminders.remove_deadline(self.bot.services, actor_id=interaction.user.id, key=key)
        await interaction.response.send_message(
            f"Removed deadline `{info.key}` ({info.title}); its reminders are cancelled.", ephemeral=True
        )
        await self.bot.post_staff_log(f"{interaction.user.mention} removed deadline `{info.key}`")

    @officehours_staff.command(
        name="cancel", description="Cancel one office-hours session; subscribers are told"
    )
    @app_commands.describe(date="The session's date, YYYY-MM-DD", reason="Shown to students")
    async def officehours_cancel(
        self, interaction: discord.Interaction, date: str, reason: str | None = None
    ) -> None:
        changed, _ = await reminders.change_office_hours(
            self.bot.services, actor_id=interaction.user.id, day_text=date, cancel=True, reason=reason
        )
        self.bot.dispatcher.wake()
        await interaction.response.send_message(
            f"Office hours on {changed.day:%a %Y-%m-%d} cancelled; the channel and subscribers are being told.",
            ephemeral=True,
        )
        await self.bot.post_staff_log(f"{interaction.user.mention} cancelled office hours on {changed.day}")

    @officehours_staff.command(name="move", description="Move one office-hours session; subscribers are told")
    @app_commands.describe(
        date="The regular session's date, YYYY-MM-DD",
        start="New start: HH:MM that day, or YYYY-MM-DD HH:MM",
        place="New place",
    )
    async def officehours_move(
        self, interaction: discord.Interaction, date: str, start: str, place: str | None = None
    ) -> None:
        changed, _ = await reminders.change_office_hours(
            self.bot.services,
            actor_id=interaction.user.id,
            day_text=date,
            cancel=False,
            start=start,
            place=place,
        )
        self.bot.dispatcher.wake()
        await interaction.response.send_message(
            f"Office hours of {changed.day:%a %Y-%m-%d} moved to {when(changed.starts_at)} at {changed.place}.",
            ephemeral=True,
        )
        await self.bot.post_staff_log(
            f"{interaction.user.mention} moved office hours of {changed.day} to {when(changed.starts_at)}"
        )

    @officehours_staff.command(
        name="notice", description="Tell office-hours subscribers and the channel something now"
    )
    @app_commands.describe(text="The notice")
    async def officehours_notice(self, interaction: discord.Interaction, text: str) -> None:
        await reminders.office_hours_notice(self.bot.services, actor_id=interaction.user.id, text=text)
        self.bot.dispatcher.wake()
        await interaction.response.send_message(
            "Notice queued for the announcements channel and office-hours subscribers.", ephemeral=True
        )


async def setup(bot: CourseBot) -> None:
    await add_cogs(bot, RemindersCog(bot), RemindersStaffCog(bot))
