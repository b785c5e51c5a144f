"""Start-up verification: the configured server, roles and channels exist and the bot has the
permissions each enabled feature needs. Each problem is one log line and one message in ta-log;
features that can work keep working."""

from __future__ import annotations

import logging

import discord
from discord.ext import commands

from bot.app import CourseBot, find_by_reference
from bot.services import students
from cogs._base import FeatureCog

log = logging.getLogger(__name__)

CHANNEL_NEEDS = ("view_channel", "send_messages", "embed_links", "attach_files", "read_message_history")


def problems(bot: CourseBot) -> list[str]:
    """What is missing or not allowed, one line each."""
    config = bot.config.discord
    guild = bot.course_guild
    if guild is None:
        where = f"server {config.guild_id}" if config.guild_id else "a single server (guild_id is 0)"
        return [f"The bot is not in {where}: invite it, or fix [discord] guild_id."]
    found: list[str] = []
    for key in ("instructor", "ta", "student"):
        reference = getattr(config.roles, key)
        if find_by_reference(list(guild.roles), reference) is None:
            found.append(f"Role `{reference}` ([discord.roles] {key}) does not exist on {guild.name}.")
    me = guild.me
    for key in ("announcements", "ta_log", "fallback"):
        reference = getattr(config.channels, key)
        channel = find_by_reference(list(guild.text_channels), reference)
        if not isinstance(channel, discord.TextChannel):
            found.append(f"Channel `#{reference}` ([discord.channels] {key}) does not exist on {guild.name}.")
            continue
        allowed = channel.permissions_for(me)
        missing = [name for name in CHANNEL_NEEDS if not getattr(allowed, name)]
        if missing:
            found.append(f"In #{channel.name} the bot lacks: {', '.join(missing)}.")
    if bot.config.groups.create_channels:
        allowed = me.guild_permissions
        missing = [name for name in ("manage_channels", "manage_roles") if not getattr(allowed, name)]
        if missing:
            found.append(
                f"Group channels are on ([groups] create_channels) but the bot lacks: {', '.join(missing)}."
            )
    if not bot.intents.members or (guild.member_count or 0) > len(guild.members) + 5:
        found.append(
            "The bot does not see the server's members: turn on the Server Members intent in the developer portal."
        )
    return found


class VerifyCog(FeatureCog):
    def __init__(self, bot: CourseBot) -> None:
        super().__init__(bot)
        self.checked = False

    @commands.Cog.listener()
    async def on_ready(self) -> None:
        if self.checked:  # on_ready fires again after reconnects
            return
        self.checked = True
        guild = self.bot.course_guild
        if guild is not None and not guild.chunked:  # the member list backs every "students" question
            await guild.chunk()
        members = self.bot.student_members()
        await students.sync_student_role(self.bot.services, [(m.id, m.name, m.joined_at) for m in members])
        found = problems(self.bot)
        for line in found:
            log.warning("Start-up check: %s", line)
        if found:
            await self.bot.post_staff_log(
                "⚠️ Start-up check found problems:\n" + "\n".join(f"• {line}" for line in found)
            )
        else:
            log.info("Start-up check: server, roles, channels and permissions are in order")


async def setup(bot: CourseBot) -> None:
    await bot.add_cog(VerifyCog(bot))
