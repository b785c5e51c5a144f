"""The Discord side of the Scheduled Events sync: read the server's events, carry out the steps
`bot/services/calendar_events/sync.py` decides, record each. It runs at start-up (once connected),
after every committed change to a source of the calendar (office hours, papers and presenters,
deadlines), and once a day (the horizon moves). Runs never overlap; the writes are paced, and
discord.py waits out any 429 Discord answers. Without Manage Events the staff get one line in
ta-log and nothing else is affected."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import discord

from bot.app import CourseBot
from bot.clock import system_now
from bot.jobs import arm_no_later_than
from bot.services import cache
from bot.services.calendar_events import SOURCES, moments, sync

log = logging.getLogger(__name__)
JOB_ID, DAILY_JOB_ID = "calendar-sync", "calendar-sync-daily"
CHANGE_DELAY_SECONDS = 1.0  # a burst of changes (an import, a swap) becomes one run
PACE_SECONDS = 0.25  # between two writes to Discord: well under its limits for one server
STOP_SECONDS = 5.0  # how long shutdown waits for a sync in progress
NO_PERMISSION = "calendar-events-forbidden"


def _aware(instant: datetime) -> datetime:
    return instant if instant.tzinfo is not None else instant.replace(tzinfo=UTC)


def remote_event(event: discord.ScheduledEvent, bot_id: int | None) -> sync.RemoteEvent:
    status = event.status
    return sync.RemoteEvent(
        event.id,
        event.name,
        _aware(event.start_time),
        status in (discord.EventStatus.scheduled, discord.EventStatus.active),
        status is discord.EventStatus.active,
        bot_id is not None and event.creator_id == bot_id,
    )


class ScheduledEventsSync:
    """Keeps the course server's Scheduled Events in step with the calendar."""

    def __init__(self, bot: CourseBot) -> None:
        self.bot = bot
        self._lock = asyncio.Lock()
        self._stop_listening: Callable[[], None] | None = None
        self._stopping = False
        self.pace = PACE_SECONDS

    @property
    def enabled(self) -> bool:
        return self.bot.config.calendar.scheduled_events

    def start(self) -> None:
        """Listen for changes, run once connected, then daily."""
        if not self.enabled:
            return
        self._stop_listening = cache.listen(
            self.bot.services.db, SOURCES, lambda: self.wake(CHANGE_DELAY_SECONDS)
        )
        self._arm_daily()
        self.wake(0.0)

    async def stop(self) -> None:
        """No more runs; a run in progress finishes (at most STOP_SECONDS), so what it changed on
        Discord is recorded and a restart does not redo it."""
        self._stopping = True
        if self._stop_listening is not None:
            self._stop_listening()
            self._stop_listening = None
        for job_id in (JOB_ID, DAILY_JOB_ID):
            job = self.bot.scheduler.get_job(job_id)
            if job is not None:
                job.remove()
        try:
            await asyncio.wait_for(self._lock.acquire(), STOP_SECONDS)
        except TimeoutError:
            log.warning("Stopped while the Scheduled Events sync was still running; the next start redoes it")
        else:
            self._lock.release()

    def wake(self, delay: float) -> None:
        """Run `delay` seconds from now (an earlier wake-up wins). In a simulation (no outbox
        polling) only the start-up run is scheduled; tests call `run()`."""
        if self._stopping or not self.enabled or (delay > 0 and not self.bot.poll_outbox):
            return
        arm_no_later_than(self.bot.scheduler, JOB_ID, self._scheduled_run, delay, max_instances=3)

    def _arm_daily(self) -> None:
        """The daily run (the horizon moves), as a one-shot job re-armed each day: no missed runs to
        catch up on when the clock jumps."""
        self.bot.scheduler.add_job(
            self._daily,
            "date",
            run_date=system_now() + timedelta(days=1),
            id=DAILY_JOB_ID,
            replace_existing=True,
            misfire_grace_time=None,
        )

    async def _daily(self) -> None:
        if not self._stopping:
            self._arm_daily()
            self.wake(0.0)

    async def _scheduled_run(self) -> None:
        try:
            await self.bot.wait_until_ready()
            await self.run()
        except asyncio.CancelledError:
            raise
        except Exception:  # the next change or the daily run tries again
            log.exception("The Scheduled Events sync failed")

    async def run(self) -> list[sync.Step]:
        """One sync (after any run in progress). Returns the steps carried out. Raises what the
        database raises; Discord's refusals are logged or reported."""
        async with self._lock:
            if self._stopping or not self.enabled:
                return []
            return await self._sync()

    async def _report_missing_permission(self) -> None:
        if NO_PERMISSION not in self.bot.reported:
            self.bot.reported.add(NO_PERMISSION)
            await self.bot.post_staff_log(
                "📅 The bot cannot keep the course's Scheduled Events: it lacks the **Manage Events** "
                "permission. Give it that permission (or set `[calendar] scheduled_events = false`)."
            )

    async def _sync(self) -> list[sync.Step]:
        bot, services = self.bot, self.bot.services
        guild = bot.course_guild
        if guild is None:
            log.warning("Scheduled Events not synced: the course server is not known yet")
            return []
        if not guild.me.guild_permissions.manage_events:
            await self._report_missing_permission()
            return []
        wanted = sync.wanted_events(services, await moments.course_moments(services))
        kept = await sync.kept_events(services)
        objects: dict[int, discord.ScheduledEvent] = {}
        remote: list[sync.RemoteEvent] | None
        try:
            listed = await guild.fetch_scheduled_events(with_counts=False)
        except discord.Forbidden:
            await self._report_missing_permission()
            return []
        except discord.HTTPException as error:
            log.warning("Could not list the Scheduled Events (%s); syncing without the list", error.status)
            remote = None
        else:
            objects = {event.id: event for event in listed}
            bot_id = bot.user.id if bot.user is not None else None
            remote = [remote_event(event, bot_id) for event in listed]
        steps = sync.plan(
            wanted,
            kept,
            remote,
            now=services.now(),
            horizon=timedelta(days=services.config.calendar.horizon_days),
        )
        done: list[sync.Step] = []
        for step in steps:
            try:
                event_id = await self._carry_out(guild, step, objects)
            except discord.Forbidden:
                await self._report_missing_permission()
                break
            except discord.HTTPException as error:
                log.warning("Scheduled Event %s (%s) failed: HTTP %s", step.key, step.action, error.status)
                continue
            await sync.record(services, step, event_id)
            done.append(step)
        await sync.record_run(services, [step for step in done if step.action != sync.FORGET])
        log.info("Scheduled Events synced: %d change(s)", len(done))
        return done

    async def _carry_out(
        self, guild: discord.Guild, step: sync.Step, objects: dict[int, discord.ScheduledEvent]
    ) -> int | None:
        """Make one step's call; returns the event's id (None when there is none). Raises
        discord.HTTPException for a refusal other than "that event is gone"."""
        if step.action == sync.FORGET:
            return step.event_id
        if step.action == sync.CREATE:
            assert step.wanted is not None
            return await self._create(guild, step.wanted)
        assert step.event_id is not None or step.action == sync.CANCEL
        if step.event_id is None:  # a cancel of an event no longer on Discord: only recorded
            return None
        await asyncio.sleep(self.pace)
        event = objects.get(step.event_id) or guild.get_scheduled_event(step.event_id)
        try:
            if event is None:
                event = await guild.fetch_scheduled_event(step.event_id)
            if step.action == sync.DELETE:
                await event.delete()
                return step.event_id
            if step.action == sync.CANCEL:
                await event.cancel()
                return step.event_id
            want = step.wanted
            assert want is not None
            if step.started:
                edited = await event.edit(
                    name=want.name, description=want.description, location=want.location
                )
            else:
                edited = await event.edit(
                    name=want.name,
                    description=want.description,
                    start_time=want.starts_at,
                    end_time=want.ends_at,
                    entity_type=discord.EntityType.external,
                    location=want.location,
                )
            return edited.id
        except discord.NotFound:  # deleted on Discord meanwhile
            if (
                step.action == sync.UPDATE
                and step.wanted is not None
                and step.wanted.starts_at > self.bot.services.now()
            ):
                return await self._create(guild, step.wanted)
            return None

    async def _create(self, guild: discord.Guild, want: sync.WantedEvent) -> int:
        await asyncio.sleep(self.pace)
        event = await guild.create_scheduled_event(
            name=want.name,
            description=want.description,
            start_time=want.starts_at,
            end_time=want.ends_at,
            entity_type=discord.EntityType.external,
            privacy_level=discord.PrivacyLevel.guild_only,
            location=want.location,
        )
        return event.id
