"""The course calendar: `/calendar` (the member's own `.ics`, and their private feed link when the
web feed is on), the feed itself on the [http] server (`GET /calendar/<secret>.ics`, with ETag and
Last-Modified so calendar apps poll cheaply), and the Scheduled Events sync (`_events.py`)."""

from __future__ import annotations

import io
import logging

import discord
from discord import app_commands
from discord.ext import commands

from bot.app import CourseBot
from bot.services import ical
from bot.tree import reply
from cogs._base import FeatureCog
from cogs.calendar._events import ScheduledEventsSync

log = logging.getLogger(__name__)
FEED_ROUTE = "/calendar/{name}"


class CalendarCog(FeatureCog):
    def __init__(self, bot: CourseBot) -> None:
        super().__init__(bot)
        self.events = ScheduledEventsSync(bot)

    async def cog_load(self) -> None:
        server = self.bot.http_server
        if server is not None and ical.feeds_enabled(self.bot.services) and not server.app.frozen:
            from cogs.calendar._feed import CalendarFeed  # aiohttp's server side: only when it is on

            server.app.router.add_get(FEED_ROUTE, CalendarFeed(self.bot).answer)
        self.events.start()

    async def cog_unload(self) -> None:
        await self.events.stop()

    # ---- /calendar --------------------------------------------------------------------------------
    @app_commands.command(
        name="calendar", description="Your course calendar as an .ics file, and your feed link"
    )
    @app_commands.describe(new_link="Make a new private feed link (the old one stops working)")
    async def calendar(self, interaction: discord.Interaction, new_link: bool = False) -> None:
        services = self.bot.services
        await interaction.response.defer(ephemeral=True, thinking=True)
        made = await ical.member_calendar(services, interaction.user.id)
        lines = [
            f"📅 Your course calendar ({made.events} events: lectures, talk days, your talk, office hours, "
            "deadlines, the poster session). Open the file to add it to your calendar app; "
            "it does not update by itself."
        ]
        if ical.feeds_enabled(services):
            if new_link or not await ical.has_feed(services, interaction.user.id):
                secret = await ical.new_feed(services, interaction.user.id)
                lines.append(
                    f"Subscribe to stay up to date (keep this link private, it is shown only now): "
                    f"<{ical.feed_url(services, secret)}>"
                    + (" — your previous link no longer works." if new_link else "")
                )
            else:
                lines.append(
                    "Your subscription link was shown when it was made; `/calendar new_link:true` makes a "
                    "new one (the old one then stops working)."
                )
        elif new_link:
            lines.append("Subscription links are off on this server, so there is no link to replace.")
        await reply(
            interaction,
            "\n".join(lines),
            file=discord.File(io.BytesIO(made.body), filename=ical.filename(services)),
        )

    # ---- members who leave ------------------------------------------------------------------------
    @commands.Cog.listener()
    async def on_member_remove(self, member: discord.Member) -> None:
        guild = self.bot.course_guild
        if guild is not None and member.guild.id == guild.id:
            await ical.drop_feed(self.bot.services, member.id, reason="left the server")

    @commands.Cog.listener()
    async def on_ready(self) -> None:
        """Feeds of members who left while the bot was away stop too."""
        guild = self.bot.course_guild
        if guild is None or not guild.chunked:
            return
        for discord_id in await ical.feed_members(self.bot.services):
            if guild.get_member(discord_id) is None:
                await ical.drop_feed(self.bot.services, discord_id, reason="left the server")


async def setup(bot: CourseBot) -> None:
    await bot.add_cog(CalendarCog(bot))
