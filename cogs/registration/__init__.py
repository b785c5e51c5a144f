"""`/register` (and, with `[onboarding]` on, the student role and the welcome DM), and `/ta student`
for the staff to look a registration up. The rules live in bot/services/students.py and onboarding.py."""

from __future__ import annotations

from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.app import CourseBot
from bot.permissions import Privilege, is_student, privilege_of, role_matches
from bot.services import appointments, attendance, audit_log, onboarding, students
from bot.tree import reply
from cogs._base import FeatureCog, StaffCog, add_cogs
from cogs._render import embed, when
from cogs.registration._roles import StudentRole


class RegistrationCog(FeatureCog):
    """Also keeps the bot's record of who has the student role current (for exports)."""

    def __init__(self, bot: CourseBot) -> None:
        super().__init__(bot)
        self.student_role = StudentRole(bot)

    def _is_student(self, member: discord.Member) -> bool:
        return is_student(member, self.bot.config.discord.roles)

    @commands.Cog.listener()
    async def on_member_join(self, member: discord.Member) -> None:
        newcomer = not member.bot and privilege_of(member, self.bot.config.discord.roles) < Privilege.TA
        if await self._remember(member, joined=newcomer):
            self.bot.dispatcher.wake()  # the welcome DM is in the outbox

    @commands.Cog.listener()
    async def on_member_update(self, before: discord.Member, after: discord.Member) -> None:
        if self._is_student(before) != self._is_student(after):
            await self._remember(after)

    @commands.Cog.listener()
    async def on_member_remove(self, member: discord.Member) -> None:
        await students.set_student_role(
            self.bot.services, discord_id=member.id, name=member.name, joined_at=None, has_role=False
        )

    async def _remember(self, member: discord.Member, *, joined: bool = False) -> bool:
        if member.guild != self.bot.course_guild:
            return False
        return await students.set_student_role(
            self.bot.services,
            discord_id=member.id,
            name=member.name,
            joined_at=member.joined_at,
            has_role=self._is_student(member),
            joined=joined,
        )

    @app_commands.command(
        name="register", description="Link your Discord account to your student id and name"
    )
    @app_commands.describe(
        student_id="Your student id, e.g. 20251234", name="Your name as on the class roster"
    )
    async def register(self, interaction: discord.Interaction, student_id: str, name: str) -> None:
        user = interaction.user
        guild = self.bot.course_guild
        member = guild.get_member(user.id) if guild is not None else None
        roles = self.bot.config.discord.roles
        if member is not None and self.bot.config.onboarding.grant_student_role:
            await interaction.response.defer(ephemeral=True, thinking=True)  # Discord calls follow
        try:
            result = await students.register(
                self.bot.services,
                discord_id=user.id,
                discord_name=user.name,
                joined_at=getattr(user, "joined_at", None),
                student_id=student_id,
                name=name,
                is_staff=member is not None and privilege_of(member, roles) >= Privilege.TA,
                has_role=member is not None and any(role_matches(r, roles.student) for r in member.roles),
                on_server=member is not None,
            )
        except onboarding.RosterMismatch as mismatch:  # refused; the tree shows the message
            await self.bot.post_staff_log(
                onboarding.mismatch_line(
                    discord_id=user.id,
                    student_id=mismatch.student_id,
                    name=mismatch.name,
                    decision=mismatch.decision,
                )
            )
            raise
        if result.is_correction:
            text = (
                f"Registration updated: `{result.student_id}` · {result.name} "
                f"(was `{result.previous_student_id}` · {result.previous_name})."
            )
        else:
            text = f"Registered: `{result.student_id}` · {result.name}. Re-run `/register` to correct it."
        if result.role.mismatch:
            await self.bot.post_staff_log(
                onboarding.mismatch_line(
                    discord_id=user.id, student_id=result.student_id, name=result.name, decision=result.role
                )
            )
            text += (
                "\nYour name does not match the class roster for this id, so you did not get the "
                "student role yet. The staff were told; ask them."
            )
        elif result.role.grant and member is not None:
            text += "\n" + await self.student_role.grant(member, result.student_id)
        await reply(interaction, text)


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
        met = await appointments.counts_of(services, member.id)
        excused = await attendance.excuse_counts_of(services, member.id)
        card.add_field(
            name="Appointments and excuses",
            value=f"{met.accepted} appointment{'s' if met.accepted != 1 else ''} accepted of {met.requested} asked · "
            f"{excused.requested} excuse request{'s' if excused.requested != 1 else ''} "
            f"({excused.approved} approved, {excused.with_evidence} with evidence)",
            inline=False,
        )
        entries = await audit_log.recent_entries(services, member_id=member.id, limit=10)
        history = "\n".join(f"{when(e.at)} · `{e.action}` {_short(e.details)}" for e in entries)
        card.add_field(name="Recent activity", value=history[:1024] or "—", inline=False)
        await interaction.response.send_message(embed=card, ephemeral=True)


def _short(details: dict[str, Any]) -> str:
    text = ", ".join(
        f"{key}={value}"
        for key, value in details.items()
        if value is not None and not key.startswith("previous")
    )
    return text[:80]


async def setup(bot: CourseBot) -> None:
    await add_cogs(bot, RegistrationCog(bot), StudentLookupCog(bot))
