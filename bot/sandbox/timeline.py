"""The sandbox's clock steps: it moves through every moment something is due (scheduled jobs such as
automatic closes and rotation steps, outbox rows such as reminders, warnings and notes, and the
configured moments: sign-up opens and closes, groups lock), doing at each what the bot would do then."""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from datetime import datetime

import simcord

from bot.app import CourseBot
from bot.calendar import CourseCalendar
from bot.clock import Clock
from bot.notify import outbox
from bot.sandbox.render import moment
from bot.sandbox.scheduler import SandboxJob, SandboxScheduler

log = logging.getLogger(__name__)

MAX_ROUNDS = 200  # runs at one instant before the sandbox stops trying (a row that never leaves)


class Timeline:
    """Moves the sandbox's clock. `write` prints a line; `after_step(show)` is called whenever
    something ran, to print what the bot posted (or, when `show` is False, only to take note of it)."""

    def __init__(
        self,
        env: simcord.Env,
        bot: CourseBot,
        clock: Clock,
        scheduler: SandboxScheduler,
        *,
        write: Callable[[str], None],
        after_step: Callable[[bool], None],
    ) -> None:
        self.env, self.bot, self.clock, self.scheduler = env, bot, clock, scheduler
        self.config = bot.config
        self.calendar = CourseCalendar(bot.config)
        self.write, self.after_step = write, after_step

    @property
    def now(self) -> datetime:
        return self.clock.now()

    def configured_moments(self) -> list[tuple[datetime, str]]:
        """The moments the config sets that change what the bot allows (no post of their own)."""
        found = []
        for spec, text in (
            (self.config.papers.signup_opens, "paper sign-up opens"),
            (self.config.papers.signup_closes, "paper sign-up closes"),
            (self.config.groups.lock_at, "project groups lock"),
        ):
            try:
                instant = self.calendar.resolve_moment(spec)
            except ValueError:
                continue
            if instant is not None:
                found.append((instant, text))
        return sorted(found)

    async def _run_job(self, job: SandboxJob) -> None:
        try:
            result = job.func(*job.args, **job.kwargs)
            if inspect.isawaitable(result):
                await result
        except Exception:
            log.exception("The scheduled job %s failed", job.id)
        await self.env.settle()

    async def run_due(self) -> bool:
        """Run every scheduled job and send every outbox row due now, until nothing is due; True
        when anything ran."""
        ran = False
        for _ in range(MAX_ROUNDS):
            job = self.scheduler.pop_due(self.now)
            if job is not None:
                await self._run_job(job)
                ran = True
                continue
            due = await outbox.next_due(self.bot.services.db)
            if due is None or due > self.now:
                return ran
            await self.bot.dispatcher.run()
            await self.env.settle()
            ran = True
        log.error("Something stays due at %s after %d runs; the sandbox moves on", self.now, MAX_ROUNDS)
        return ran

    async def next_moment(self, after: datetime) -> datetime | None:
        """The first instant after `after` at which something is due."""
        candidates = [
            self.scheduler.next_due(),
            await outbox.next_due(self.bot.services.db),
            *(instant for instant, _ in self.configured_moments()),
        ]
        later = [instant for instant in candidates if instant is not None and instant > after]
        return min(later, default=None)

    async def advance_to(self, target: datetime, *, show: bool = True) -> None:
        """Move the clock to `target` through every moment something is due on the way, doing at each
        what the bot would do then (and showing what it posts, unless `show` is False)."""
        await self._step(show)
        while True:
            before = self.now
            upcoming = await self.next_moment(before)
            if upcoming is None or upcoming > target:
                break
            self.clock.set(upcoming)
            self._note_moments(before, upcoming, show)
            await self._step(show)
        if target > self.now:
            before = self.now
            self.clock.set(target)
            self._note_moments(before, target, show)
            await self._step(show)

    async def _step(self, show: bool) -> None:
        if await self.run_due():
            self.after_step(show)

    def _note_moments(self, before: datetime, after: datetime, show: bool) -> None:
        for instant, text in self.configured_moments():
            if before < instant <= after and show:
                self.write(f"[{moment(instant, self.calendar.tz)}] ({text}, as configured)")
