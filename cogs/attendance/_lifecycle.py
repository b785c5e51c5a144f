"""What happens around a check-in session besides the data: closing by itself when its minutes are
up, and the live projector message with the rotating code. The warnings and the staff's notes that a
close sets off are planned in the outbox by the close itself (bot/services/attendance.py)."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import discord

from bot.app import CourseBot
from bot.clock import system_now
from bot.errors import Conflict
from bot.services import attendance
from bot.services.attendance import SessionInfo

log = logging.getLogger(__name__)


def _job_id(kind: str, session_id: int) -> str:
    return f"attendance:{kind}:{session_id}"


def live_text(code: str, info: SessionInfo) -> str:
    closes = f"<t:{int(info.closes_at.timestamp())}:R>" if info.closes_at else ""
    return f"## Check-in code: `{code}`\nType `/checkin code:{code}` · closes {closes} · the code changes every {info.rotate_seconds} s"


class SessionLifecycle:
    """Schedules the close and the rotation of a session (APScheduler, in memory; the state that
    matters is in the database, so start-up re-creates these jobs)."""

    def __init__(self, bot: CourseBot) -> None:
        self.bot = bot

    def schedule(self, info: SessionInfo) -> None:
        scheduler, now = self.bot.scheduler, self.bot.clock.now()
        if info.closes_at is not None:
            # APScheduler times jobs by the system clock (not the course clock, which may be shifted)
            run_at = system_now() + max(timedelta(0), info.closes_at - now)
            scheduler.add_job(
                self.finish,
                "date",
                run_date=run_at,
                args=[info.id],
                id=_job_id("close", info.id),
                replace_existing=True,
                misfire_grace_time=None,  # however late (a busy start-up), a close is never dropped
            )
        if info.rotate_seconds:
            self._arm_rotation(info)

    def _arm_rotation(self, info: SessionInfo) -> None:
        # A one-shot job re-armed after each edit (an interval trigger would try to catch up on
        # every missed tick after a clock jump).
        elapsed = (self.bot.clock.now() - info.opened_at).total_seconds() if info.opened_at else 0.0
        run_at = system_now() + timedelta(
            seconds=info.rotate_seconds - elapsed % info.rotate_seconds + 0.05
        )  # next step
        self.bot.scheduler.add_job(
            self.rotate,
            "date",
            run_date=run_at,
            args=[info.id],
            id=_job_id("rotate", info.id),
            replace_existing=True,
        )

    def unschedule(self, session_id: int) -> None:
        for kind in ("close", "rotate"):
            job = self.bot.scheduler.get_job(_job_id(kind, session_id))
            if job is not None:
                job.remove()

    async def resume(self) -> None:
        """At start-up: sessions left open are scheduled again (or closed now if their time ran out),
        and a close an older version did not report is reported once the members are known."""
        for info in await attendance.sessions_to_close(self.bot.services):
            self.schedule(info)
        self.bot.scheduler.add_job(
            self.catch_up,
            "date",
            run_date=system_now(),
            id="attendance:catch-up",
            replace_existing=True,
            misfire_grace_time=None,
        )

    async def catch_up(self) -> None:
        """Report the last close if it never was (see `attendance.plan_missed_close`)."""
        await self.bot.wait_until_ready()
        students = self.students()
        if not students:
            return  # the server is not in view (yet): the next close plans whatever is due
        report = await attendance.plan_missed_close(self.bot.services, students=students)
        if report is not None:
            log.warning("Reported the close of check-in for %s at start-up", report.session.lecture_date)
            self.bot.dispatcher.wake()

    def students(self) -> list[tuple[int, datetime | None]]:
        """The students whose warnings a close plans: everyone with the student role, with join times."""
        return [(m.id, m.joined_at) for m in self.bot.student_members()]

    async def rotate(self, session_id: int) -> None:
        opened = await attendance.open_now(self.bot.services)
        if opened is None or opened[0].id != session_id:
            self.unschedule(session_id)
            return
        info, code = opened
        self._arm_rotation(info)
        if info.live_channel_id and info.live_message_id:
            channel = self.bot.get_channel(info.live_channel_id)
            if isinstance(channel, discord.abc.Messageable):
                try:
                    await channel.get_partial_message(info.live_message_id).edit(
                        content=live_text(code, info)
                    )
                except discord.HTTPException as error:
                    log.warning("Could not update the live check-in code: %s", error)

    async def finish(self, session_id: int, actor_id: int | None = None) -> None:
        """Close the session (if still open); its warnings and report are planned with the close."""
        self.unschedule(session_id)
        await self.bot.wait_until_ready()  # the member list: whose warnings the close plans
        try:
            report = await attendance.close_session(
                self.bot.services, actor_id=actor_id, students=self.students(), session_id=session_id
            )
        except Conflict:
            return  # closed already (by hand)
        await self.after_close(report.session)

    async def after_close(self, info: SessionInfo) -> None:
        """After the close committed: send what it planned now, and retire the live message."""
        self.bot.dispatcher.wake()
        await self.bot.wait_until_ready()
        if info.live_channel_id and info.live_message_id:
            channel = self.bot.get_channel(info.live_channel_id)
            if isinstance(channel, discord.abc.Messageable):
                try:
                    await channel.get_partial_message(info.live_message_id).edit(
                        content="Check-in is closed."
                    )
                except discord.HTTPException:
                    pass
