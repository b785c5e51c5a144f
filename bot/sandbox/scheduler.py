"""The bot's scheduler in the sandbox: the same calls as APScheduler's (`add_job`, `get_job`,
`job.remove()`), but a job runs when the sandbox clock reaches it, not the system clock.

The bot computes a job's `run_date` on the system clock (`system_now() + delay`); the sandbox clock
stands still between steps, so the same delay measured from the sandbox's now is when the job is due.
The sandbox runs due jobs itself (`pop_due`), in order of due time, then of scheduling.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from bot.clock import Clock, system_now


def _ceil_ms(delay: timedelta) -> timedelta:
    """`delay` rounded up to a whole millisecond: the few microseconds between the bot reading the
    system clock and this scheduler reading it again never make a job due early."""
    return timedelta(milliseconds=math.ceil(delay / timedelta(milliseconds=1)))


@dataclass
class SandboxJob:
    """One scheduled call, due at a sandbox instant."""

    id: str
    func: Callable[..., Any]
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    due: datetime
    order: int
    scheduler: SandboxScheduler = field(repr=False)

    @property
    def next_run_time(self) -> datetime:
        """When it runs, on the system clock (what APScheduler reports and the bot compares)."""
        return system_now() + (self.due - self.scheduler.clock.now())

    def remove(self) -> None:
        self.scheduler.remove_job(self.id)


class SandboxScheduler:
    """One-shot ("date") jobs on a sandbox clock; the sandbox calls `pop_due` to run them."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.running = False
        self._jobs: dict[str, SandboxJob] = {}
        self._order = itertools.count()

    def start(self) -> None:
        self.running = True

    def shutdown(self, wait: bool = True) -> None:
        self.running = False
        self._jobs.clear()

    def add_job(
        self,
        func: Callable[..., Any],
        trigger: str = "date",
        args: list[Any] | tuple[Any, ...] | None = None,
        kwargs: dict[str, Any] | None = None,
        id: str | None = None,
        replace_existing: bool = False,
        run_date: datetime | None = None,
        **_options: Any,
    ) -> SandboxJob:
        """Schedule `func` once at `run_date` (system clock; None: now). Raises ValueError for another
        trigger, or for an id already taken without `replace_existing`."""
        if trigger != "date":
            raise ValueError(f"the sandbox scheduler runs one-shot date jobs, not {trigger!r} triggers")
        order = next(self._order)
        job_id = id or f"job-{order}"
        if job_id in self._jobs and not replace_existing:
            raise ValueError(f"a job with id {job_id!r} is already scheduled")
        delay = max(timedelta(0), run_date - system_now()) if run_date is not None else timedelta(0)
        job = SandboxJob(
            job_id,
            func,
            tuple(args or ()),
            dict(kwargs or {}),
            self.clock.now() + _ceil_ms(delay),
            order,
            self,
        )
        self._jobs[job_id] = job
        return job

    def get_job(self, job_id: str) -> SandboxJob | None:
        return self._jobs.get(job_id)

    def get_jobs(self) -> list[SandboxJob]:
        return sorted(self._jobs.values(), key=lambda job: (job.due, job.order))

    def remove_job(self, job_id: str) -> None:
        self._jobs.pop(job_id, None)

    def next_due(self) -> datetime | None:
        """The earliest due instant of any job."""
        return min((job.due for job in self._jobs.values()), default=None)

    def pop_due(self, now: datetime) -> SandboxJob | None:
        """The first job due at or before `now`, taken off the schedule (or None)."""
        due = [job for job in self._jobs.values() if job.due <= now]
        if not due:
            return None
        job = min(due, key=lambda j: (j.due, j.order))
        del self._jobs[job.id]
        return job
