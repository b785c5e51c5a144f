"""The course calendar: `/calendar` (the member's own `.ics`, and their private feed link when the
web feed is on), the feed itself on the [http] server (`GET /calendar/<secret>.ics`, with ETag and
Last-Modified so calendar apps poll cheaply), and the Scheduled Events sync (`_events.py`)."""

from __future__ import annotations

import io
import logging
from email.utils import parsedate_to_datetime

import discord
from aiohttp import web
from discord import app_commands
from discord.ext import commands

from bot.app import CourseBot
from bot.services import ical
from bot.tree import reply
from cogs._base import FeatureCog
from cogs.calendar._events import ScheduledEventsSync

log = logging.getLogger(__name__)
FEED_ROUTE = "/calendar/{name}"
NOT_FOUND = "No calendar here.\n"


def _etag_matches(header: str, etag: str) -> bool:
    """RFC 9110 If-None-Match: `*` or a list of (weak or strong) tags, compared weakly."""
    if header.strip() == "*":
        return True
    tags = {tag.strip().removeprefix("W/") for tag in header.split(",")}
    return etag in tags


class CalendarCog(FeatureCog):
    def __init__(self, bot: CourseBot) -> None:
        super().__init__(bot)
        self.events = ScheduledEventsSync(bot)

    async def cog_load(self) -> None:
        server = self.bot.http_server
        if server is not None and ical.feeds_enabled(self.bot.services) and not server.app.frozen:
            server.app.router.add_get(FEED_ROUTE, self.feed)
        self.events.start()

    async def cog_unload(self) -> None:
        self.events.stop()

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

    # ---- the feed ---------------------------------------------------------------------------------
    async def feed(self, request: web.Request) -> web.StreamResponse:
        """`GET /calendar/<secret>.ics`: 200 with the member's calendar, 304 when the client's copy is
        current, 404 for anything else (a wrong secret, a replaced one, a member who left)."""
        name = request.match_info["name"]
        secret = name.removesuffix(".ics")
        owner = await ical.feed_owner(self.bot.services, secret)
        guild = self.bot.course_guild
        if owner is not None and guild is not None and guild.chunked and guild.get_member(owner) is None:
            await ical.drop_feed(self.bot.services, owner, reason="left the server")
            owner = None
        if owner is None or not name.endswith(".ics"):
            return web.Response(status=404, text=NOT_FOUND, headers={"Cache-Control": "no-store"})
        made = await ical.member_calendar(self.bot.services, owner)
        headers = {
            "ETag": made.etag,
            "Last-Modified": made.http_last_modified,
            "Cache-Control": "private, max-age=300",
        }
        if_none_match = request.headers.get("If-None-Match")
        if if_none_match is not None:
            if _etag_matches(if_none_match, made.etag):
                return web.Response(status=304, headers=headers)
        elif (since := request.headers.get("If-Modified-Since")) is not None:
            try:
                if made.last_modified.replace(microsecond=0) <= parsedate_to_datetime(since):
                    return web.Response(status=304, headers=headers)
            except (TypeError, ValueError):
                pass  # an unreadable date: answer in full
        return web.Response(body=made.body, headers={**headers, "Content-Type": ical.CONTENT_TYPE})


async def setup(bot: CourseBot) -> None:
    await bot.add_cog(CalendarCog(bot))
