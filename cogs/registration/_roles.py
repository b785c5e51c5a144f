"""Giving the student role after `/register` (`[onboarding] grant_student_role`). Discord refusing
(no Manage Roles, or the role above the bot's own) never breaks a registration: the student is told
the staff will give the role, and ta-log gets one line per run saying what to fix."""

from __future__ import annotations

import logging

import discord

from bot.app import CourseBot, find_by_reference
from bot.services import onboarding

log = logging.getLogger(__name__)


class StudentRole:
    def __init__(self, bot: CourseBot) -> None:
        self.bot = bot

    async def grant(self, member: discord.Member, student_id: str) -> str:
        """Add the student role to `member`, audit the result; returns the line for the reply."""
        reference = self.bot.config.discord.roles.student
        role = find_by_reference(list(member.guild.roles), reference)
        problem: tuple[str, str] | None = None  # (say-once key, what to fix)
        if not isinstance(role, discord.Role):
            problem = ("missing", f"the role `{reference}` ([discord.roles] student) does not exist")
        else:
            try:
                await member.add_roles(role, reason=f"registered as {student_id}")
            except discord.Forbidden:
                problem = _forbidden(member.guild, role)
            except discord.HTTPException as error:
                problem = (f"http-{error.status}", f"Discord answered {error.status}")
        name = role.name if isinstance(role, discord.Role) else reference
        await onboarding.record_grant(
            self.bot.services, discord_id=member.id, role=name, problem=problem[1] if problem else None
        )
        if problem is None:
            return f"You now have the **{name}** role."
        log.warning("Could not give member %s the student role: %s", member.id, problem[1])
        key = f"onboarding-role:{problem[0]}"
        if key not in self.bot.reported:  # the same fix for every registration: say it once
            self.bot.reported.add(key)
            await self.bot.post_staff_log(
                f"⚠️ `/register` could not give the **{name}** role: {problem[1]}. "
                "Registrations still work; give the role by hand until this is fixed."
            )
        return f"The bot could not give you the **{name}** role; the staff were told and will give it to you."


def _forbidden(guild: discord.Guild, role: discord.Role) -> tuple[str, str]:
    """Why Discord refused to add `role` (403 Missing Permissions), and what to fix."""
    me = guild.me
    if not me.guild_permissions.manage_roles:
        return ("manage-roles", "the bot lacks the Manage Roles permission; give it to the bot's role")
    if role >= me.top_role:
        return (
            "hierarchy",
            f"the **{role.name}** role is above the bot's highest role ({me.top_role.name}); "
            f"in Server Settings → Roles, drag the bot's role above {role.name}",
        )
    return ("forbidden", "Discord refused it (403 Missing Permissions); check the bot's role and permissions")
