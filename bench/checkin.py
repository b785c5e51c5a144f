"""Check-in burst benchmark: N students (default 1000) send `/checkin` at once through the real
discord.py path, over loopback, to the real `python -m bot run` process on the local fake Discord.

The fake's global rate limit is off (interaction callbacks are not globally rate limited on Discord)
and, like Discord, it refuses a callback that comes more than 3 s after the interaction (10062).
The same burst of a no-op-ish command (`/course`: no database; `/deadlines`: one read) is the floor.

For each burst: how many were answered in time, the latency from dispatch (the fake queueing
INTERACTION_CREATE) to the callback's arrival (p50/p95/p99/max), the throughput, and the bot's
CPU time per command (from /proc/<pid>/stat), whose ratio to the floor is the per-command cost.

    python bench/checkin.py [--students 1000] [--rounds 1] [--profile FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import re
import signal
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from _harness import (
    BotProcess,
    Course,
    TimedFake,
    build_course,
    describe_ms,
    load_average,
    percentile,
    poll,
    print_machine,
    wait_serving,
    warm_bytecode_cache,
    write_config,
)
from bot_process import fake_token
from fake_discord import InteractionResult

NOW = "2025-03-12 11:00"  # a Wednesday lecture of week 2
DEADLINE = 3.0
CHECKED_IN = re.compile(r"^Checked in to the lecture of Wed 2025-03-12: present\.$")


@dataclass
class Burst:
    name: str
    n: int
    answered: int  # a callback arrived (in time or not)
    in_time: int  # accepted by the fake: within 3 s
    late: int  # refused with 10062
    latencies: list[float]  # dispatch -> callback arrival, seconds
    wall: float  # first dispatch -> last callback
    dispatch: float  # time to queue all N events
    cpu: float  # bot CPU seconds during the burst
    fake_cpu: float  # CPU seconds of this process (the fake Discord) during the burst
    other_requests: int  # REST requests besides the callbacks (e.g. ta-log posts about errors)
    ok: int  # answers with the expected content

    @property
    def cpu_ms_per_command(self) -> float:
        return self.cpu / self.n * 1000

    def report(self) -> None:
        print(f"  /{self.name} × {self.n}")
        print(
            f"    answered {self.answered}/{self.n}; within 3 s: {self.in_time} · late (10062): {self.late} · "
            f"expected reply: {self.ok}"
        )
        print(f"    dispatch→callback: {describe_ms(self.latencies)}")
        print(
            f"    throughput {self.n / self.wall:.0f}/s (burst took {self.wall:.2f} s; queueing the {self.n} "
            f"events took {self.dispatch * 1000:.0f} ms) · bot CPU {self.cpu:.2f} s = "
            f"{self.cpu_ms_per_command:.2f} ms per command · wall {self.wall / self.n * 1000:.2f} ms per command"
        )
        print(
            f"    the fake Discord (this process) used {self.fake_cpu:.2f} s CPU; other REST requests "
            f"during the burst: {self.other_requests}"
        )


async def burst(
    course: Course,
    bot: BotProcess,
    name: str,
    options: dict | None,
    expect: re.Pattern[str],
    spy: Path | None = None,
) -> Burst:
    fd = course.fd
    recorder = None
    if spy is not None:  # py-spy samples the bot during this burst only (collapsed stacks)
        recorder = await asyncio.create_subprocess_exec(
            "py-spy", "record", "--pid", str(bot.pid), "--rate", "500", "--gil", "--format", "raw",
            "--output", str(spy / f"{name}.txt"), "--nonblocking",
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        await asyncio.sleep(1.0)  # py-spy attaches
    cpu0, fake0, requests0 = bot.cpu_seconds(), time.process_time(), len(fd.requests)
    started = time.monotonic()
    results: list[InteractionResult] = []
    for member in course.students:  # no await yields inside: every event is queued before any is sent
        results.append(await fd.fire_slash(course.guild, course.general, member, name, options))
    queued = time.monotonic()

    def done() -> bool:
        return all(r.type is not None or r.rejected for r in results)

    try:
        await poll(done, 120, f"answers to {len(results)} /{name}", interval=0.005)
    except TimeoutError as error:
        print(f"    !! {error}")
    await asyncio.sleep(0.2)  # let trailing work (e.g. error replies) finish before reading the CPU time
    cpu, fake_cpu = bot.cpu_seconds() - cpu0, time.process_time() - fake0
    if recorder is not None:
        recorder.send_signal(signal.SIGINT)
        await recorder.wait()
    arrivals = [fd.callback_at[r.token] for r in results if r.token in fd.callback_at]
    latencies = [fd.callback_at[r.token] - r.created for r in results if r.token in fd.callback_at]
    return Burst(
        name=name,
        n=len(results),
        answered=len(arrivals),
        in_time=sum(
            1 for r in results if r.type is not None and fd.callback_at[r.token] - r.created <= DEADLINE
        ),
        late=sum(1 for r in results if r.late),
        latencies=latencies or [float("nan")],
        wall=(max(arrivals) if arrivals else time.monotonic()) - started,
        dispatch=queued - started,
        cpu=cpu,
        fake_cpu=fake_cpu,
        other_requests=sum(1 for r in fd.requests[requests0:] if not r.path.startswith("/interactions/")),
        ok=sum(1 for r in results if expect.search(r.content or "") or (r.embeds and not r.content)),
    )


async def main(students: int, rounds: int, profile: str | None, deadline: float, spy: Path | None) -> int:
    print_machine()
    print(f"  {load_average()}")
    warm_bytecode_cache()
    print(
        f"{students} students; fake rate limit off; interaction deadline {deadline or 'none'} s; --now {NOW}"
    )
    fd = TimedFake(token=(token := fake_token()), interaction_deadline=deadline or None)
    await fd.start()
    course = build_course(fd, students)
    failures = 0
    with tempfile.TemporaryDirectory(prefix="bench-checkin-") as tmp:
        directory = Path(tmp)
        config = write_config(directory, fd, course.guild)
        launcher = (
            [sys.executable, "-m", "pyinstrument", "-o", profile] if profile else None
        )  # format by extension
        bot = BotProcess(directory, config, token, NOW, launcher)
        await bot.start()
        try:
            await wait_serving(fd, course, bot)
            # Start-up work after READY (the start-up check and the student-role sync) is not part of the
            # bursts: bench/startup.py measures start-up.
            await poll(lambda: "Start-up check" in bot.log_text(), 60, "the start-up check")
            opened = await fd.invoke_slash(
                course.guild, course.general, course.ta, "ta attendance open", {"minutes": 240}
            )
            match = re.search(r"Code: `([A-Z0-9]+)`", opened.content or "")
            assert match, opened.content
            code = match.group(1)
            # warm-up: connections, first-use caches
            for member in course.students[:20]:
                await fd.invoke_slash(course.guild, course.general, member, "course")
            results: list[Burst] = []
            for _ in range(rounds):
                results.append(await burst(course, bot, "course", None, re.compile("^$"), spy))
                results[-1].report()
                results.append(await burst(course, bot, "deadlines", None, re.compile("^$"), spy))
                results[-1].report()
            checkins = []
            for i in range(rounds):
                expect = CHECKED_IN if i == 0 else re.compile(r"^You already checked in")
                checkins.append(await burst(course, bot, "checkin", {"code": code}, expect, spy))
                checkins[-1].report()
            peak = bot.status_kb("VmHWM") / 1024
            print(f"  bot peak RSS after the bursts: {peak:.0f} MB")
            print(f"  {load_average()}")
            log = bot.log_text()
            if "Traceback" in log or " ERROR " in log:
                print("  !! the bot logged errors:\n" + log[-3000:])
                failures += 1
        finally:
            code_ = await bot.stop(60 if profile else 15)
            await fd.stop()
        if profile:
            print(f"  pyinstrument profile of the whole run: {profile} (bot exit code {code_})")
    first = checkins[0]
    floors = {b.name: b for b in results}
    print("targets")
    in_time = first.in_time == first.n and first.ok == first.n
    print(
        f"  all {first.n} check-ins answered within 3 s: {first.in_time}/{first.n} "
        f"(correct: {first.ok}) — {'OK' if in_time else 'MISSED'}"
    )
    p99 = percentile(first.latencies, 99)
    print(f"  p99 under 1 s: {p99 * 1000:.0f} ms — {'OK' if p99 < 1 else 'MISSED'}")
    for floor in floors.values():
        ratio = first.cpu_ms_per_command / floor.cpu_ms_per_command
        wall_ratio = first.wall / floor.wall
        print(
            f"  cost per check-in within 3× /{floor.name}: CPU {ratio:.2f}× · wall {wall_ratio:.2f}× — "
            f"{'OK' if ratio <= 3 else 'MISSED'}"
        )
    return 1 if failures or not in_time else 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--students", type=int, default=1000, help="students in the burst (default 1000)")
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="bursts of each floor; check-in rounds after the first are 'already'",
    )
    parser.add_argument(
        "--profile",
        metavar="FILE",
        help="run the bot under pyinstrument (report format by extension: .txt, .html, .pstats)",
    )
    parser.add_argument(
        "--deadline",
        type=float,
        default=DEADLINE,
        help="interaction deadline in s (0 = none, to see raw latency)",
    )
    parser.add_argument(
        "--py-spy",
        type=Path,
        metavar="DIR",
        help="sample the bot with py-spy during each burst (raw stacks in DIR)",
    )
    args = parser.parse_args()
    if args.py_spy:
        args.py_spy.mkdir(parents=True, exist_ok=True)
    sys.exit(asyncio.run(main(args.students, args.rounds, args.profile, args.deadline, args.py_spy)))
