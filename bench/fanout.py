"""Benchmark: one deadline ping fanned out by DM to N students, by the real bot process.

Runs the local fake Discord (tests/e2e/fake_discord.py) with a global limit of `--limit` requests
per second, and `python -m bot run` against it with `[reminders] dm_per_second = --rate`. A first
short run plans the ping; the second starts at its due time and fans it out. Prints the students,
the fan-out time, the DM rate achieved against the configured one, the 429s the fake answered, the
DMs lost (must be 0) and duplicated (must be 0), and the machine.

    python bench/fanout.py --students 300 --rate 5 --limit 50

Not a test: nothing under tests/ runs it. Everything stays on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import signal
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "e2e"))

from bot_process import course_config, fake_token, start_bot  # noqa: E402
from fake_discord import FakeDiscord  # noqa: E402

PLAN_AT = "2025-03-10 10:59"  # the first run stores the ping (due 11:00)...
SEND_AT = "2025-03-10 11:00"  # ...the second starts at its due time; the deadline is at 12:00
NEEDLE = "Bench deadline"


BENCH_DEADLINE = {"key": "bench_deadline", "title": NEEDLE, "due": "2025-03-10 12:00", "remind": "1h"}


class Bot:
    """`python -m bot run` as a child process, its output in a log file."""

    def __init__(self, workdir: Path, config: Path, token: str) -> None:
        self.workdir, self.config, self.token = workdir, config, token
        self.proc: asyncio.subprocess.Process | None = None
        self.runs = 0

    async def start(self, fd: FakeDiscord, now: str) -> None:
        ready = fd.ready_count
        self.runs += 1
        env = {k: v for k, v in os.environ.items() if k not in ("DISCORD_TOKEN", "DATABASE_URL")}
        env.update(
            DISCORD_TOKEN=self.token,
            DATABASE_URL=f"sqlite+aiosqlite:///{self.workdir / 'bench.db'}",
            PYTHONUNBUFFERED="1",
        )
        self.proc = await start_bot(
            self.config, now, cwd=self.workdir, env=env, log=(self.workdir / f"bot-{self.runs}.log")
        )
        deadline = time.monotonic() + 60
        while not (fd.ready_count > ready and fd._conn is not None):
            if self.proc.returncode is not None or time.monotonic() > deadline:
                raise SystemExit(f"the bot did not start; see {self.workdir / f'bot-{self.runs}.log'}")
            await asyncio.sleep(0.02)

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.proc.wait(), 20)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()


def stamp(message: dict[str, object]) -> float:
    return datetime.fromisoformat(str(message["timestamp"])).timestamp()


async def bench(students: int, rate: float, limit: int, keep: bool) -> int:
    workdir = Path(tempfile.mkdtemp(prefix="coursebot-bench-"))
    token = fake_token()
    fd = FakeDiscord(token=token, rate_limit_per_second=limit)
    await fd.start()
    guild = fd.add_guild("Bench course")
    for name in ("Instructor", "TA", "Student"):
        fd.add_role(guild, name)
    for name in ("general", "announcements", "ta-log", "bot-notices"):
        fd.add_channel(guild, name)
    fd.add_member(guild, "ta", roles=["TA"])
    members = [fd.add_member(guild, f"student{i:04d}", roles=["Student"]) for i in range(students)]
    config = workdir / "config.toml"
    config.write_text(
        course_config(fd, guild, dm_per_second=rate, deadlines=[BENCH_DEADLINE]), encoding="utf-8"
    )
    bot = Bot(workdir, config, token)
    try:
        await bot.start(fd, PLAN_AT)
        await bot.stop()
        requests_before = len(fd.requests)

        started = time.monotonic()
        await bot.start(fd, SEND_AT)
        budget = students / rate * 2 + 30  # far more than the pace needs; a stall ends the wait

        def received() -> list[list[dict[str, object]]]:
            return [[m for m in fd.dms(member) if NEEDLE in str(m["content"])] for member in members]

        try:
            await fd.wait_until(lambda: all(received()), budget, "every DM")
        except TimeoutError:
            pass  # counted below as lost
        await asyncio.sleep(1.0)  # let stragglers (or duplicates) show up
        await bot.stop()
    finally:
        await fd.stop()

    got = received()
    dms = sorted(stamp(m) for messages in got for m in messages)
    lost = sum(1 for messages in got if not messages)
    duplicated = sum(len(messages) - 1 for messages in got if len(messages) > 1)
    span = dms[-1] - dms[0] if len(dms) > 1 else 0.0
    achieved = (len(dms) - 1) / span if span else 0.0
    statuses = [r.status for r in fd.requests[requests_before:]]
    print(f"students            {students}")
    print(
        f"fan-out time        {span:.1f} s (first DM to last), {time.monotonic() - started:.1f} s from start"
    )
    print(f"DM rate             {achieved:.2f}/s achieved vs {rate:g}/s configured ({achieved / rate:.0%})")
    print(f"rate limit          {limit} requests/s (global, the fake Discord)")
    print(
        f"requests            {len(statuses)} ({statuses.count(200)} OK, {statuses.count(429)} answered 429)"
    )
    print(f"DMs lost            {lost}")
    print(f"DMs duplicated      {duplicated}")
    print(
        f"machine             {platform.platform()}, {platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}"
    )
    if keep:
        print(f"work directory      {workdir}")
    return 1 if lost or duplicated else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--students", type=int, default=300, help="students with the Student role (300)")
    parser.add_argument("--rate", type=float, default=5, help="[reminders] dm_per_second, at most 50 (5)")
    parser.add_argument("--limit", type=int, default=50, help="the fake Discord's global requests/s (50)")
    parser.add_argument("--keep", action="store_true", help="print the work directory (config, logs, db)")
    args = parser.parse_args(argv)
    if args.students < 1 or not 0 < args.rate <= 50 or args.limit < 1:
        parser.error("need --students >= 1, 0 < --rate <= 50 and --limit >= 1")
    return asyncio.run(bench(args.students, args.rate, args.limit, args.keep))


if __name__ == "__main__":
    raise SystemExit(main())
