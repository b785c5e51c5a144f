"""The dispatcher: one scheduler job that wakes at the next due time (and at least every 30 s),
claims due outbox rows, sends them, and marks them.

- Channel posts go to the announcements channel and mention the student role only; staff notes go
  to ta-log and ping nobody.
- `dm_all` rows expand into one DM row per student with the category on (narrowed by the row's
  kind when its feature registered a recipient filter, see bot/notify/kinds.py).
- The dispatcher knows no feature and no kind by name: it sends rows.
- DMs are paced (`reminders.dm_per_second`); a 429 is waited out (discord.py retries, then we
  retry later), never dropped. A refused DM (DMs closed) falls back to a mention in the fallback
  channel and is recorded.
- Each send carries the row's nonce, so a retry after a crash never shows twice. A send that gets
  no answer within SEND_TIMEOUT is given up and retried later, like a failed one (5xx, 429 after
  discord.py's own retries), with backoff.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import discord

from bot.jobs import arm_no_later_than
from bot.notify import outbox
from bot.notify.kinds import ReminderKinds, Undeliverable
from bot.notify.outbox import Claimed
from bot.permissions import role_matches

if TYPE_CHECKING:
    from bot.app import CourseBot

log = logging.getLogger(__name__)

JOB_ID = "outbox-dispatcher"
POLL_SECONDS = 30
LEASE = timedelta(minutes=2)
STOP_WAIT_SECONDS = 5.0
SEND_TIMEOUT = 10.0  # a send normally takes well under a second; one with no answer by then hangs
DELIVERY_TIMEOUT = 60.0  # a kind's own delivery: a few requests, perhaps a file upload


class ChannelMissing(Exception):
    """A configured channel (or the course server) is not there (yet); the row is retried later,
    then fails loudly."""


async def _bounded(send: Awaitable[object]) -> None:
    """Await one send for at most SEND_TIMEOUT; raises TimeoutError when it hangs (the row is then
    retried with the same nonce, so a copy that did get through is dropped by Discord)."""
    await asyncio.wait_for(send, SEND_TIMEOUT)


class Pacer:
    """At most `rate` sends per second, spaced evenly."""

    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / rate
        self._next = 0.0

    async def wait(self) -> None:
        now = time.monotonic()
        if self._next > now:
            await asyncio.sleep(self._next - now)
        self._next = max(now, self._next) + self.interval


class Dispatcher:
    def __init__(self, bot: CourseBot, kinds: ReminderKinds, *, poll: bool = True) -> None:
        self.bot = bot
        self.kinds = kinds  # the recipient filters of the features' kinds
        # Without polling (simulations that move time by hand), only an explicit wake-up runs it.
        self.poll = poll
        self.pacer = Pacer(bot.config.reminders.dm_per_second)
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[object] | None = None  # the run in progress
        self._draining = False  # that run is past wait_until_ready (it may be sending)
        self._stopping = False
        self._again = False  # a wake-up arrived during a run
        self.sent = 0
        # When a run last went through everything due (the bot's clock, like the rows' sent_at).
        self.last_run: datetime | None = None

    # ---- scheduling ---------------------------------------------------------------------
    async def start(self) -> None:
        """Recover rows claimed by a process that died, then run now and keep waking."""
        recovered = await outbox.recover(self.bot.services.db)
        if recovered:
            log.warning("Re-queued %d notifications that were being sent when the bot stopped", recovered)
        self.wake(1.0 if self.poll else 0.0)

    async def stop(self) -> None:
        """At shutdown, before the HTTP session and the database close: no new runs; a run in progress
        finishes the row it is sending (bounded) and stops there, so nothing is cut mid-write. Rows it
        claimed but did not send are re-queued at the next start."""
        if self._stopping:
            return
        self._stopping = True
        job = self.bot.scheduler.get_job(JOB_ID)
        if job is not None:
            job.remove()
        task = self._task
        if task is not None and not self._draining:
            task.cancel()  # still waiting for READY: nothing is in flight
        try:
            await asyncio.wait_for(self._lock.acquire(), STOP_WAIT_SECONDS)
        except TimeoutError:
            log.warning(
                "The dispatcher was still sending at shutdown; the lease makes the row retry at start-up"
            )
            if task is not None:
                task.cancel()

    def wake(self, delay: float = 0.0) -> None:
        """(Re)schedule the one dispatcher job `delay` seconds from now; an earlier wake-up wins
        (`bot.jobs`: a one-shot job re-armed after every run)."""
        if self._stopping or (delay > 0 and not self.poll):
            return
        arm_no_later_than(self.bot.scheduler, JOB_ID, self.run, delay, max_instances=2)

    async def run(self) -> None:
        """Send everything due, then wake again at the next due time (at the latest in 30 s)."""
        if self._stopping:
            return
        if self._lock.locked():  # woken while running: the running one goes round again at its end
            self._again = True
            return
        async with self._lock:  # the re-arm below is inside it too, so stop() waits for all of it
            self._task = asyncio.current_task()
            try:
                await self.bot.wait_until_ready()
                self._draining = True
                await self._drain()
                self.last_run = self.bot.services.now()
            except asyncio.CancelledError:
                if not self._stopping:
                    raise
                return  # cancelled by stop() at shutdown: not an error
            finally:
                self._task, self._draining = None, False
                if not self._stopping:
                    upcoming = await outbox.next_due(self.bot.services.db)
                    seconds = (
                        POLL_SECONDS
                        if upcoming is None
                        else (upcoming - self.bot.services.now()).total_seconds()
                    )
                    again, self._again = self._again, False
                    self.wake(0.0 if again else min(POLL_SECONDS, max(0.5, seconds)))

    async def _drain(self) -> None:
        services = self.bot.services
        while not self._stopping:
            expired: list[int] = []
            batch = await outbox.claim_due(services.db, now=services.now(), lease=LEASE, expired=expired)
            for _ in expired:
                self.bot.metrics.outbox_row("skipped")
            if not batch:
                return
            for row in batch:
                if self._stopping:
                    return  # the rest of the batch stays claimed; start-up re-queues it
                await self.deliver(row)

    async def send_now(self, source_key: str) -> None:
        """Send one pending row at once instead of at the next run (a command whose reply links
        to the post); a failure leaves it to the dispatcher's retries, like any send."""
        row = await outbox.claim_key(self.bot.services.db, source_key, now=self.bot.services.now())
        if row is not None:
            await self.deliver(row)

    # ---- sending ------------------------------------------------------------------------
    async def deliver(self, row: Claimed) -> None:
        services = self.bot.services
        delivery = self.kinds.delivery(row.kind)
        try:
            if delivery is not None:  # the kind's own way (e.g. creating a thread)
                note = await asyncio.wait_for(delivery(row), DELIVERY_TIMEOUT)
                await outbox.mark_sent(services.db, row.id, now=services.now(), note=note)
                self.bot.metrics.outbox_row("sent")
            elif row.audience == "channel":
                await self._post_channel(row)
                await outbox.mark_sent(services.db, row.id, now=services.now())
                self.bot.metrics.outbox_row("sent")
            elif row.audience == "staff":
                await self._post_staff(row)
                await outbox.mark_sent(services.db, row.id, now=services.now())
                self.bot.metrics.outbox_row("sent")
            elif row.audience == "dm_all":
                recipients = await self._subscribers(row)
                created = await outbox.expand(services.db, row, recipients, now=services.now())
                log.info("Reminder %s fans out to %d students", row.source_key, created)
            elif row.user_id is None:
                raise ChannelMissing(f"nothing delivers {row.kind!r} rows (its feature is not loaded)")
            else:
                await self._deliver_dm(row)
        except Undeliverable as error:
            log.info("Notification %s cannot be delivered: %s", row.id, error)
            await outbox.mark_skipped(services.db, row.id, reason=str(error)[:500])
            self.bot.metrics.outbox_row("skipped")
        except (discord.HTTPException, ChannelMissing, TimeoutError) as error:
            retry = services.now() + timedelta(seconds=min(300, 5 * 2**row.attempts))
            reason = str(error) or f"no answer from Discord within {SEND_TIMEOUT:.0f} s"
            log.warning("Sending notification %s failed (%s); retrying", row.id, reason)
            if await outbox.mark_retry(services.db, row.id, error=reason, retry_at=retry, now=services.now()):
                self.bot.metrics.outbox_row("failed")

    async def _subscribers(self, row: Claimed) -> list[int]:
        if row.category is None:
            return []
        if self.bot.course_guild is None:  # e.g. between a re-IDENTIFY's READY and the server's data
            raise ChannelMissing("the course server is not loaded (yet)")
        students = await self.kinds.recipients(row, [m.id for m in self.bot.student_members()])
        async with self.bot.services.db.read() as session:
            return await outbox.enabled_for(session, row.category, students)

    async def _post_channel(self, row: Claimed) -> None:
        channel = self.bot.course_channel(self.bot.config.discord.channels.announcements)
        if channel is None:
            raise ChannelMissing(
                f"announcements channel {self.bot.config.discord.channels.announcements!r} not found"
            )
        role = discord.utils.find(
            lambda r: role_matches(r, self.bot.config.discord.roles.student), channel.guild.roles
        )
        content = f"{role.mention} {row.text}" if role else row.text
        mentions = discord.AllowedMentions(everyone=False, users=False, roles=[role] if role else False)
        await _bounded(channel.send(content[:2000], nonce=row.nonce, allowed_mentions=mentions))

    async def _post_staff(self, row: Claimed) -> None:
        """A staff note in ta-log: mentions show who is meant, but nobody is pinged."""
        reference = self.bot.config.discord.channels.ta_log
        channel = self.bot.course_channel(reference)
        if channel is None:
            raise ChannelMissing(f"ta-log channel {reference!r} not found")
        await _bounded(
            channel.send(row.text[:2000], nonce=row.nonce, allowed_mentions=discord.AllowedMentions.none())
        )

    async def _deliver_dm(self, row: Claimed) -> None:
        services = self.bot.services
        assert row.user_id is not None
        if row.category is not None:
            async with services.db.read() as session:
                if not await outbox.enabled_for(session, row.category, [row.user_id]):
                    await outbox.mark_skipped(
                        services.db, row.id, reason=f"the student turned {row.category} reminders off"
                    )
                    self.bot.metrics.outbox_row("skipped")
                    return
        attached = self.kinds.buttons(row.kind)
        view = await attached.buttons(row) if attached is not None else None  # may raise Undeliverable
        await self.pacer.wait()
        try:
            await _bounded(self._send_dm(row.user_id, row.text, row.nonce, view))
        except discord.Forbidden as error:  # DMs closed (50007) or otherwise refused: the fallback channel
            log.info("DM of notification %s refused (%s); using the fallback channel", row.id, error.code)
            self.bot.metrics.dm_refused()
            if attached is not None and attached.refused is not None:
                await attached.refused(row)  # raises Undeliverable: skipped with its reason
            fallback_view = await attached.buttons(row) if attached is not None else None
            await self._post_in_fallback(row, view=fallback_view)
            note = "DMs closed: posted in the fallback channel"
            if fallback_view is not None:
                note += " (only the addressee can answer)"
            await outbox.mark_sent(services.db, row.id, now=services.now(), fallback=True, note=note)
            self.bot.metrics.outbox_row("sent")
            return
        except discord.NotFound:
            await outbox.mark_skipped(services.db, row.id, reason="the user no longer exists")
            self.bot.metrics.outbox_row("skipped")
            return
        self.sent += 1
        await outbox.mark_sent(services.db, row.id, now=services.now())
        self.bot.metrics.outbox_row("sent")

    async def _send_dm(self, user_id: int, text: str, nonce: str, view: discord.ui.View | None) -> None:
        user = self.bot.get_user(user_id) or await self.bot.fetch_user(user_id)
        channel = user.dm_channel or await user.create_dm()
        mentions = discord.AllowedMentions.none()
        if view is None:
            await channel.send(text[:2000], nonce=nonce, allowed_mentions=mentions)
        else:
            await channel.send(text[:2000], view=view, nonce=nonce, allowed_mentions=mentions)

    async def _post_in_fallback(self, row: Claimed, *, view: discord.ui.View | None = None) -> None:
        """Post a DM row that Discord refused in the fallback channel instead, mentioning its
        addressee, with `view` if given (a delivery's buttons). Raises ChannelMissing (no fallback
        channel) or discord's errors."""
        channel = self.bot.course_channel(self.bot.config.discord.channels.fallback)
        if channel is None:
            raise ChannelMissing(f"fallback channel {self.bot.config.discord.channels.fallback!r} not found")
        text = f"<@{row.user_id}> (your DMs are closed) {row.text}"[:2000]
        mentions = discord.AllowedMentions(
            everyone=False, roles=False, users=[discord.Object(row.user_id or 0)]
        )
        if view is None:
            await _bounded(channel.send(text, nonce=f"{row.nonce}f", allowed_mentions=mentions))
        else:
            await _bounded(channel.send(text, view=view, nonce=f"{row.nonce}f", allowed_mentions=mentions))
