"""`/register`, and `/ta student` for the staff to look a registration up."""

from __future__ import annotations

import json

import discord
from discord import app_commands
from discord.ext import commands

from bot.app import CourseBot
from bot.db.audit import recent
from bot.permissions import Privilege, privilege_of
from bot.services import students
from cogs._base import FeatureCog, StaffCog
from cogs._render import embed, when


class RegistrationCog(FeatureCog):
    """Also keeps the bot's record of who has the student role current (for exports)."""

    def _is_student(self, member: discord.Member) -> bool:
        return privilege_of(member, self.bot.config.discord.roles) == Privilege.STUDENT and not member.bot

    @commands.Cog.listener()
    async def on_member_join(self, member: discord.Member) -> None:
        await self._remember(member)

    @commands.Cog.listener()
    async def on_member_update(self, before: discord.Member, after: discord.Member) -> None:
        if self._is_student(before) != self._is_student(after):
            await self._remember(after)

    @commands.Cog.listener()
    async def on_member_remove(self, member: discord.Member) -> None:
        await students.set_student_role(
            self.bot.services, discord_id=member.id, name=member.name, joined_at=None, has_role=False
        )

    async def _remember(self, member: discord.Member) -> None:
        if member.guild != self.bot.course_guild:
            return
        await students.set_student_role(
            self.bot.services,
            discord_id=member.id,
            name=member.name,
            joined_at=member.joined_at,
            has_role=self._is_student(member),
        )

    @app_commands.command(
        name="register", description="Link your Discord account to your student id and name"
    )
    @app_commands.describe(
        student_id="Your student id, e.g. 20251234", name="Your name as on the class roster"
    )
    async def register(self, interaction: discord.Interaction, student_id: str, name: str) -> None:
        member = interaction.user
        result = await students.register(
            self.bot.services,
            discord_id=member.id,
            discord_name=member.name,
            joined_at=getattr(member, "joined_at", None),
            student_id=student_id,
            name=name,
        )
        if result.is_correction:
            text = (
                f"Registration updated: `{result.student_id}` · {result.name} "
                f"(was `{result.previous_student_id}` · {result.previous_name})."
            )
        else:
            text = f"Registered: `{result.student_id}` · {result.name}. Re-run `/register` to correct it."
        await interaction.response.send_message(text, ephemeral=True)


class StudentLookupCog(StaffCog):
    @app_commands.command(name="student", description="A member's registration and recent activity (staff)")
    @app_commands.describe(member="The member to look up")
    async def student_lookup(self, interaction: discord.Interaction, member: discord.Member) -> None:
        services = self.bot.services
        record = await students.get_student(services, member.id)
        card = embed(f"{member.display_name}", member.mention)
        if record is None or record.student_id is None:
            card.add_field(name="Registration", value="Not registered.", inline=False)
        else:
            card.add_field(name="Registration", value=f"`{record.student_id}` · {record.name}", inline=False)
        if record is not None:
            card.add_field(name="Known since", value=when(record.joined_at), inline=False)
        async with services.db.read() as session:
            entries = await recent(session, target_id=member.id, limit=10)
        history = "\n".join(f"{when(e.at)} · `{e.action}` {_short(e.details)}" for e in entries)
        card.add_field(name="Recent activity", value=history[:1024] or "—", inline=False)
        await interaction.response.send_message(embed=card, ephemeral=True)


def _short(details: str) -> str:
    data = json.loads(details or "{}")
    text = ", ".join(
        f"{key}={value}"
        for key, value in data.items()
        if value is not None and not key.startswith("previous")
    )
    return text[:80]


async def setup(bot: CourseBot) -> None:
    await bot.add_cog(RegistrationCog(bot))
    await bot.add_cog(StudentLookupCog(bot))
