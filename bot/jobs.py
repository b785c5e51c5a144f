"""Wake-ups on the scheduler: a one-shot `date` job, re-armed after every run. Unlike an interval
trigger it never has missed runs to catch up on when the clock jumps (a suspended machine, or a
simulated clock), and asking for an earlier run than the one armed moves it forward."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from bot.clock import system_now


def arm_no_later_than(
    scheduler: Any, job_id: str, run: Callable[[], Awaitable[None]], delay: float, *, max_instances: int
) -> None:
    """Run `run` as the job `job_id` in `delay` seconds, unless that job is already due sooner."""
    when = system_now() + timedelta(seconds=delay)  # the scheduler runs on the system clock
    job = scheduler.get_job(job_id)
    if job is not None and job.next_run_time is not None and job.next_run_time <= when:
        return
    scheduler.add_job(
        run,
        "date",
        run_date=when,
        id=job_id,
        replace_existing=True,
        misfire_grace_time=None,
        max_instances=max_instances,
    )
