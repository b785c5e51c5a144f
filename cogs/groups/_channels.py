"""A private text channel and a role per group (when `groups.create_channels` is on), kept in step
with membership. Discord refusing (missing permissions) never breaks group formation: the staff get
one clear line in ta-log and the group works without its channel."""

from __future__ import annotations

import logging
import re

import discord

from bot.app import CourseBot
from bot.permissions import role_matches
from bot.services import groups
from bot.services.groups import GroupInfo

log = logging.getLogger(__name__)


def channel_name(group_name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", group_name.casefold()).strip("-")
    return f"group-{slug or 'unnamed'}"[:100]


class GroupChannels:
    def __init__(self, bot: CourseBot) -> None:
        self.bot = bot

    @property
    def enabled(self) -> bool:
        return self.bot.config.groups.create_channels and self.bot.course_guild is not None

    async def _report(self, what: str, error: discord.HTTPException) -> None:
        reason = (
            "the bot lacks Manage Channels / Manage Roles"
            if isinstance(error, discord.Forbidden)
            else f"Discord said {error.status}"
        )
        log.warning("Group channels: could not %s: %s", what, error)
        if isinstance(error, discord.Forbidden):  # a missing permission: say it once, not at every join
            if "group-channels-forbidden" in self.bot.reported:
                return
            self.bot.reported.add("group-channels-forbidden")
        await self.bot.post_staff_log(f"⚠️ Could not {what}: {reason}. The group itself is fine.")

    async def create(self, info: GroupInfo) -> None:
        """Make the role and the private channel of a new group and give the role to its members."""
        guild = self.bot.course_guild
        if not self.enabled or guild is None:
            return
        role: discord.Role | None = None
        try:
            role = await guild.create_role(
                name=f"Group {info.name}", mentionable=False, reason="project group"
            )
            overwrites: dict[discord.Role | discord.Member | discord.Object, discord.PermissionOverwrite] = {
                guild.default_role: discord.PermissionOverwrite(view_channel=False),
                role: discord.PermissionOverwrite(view_channel=True, send_messages=True),
            }
            roles = self.bot.config.discord.roles
            for staff_role in guild.roles:
                if role_matches(staff_role, roles.ta) or role_matches(staff_role, roles.instructor):
                    overwrites[staff_role] = discord.PermissionOverwrite(
                        view_channel=True, send_messages=True
                    )
            if guild.me is not None:
                overwrites[guild.me] = discord.PermissionOverwrite(view_channel=True, send_messages=True)
            category = await self._category(guild)
            channel = await guild.create_text_channel(
                channel_name(info.name),
                overwrites=overwrites,
                category=category,
                topic=info.title,
                reason="project group",
            )
        except discord.HTTPException as error:
            if role is not None:  # do not leave a role without its channel behind
                try:
                    await role.delete(reason="project group channel could not be created")
                except discord.HTTPException:
                    log.warning("Group channels: could not delete the orphan role %s", role.name)
            await self._report(f"create the channel of group {info.name}", error)
            return
        await groups.set_discord_ids(
            self.bot.services, group_id=info.id, channel_id=channel.id, role_id=role.id
        )
        for member_id in info.members:
            await self.set_member(role.id, member_id, True)

    async def _category(self, guild: discord.Guild) -> discord.CategoryChannel | None:
        name = self.bot.config.groups.channel_category
        if not name:
            return None
        existing = discord.utils.find(lambda c: c.name.casefold() == name.casefold(), guild.categories)
        return existing or await guild.create_category(name, reason="project groups")

    async def set_member(self, role_id: int | None, member_id: int, present: bool) -> None:
        """Give or take the group role (no-op without channels)."""
        guild = self.bot.course_guild
        if not self.enabled or guild is None or role_id is None:
            return
        role = guild.get_role(role_id)
        member = guild.get_member(member_id)
        if role is None or member is None:
            return
        try:
            if present:
                await member.add_roles(role, reason="joined project group")
            else:
                await member.remove_roles(role, reason="left project group")
        except discord.HTTPException as error:
            await self._report(f"update the role {role.name} of {member.mention}", error)

    async def remove(self, info: GroupInfo) -> None:
        """Delete a dissolved group's channel and role."""
        guild = self.bot.course_guild
        if not self.enabled or guild is None:
            return
        try:
            channel = guild.get_channel(info.channel_id) if info.channel_id else None
            if channel is not None:
                await channel.delete(reason="project group dissolved")
            role = guild.get_role(info.role_id) if info.role_id else None
            if role is not None:
                await role.delete(reason="project group dissolved")
        except discord.HTTPException as error:
            await self._report(f"remove the channel of group {info.name}", error)
