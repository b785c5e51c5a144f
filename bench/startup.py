"""Start-up benchmark: the real `python -m bot run` process against the local fake Discord with N members
(default 1000) in the course server.

Prints, for a cold start (fresh database: migrations run) and warm restarts (database exists):
time from process start to commands synced, to IDENTIFY, and to the first answered `/course`; and
the peak RSS (VmHWM from /proc/<pid>/status) once the bot is serving.

    python bench/startup.py [--members 1000] [--restarts 3]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

from _harness import (
    BotProcess,
    Course,
    TimedFake,
    build_course,
    load_average,
    poll,
    print_machine,
    wait_serving,
    warm_bytecode_cache,
    write_config,
)
from bot_process import fake_token

NOW = "2025-03-12 10:30"
SETTLE_SECONDS = 2.0  # after the first answer, so start-up work that follows READY counts in the peak


async def one_start(fd: TimedFake, course: Course, bot: BotProcess) -> dict[str, float]:
    fd.synced_at = fd.identified_at = None
    fd.ready_count = 0
    await bot.start()
    await wait_serving(fd, course, bot)
    answered, cpu = time.monotonic(), bot.cpu_seconds()
    assert fd.synced_at is not None and fd.identified_at is not None
    await poll(lambda: "Start-up check" in bot.log_text(this_start=True), 30, "the start-up check", 0.01)
    checked = time.monotonic()  # on_ready's work done (discord.py fires on_ready ~2 s after the guilds)
    await asyncio.sleep(SETTLE_SECONDS)
    figures = {
        "synced": fd.synced_at - bot.started_at,
        "identify": fd.identified_at - bot.started_at,
        "first answer": answered - bot.started_at,
        "cpu": cpu,
        "checked": checked - bot.started_at,
        "peak rss mb": bot.status_kb("VmHWM") / 1024,
        "rss mb": bot.status_kb("VmRSS") / 1024,
    }
    code = await bot.stop()
    if code != 0:
        raise RuntimeError(f"the bot exited with {code}:\n{bot.log_text()}")
    return figures


def show(label: str, f: dict[str, float]) -> None:
    print(
        f"  {label:<10} synced {f['synced']:.2f} s · identify {f['identify']:.2f} s · "
        f"first answer {f['first answer']:.2f} s (CPU {f['cpu']:.2f} s) · start-up check done "
        f"{f['checked']:.2f} s · peak RSS {f['peak rss mb']:.0f} MB (now {f['rss mb']:.0f} MB)"
    )


async def main(members: int, restarts: int, profile: str | None) -> int:
    print_machine()
    print(f"  {load_average()}")
    warm_bytecode_cache()
    print(f"start-up with {members} members in the course server (fake rate limit 50/s, bytecode cached)")
    fd = TimedFake(token=(token := fake_token()), rate_limit_per_second=50, interaction_deadline=3.0)
    await fd.start()
    course = build_course(fd, members)
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as tmp:
        directory = Path(tmp)
        config = write_config(directory, fd, course.guild)
        bot = BotProcess(directory, config, token, NOW)
        try:
            cold = await one_start(fd, course, bot)
            show("cold", cold)
            warm = []
            for i in range(restarts):
                warm.append(await one_start(fd, course, bot))
                show(f"warm #{i + 1}", warm[-1])
            bot.bytecode_cache = False
            show("no pyc", await one_start(fd, course, bot))
            print(
                "  (no pyc: PYTHONDONTWRITEBYTECODE=1 and no cache, so bot/, cogs/ and migrations/ compile at every start)"
            )
            bot.bytecode_cache = True
            if profile:
                bot.launcher = [sys.executable, "-m", "pyinstrument", "-r", "text", "-o", profile]
                show("profiled", await one_start(fd, course, bot))
                print(f"  pyinstrument profile of that start (to shutdown): {profile}")
        finally:
            await bot.stop()
            await fd.stop()
    if warm:
        med = {k: statistics.median(w[k] for w in warm) for k in warm[0]}
        show("warm med.", med)
    worst_sync = max([cold["synced"], *(w["synced"] for w in warm)])
    worst_rss = max([cold["peak rss mb"], *(w["peak rss mb"] for w in warm)])
    print(f"  {load_average()}")
    print("targets")
    print(
        f"  start-up (to commands synced) under 3 s: worst {worst_sync:.2f} s — {'OK' if worst_sync < 3 else 'MISSED'}"
    )
    print(f"  peak RSS under 200 MB: worst {worst_rss:.0f} MB — {'OK' if worst_rss < 200 else 'MISSED'}")
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--members", type=int, default=1000, help="students in the server (default 1000)")
    parser.add_argument("--restarts", type=int, default=3, help="warm restarts after the cold start")
    parser.add_argument(
        "--profile", metavar="FILE", help="one more warm start under pyinstrument (text report)"
    )
    args = parser.parse_args()
    sys.exit(asyncio.run(main(args.members, args.restarts, args.profile)))
