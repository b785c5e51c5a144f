"""Attendance: `/checkin`, `/attendance`, `/excuse`, and the staff's `/ta attendance` and
`/ta excuse`. The rules live in bot/services/attendance.py."""

from __future__ import annotations

import discord
from discord import app_commands

from bot.app import CourseBot
from bot.errors import InvalidInput, NotAllowed
from bot.permissions import is_student
from bot.services import attendance
from bot.services.attendance import Outcome
from bot.tree import reply
from cogs._base import FeatureCog, add_cogs
from cogs._render import embed, when
from cogs.attendance._staff import AttendanceStaffCog
from cogs.attendance._views import withdraw_view


class AttendanceCog(FeatureCog):
    def _require_student(self, interaction: discord.Interaction) -> None:
        if not is_student(interaction.user, self.bot.config.discord.roles):
            raise NotAllowed("Only members with the student role check in.")

    @app_commands.command(
        name="checkin", description="Check in to the lecture with the code shown in the room"
    )
    @app_commands.describe(code="The code on the screen")
    @app_commands.guild_only()
    async def checkin(self, interaction: discord.Interaction, code: str) -> None:
        self._require_student(interaction)
        member = interaction.user
        result = await attendance.check_in(
            self.bot.services,
            discord_id=member.id,
            discord_name=member.name,
            joined_at=getattr(member, "joined_at", None),
            code=code,
        )
        if result.outcome in (Outcome.PRESENT, Outcome.LATE):  # recorded (committed) by check_in
            self.bot.metrics.checkin_recorded(result.outcome.value)
        lecture = f"the lecture of {result.session.lecture_date:%a %Y-%m-%d}"
        texts = {
            Outcome.PRESENT: f"Checked in to {lecture}: present.",
            Outcome.LATE: f"Checked in to {lecture}: late (more than {self.bot.config.attendance.late_after_minutes} minutes after the start).",
            Outcome.ALREADY: f"You already checked in to {lecture} at {when(result.at)}."
            if result.at
            else "You already checked in.",
            Outcome.WRONG: f"Wrong code; {result.tries_left} tr{'ies' if result.tries_left != 1 else 'y'} left.",
            Outcome.LOCKED_NOW: "Wrong code, and that was your last try: you are locked out of this check-in. The staff have been told.",
            Outcome.LOCKED: "You are locked out of this check-in after too many wrong codes; talk to the staff.",
        }
        if result.outcome is Outcome.LOCKED_NOW:
            self.bot.dispatcher.wake()  # the staff's note was planned with the lockout
        await reply(interaction, texts[result.outcome])  # not sent past Discord's deadline

    @app_commands.command(
        name="attendance", description="Your attendance record and absences left before the fail line"
    )
    async def my_attendance(self, interaction: discord.Interaction) -> None:
        member = interaction.user
        record = await attendance.record_of(self.bot.services, member.id, getattr(member, "joined_at", None))
        fail_at = self.bot.config.attendance.fail_at
        card = embed(
            "Your attendance",
            f"{record.held} lecture{'s' if record.held != 1 else ''} held since you joined.",
        )
        card.add_field(name="Present", value=str(record.present))
        card.add_field(name="Late", value=str(record.late))
        card.add_field(name="Excused", value=str(record.excused))
        card.add_field(name="Absent", value=str(record.absent))
        standing = (
            f"You have reached the fail line ({fail_at} absences mean an F). Talk to the staff."
            if record.failed
            else f"You can miss {record.absences_left} more lecture{'s' if record.absences_left != 1 else ''}; {fail_at} absences mean an F."
        )
        card.add_field(name="Standing", value=standing, inline=False)
        recent = [f"{lecture.lecture_date:%a %m-%d}: {lecture.status}" for lecture in record.lectures[-12:]]
        if recent:
            card.add_field(name="Lectures", value="\n".join(recent), inline=False)
        await interaction.response.send_message(embed=card, ephemeral=True)

    @app_commands.command(name="excuse", description="Ask the staff to excuse an absence on a lecture date")
    @app_commands.describe(
        date="Lecture date, YYYY-MM-DD",
        reason="Why you could not attend",
        evidence="Optional: a PDF, PNG or JPEG of at most 8 MB (e.g. a medical note); only the staff see it",
    )
    async def excuse(
        self,
        interaction: discord.Interaction,
        date: str,
        reason: str,
        evidence: discord.Attachment | None = None,
    ) -> None:
        member = interaction.user
        day = attendance.parse_day(date)
        document = None
        if evidence is not None:  # downloaded now: Discord's attachment links expire
            attendance.check_evidence_size(evidence.filename, evidence.size)
            await interaction.response.defer(ephemeral=True, thinking=True)
            try:
                data = await evidence.read()
            except discord.HTTPException:
                raise InvalidInput(
                    f"The evidence `{evidence.filename[:40]}` could not be downloaded from Discord; attach it again."
                ) from None
            document = attendance.check_evidence(evidence.filename, data)
        request = await attendance.request_excuse(
            self.bot.services,
            discord_id=member.id,
            discord_name=member.name,
            joined_at=getattr(member, "joined_at", None),
            day=day,
            reason=reason,
            evidence=document,
        )
        attached = (
            f" with your evidence {request.evidence.label}, which only the staff can see"
            if request.evidence
            else ""
        )
        await reply(
            interaction,
            f"Your request #{request.id} to excuse {request.lecture_date:%a %Y-%m-%d} is with the staff{attached}; "
            "you will get a DM when they decide.",
            view=withdraw_view(request.id),
        )
        self.bot.dispatcher.wake()  # the staff's note was planned with the request


async def setup(bot: CourseBot) -> None:
    await add_cogs(bot, AttendanceCog(bot), AttendanceStaffCog(bot))
