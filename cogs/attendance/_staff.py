"""The staff's `/ta attendance open|close|mark|report` and `/ta excuse review`."""

from __future__ import annotations

import io
import logging
import re
from datetime import timedelta
from typing import Any, Literal

import discord
from discord import app_commands

from bot.clock import system_now
from bot.errors import NotFound
from bot.permissions import require_staff
from bot.services import attendance, students
from bot.services.attendance import NoLectureToday, OutsideLectureTime
from bot.services.attendance_report import report_chart, report_csv
from cogs._base import StaffCog, guarded
from cogs._render import bot_of, embed
from cogs.attendance._lifecycle import SessionLifecycle, live_text
from cogs.attendance._views import EXCUSE_ITEMS, EvidenceButton, ExcuseDecision

Status = Literal["present", "late", "excused", "absent"]
log = logging.getLogger(__name__)
MAX_EXCUSES_SHOWN = 8  # up to three buttons each (with evidence), within Discord's 25 components
EVIDENCE_PURGE_JOB = "excuses:purge-evidence"
EVIDENCE_PURGE_EVERY = timedelta(hours=6)


async def open_checkin(
    interaction: discord.Interaction, minutes: int | None, rotate: bool, *, extra_ok: bool
) -> None:
    """Open check-in and show the code; with `rotate`, the code is only on the live projector message
    (the reply links to it: a code read from the reply would stop working within seconds)."""
    bot = bot_of(interaction)
    try:
        info, code = await attendance.open_session(
            bot.services, actor_id=interaction.user.id, minutes=minutes, rotate=rotate, extra_ok=extra_ok
        )
    except NoLectureToday as error:  # or outside the lecture's time: the same confirmation
        outside = isinstance(error, OutsideLectureTime)
        question = (
            "Open check-in for it anyway?"
            if outside
            else "Open an extra session anyway? It counts as a lecture held."
        )
        label = "Open check-in anyway" if outside else "Open an extra session"
        view = discord.ui.View(timeout=None)
        view.add_item(OpenExtra(minutes or bot.config.attendance.minutes_open, rotate, label=label))
        await interaction.response.send_message(f"{error.message} {question}", view=view, ephemeral=True)
        return
    lifecycle = SessionLifecycle(bot)
    closes = f"<t:{int(info.closes_at.timestamp())}:t>" if info.closes_at else ""
    kind = "an extra session" if info.extra else f"the lecture of {info.lecture_date:%a %Y-%m-%d}"
    if rotate:
        shown = await _post_live(interaction, info, code)
        await interaction.response.send_message(
            f"Check-in is open for {kind} until {closes}. {shown}", ephemeral=True
        )
    else:
        await interaction.response.send_message(
            f"Check-in is open for {kind} until {closes}. Code: `{code}`", ephemeral=True
        )
    lifecycle.schedule(info)
    await bot.post_staff_log(f"{interaction.user.mention} opened check-in for {kind} until {closes}")


async def _post_live(interaction: discord.Interaction, info: attendance.SessionInfo, code: str) -> str:
    """Post the live, rotating code in the command's channel; what the reply says about it."""
    bot = bot_of(interaction)
    channel = interaction.channel
    if not isinstance(channel, discord.abc.Messageable):
        return "The live code could not be shown here; close check-in and open it in a text channel."
    try:
        message = await channel.send(live_text(code, info))
    except discord.HTTPException as error:
        return (
            f"The live code could not be posted in this channel ({error.status}); check the bot's "
            "permissions, or close check-in and open it without rotation."
        )
    await attendance.set_live_message(
        bot.services, session_id=info.id, channel_id=message.channel.id, message_id=message.id
    )
    return (
        f"The code changes every {info.rotate_seconds} s, so it is shown only on the live message; "
        f"put that on the projector: {message.jump_url}"
    )


class OpenExtra(
    discord.ui.DynamicItem[discord.ui.Button[Any]], template=r"attextra:(?P<minutes>\d+):(?P<rotate>[01])"
):
    """Confirm opening check-in on a day without a lecture (an extra session), or outside the time
    of today's lecture."""

    def __init__(self, minutes: int, rotate: bool, *, label: str = "Open an extra session") -> None:
        super().__init__(
            discord.ui.Button(
                label=label,
                style=discord.ButtonStyle.primary,
                custom_id=f"attextra:{minutes}:{int(rotate)}",
            )
        )
        self.minutes, self.rotate = minutes, rotate

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> OpenExtra:
        return cls(int(match["minutes"]), match["rotate"] == "1")

    async def callback(self, interaction: discord.Interaction) -> None:
        async def open_extra() -> None:
            require_staff(interaction, bot_of(interaction).config.discord.roles)
            await open_checkin(interaction, self.minutes, self.rotate, extra_ok=True)

        await guarded(interaction, open_extra)


class AttendanceStaffCog(StaffCog):
    attendance_group = app_commands.Group(
        name="attendance", description="Lecture check-in and attendance records"
    )
    excuse_group = app_commands.Group(name="excuse", description="Excuse requests")

    async def cog_load(self) -> None:
        await super().cog_load()
        self.bot.add_dynamic_items(OpenExtra, *EXCUSE_ITEMS)
        await SessionLifecycle(self.bot).resume()
        self._arm_purge(timedelta(0))  # evidence is deleted a configured time after the term

    def _arm_purge(self, delay: timedelta) -> None:
        """A one-shot job, re-armed after each run (checked at start and every 6 hours)."""
        self.bot.scheduler.add_job(
            self._purge_evidence,
            "date",
            run_date=system_now() + delay,
            id=EVIDENCE_PURGE_JOB,
            replace_existing=True,
            misfire_grace_time=None,
        )

    async def cog_unload(self) -> None:
        self.bot.remove_dynamic_items(OpenExtra, *EXCUSE_ITEMS)
        if self.bot.scheduler.get_job(EVIDENCE_PURGE_JOB) is not None:
            self.bot.scheduler.remove_job(EVIDENCE_PURGE_JOB)
        await super().cog_unload()

    async def _purge_evidence(self) -> None:
        try:
            deleted = await attendance.purge_expired_evidence(self.bot.services)
        except Exception:  # a chore: logged, and tried again at the next run
            log.exception("Deleting expired excuse evidence failed")
        else:
            if deleted:
                log.info("Deleted %d excuse evidence file(s), kept until after the term", deleted)
        self._arm_purge(EVIDENCE_PURGE_EVERY)

    @attendance_group.command(name="open", description="Open check-in for the lecture now and show the code")
    @app_commands.describe(
        minutes="How long check-in stays open", rotate="Show a live code that changes every few seconds"
    )
    async def open(
        self,
        interaction: discord.Interaction,
        minutes: app_commands.Range[int, 1, 240] | None = None,
        rotate: bool = False,
    ) -> None:
        await open_checkin(interaction, minutes, rotate, extra_ok=False)

    @attendance_group.command(name="close", description="Close check-in now")
    async def close(self, interaction: discord.Interaction) -> None:
        lifecycle = SessionLifecycle(self.bot)
        report = await attendance.close_session(
            self.bot.services, actor_id=interaction.user.id, students=lifecycle.students()
        )
        info = report.session
        lifecycle.unschedule(info.id)
        await interaction.response.send_message(
            f"Check-in for {info.lecture_date:%a %Y-%m-%d} is closed.", ephemeral=True
        )
        await lifecycle.after_close(info)

    @attendance_group.command(
        name="mark", description="Set a record by hand: present, late, excused or absent"
    )
    @app_commands.describe(
        member="The student", date="Lecture date, YYYY-MM-DD", status="The status to record"
    )
    async def mark(
        self, interaction: discord.Interaction, member: discord.Member, date: str, status: Status
    ) -> None:
        day = attendance.parse_day(date)
        previous = await attendance.mark(
            self.bot.services,
            actor_id=interaction.user.id,
            discord_id=member.id,
            discord_name=member.name,
            joined_at=member.joined_at,
            day=day,
            status=status,
        )
        was = f" (was {previous})" if previous else ""
        await interaction.response.send_message(
            f"{member.mention}: {status} on {day:%a %Y-%m-%d}{was}.", ephemeral=True
        )
        await self.bot.post_staff_log(
            f"{interaction.user.mention} marked {member.mention} {status} on {day}{was}"
        )

    @attendance_group.command(name="report", description="Attendance table, a chart per lecture, and the CSV")
    @app_commands.describe(member="Only this student")
    async def report(self, interaction: discord.Interaction, member: discord.Member | None = None) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        services = self.bot.services
        people = [member] if member else self.bot.student_members()
        records = await attendance.records(services, [(m.id, m.joined_at) for m in people])
        held = [s.lecture_date for s in await attendance.held_lectures(services)]
        names = {}
        for person in people:
            row = await students.get_student(services, person.id)
            names[person.id] = (
                row.student_id or "" if row else "",
                row.name or "" if row else "",
                person.name,
            )
        lines = [
            f"<@{i}> · {r.present} present, {r.late} late, {r.excused} excused, **{r.absent} absent** of {r.held}"
            + (" · ⚠️ F" if r.failed else "")
            for i, r in sorted(records.items(), key=lambda item: -item[1].absent)
        ]
        card = embed(
            f"Attendance · {len(held)} lectures held",
            "\n".join(lines)[:4000] or "No students with the student role.",
        )
        card.set_image(url="attachment://attendance.png")
        title = f"{self.bot.config.course.code} attendance" + (f" · {member.name}" if member else "")
        files = [
            discord.File(io.BytesIO(report_chart(held, records, title)), filename="attendance.png"),
            discord.File(io.BytesIO(report_csv(held, records, names)), filename="attendance.csv"),
        ]
        await interaction.followup.send(embed=card, files=files, ephemeral=True)

    @excuse_group.command(name="review", description="Pending excuse requests, each with Approve / Deny")
    async def review(self, interaction: discord.Interaction) -> None:
        pending = await attendance.pending_excuses(self.bot.services)
        if not pending:
            raise NotFound("No pending excuse requests.")
        shown = pending[:MAX_EXCUSES_SHOWN]
        text = "\n".join(
            f"**#{e.id}** <@{e.discord_id}> · {e.lecture_date:%a %Y-%m-%d} · {e.reason}"
            + (f" · 📎 {e.evidence.label}" if e.evidence else "")
            for e in shown
        )
        if len(pending) > len(shown):
            text += f"\n… and {len(pending) - len(shown)} more after these."
        view = discord.ui.View(timeout=None)
        for excuse in shown:
            for button in ExcuseDecision.pair(excuse.id):
                view.add_item(button)
            if excuse.evidence is not None:
                view.add_item(EvidenceButton(excuse.id))
        await interaction.response.send_message(
            embed=embed(f"Excuse requests ({len(pending)})", text[:4000]), view=view, ephemeral=True
        )
