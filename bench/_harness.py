# ruff: noqa: ASYNC109  (explicit timeout= arguments, like tests/e2e/fake_discord.py)
"""Shared plumbing for the benchmarks: the machine, a course server on the local fake Discord, and the
real `python -m bot run` process pointed at it.

Not a test and not part of the bot: `python bench/checkin.py`, `python bench/startup.py`.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "e2e"))

from _spy import table as spy_table  # noqa: E402
from bot_process import build_course_server, course_config, fake_token  # noqa: E402
from fake_discord import (  # noqa: E402  (needs the path above)
    FakeChannel,
    FakeDiscord,
    FakeGuild,
    FakeMember,
    InteractionResult,
)

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


# ---- the machine ----------------------------------------------------------------------------------
def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine_lines() -> list[str]:
    return [
        f"platform: {platform.platform()}",
        f"python:   {platform.python_implementation()} {platform.python_version()}",
        f"cpus:     {os.cpu_count()} × {cpu_model()}",
    ]


def print_machine() -> None:
    print("machine")
    for line in machine_lines():
        print("  " + line)


# ---- figures --------------------------------------------------------------------------------------
def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0–100), nearest rank."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def describe_ms(values: list[float]) -> str:
    ms = [v * 1000 for v in values]
    return (
        f"p50 {percentile(ms, 50):.0f} ms · p95 {percentile(ms, 95):.0f} ms · "
        f"p99 {percentile(ms, 99):.0f} ms · max {max(ms):.0f} ms · mean {statistics.fmean(ms):.0f} ms"
    )


# ---- the fake Discord, instrumented ---------------------------------------------------------------
class TimedFake(FakeDiscord):
    """The fake, plus: when each interaction callback arrived, when commands were synced, and a
    fire-and-forget mode in which `invoke_*` return right after dispatching."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.callback_at: dict[str, float] = {}  # interaction token -> first callback arrival
        self.callback_peers: set[object] = set()  # (host, port) of each connection a callback came on
        self.last_callback = 0.0  # when the latest callback arrived
        self.synced_at: float | None = None
        self.identified_at: float | None = None
        self._fire = False

    async def _h_callback(self, r: Any, body: Any) -> Any:
        self.last_callback = time.monotonic()
        self.callback_at.setdefault(r.match_info["token"], self.last_callback)
        if r.transport is not None:
            self.callback_peers.add(r.transport.get_extra_info("peername"))
        return await super()._h_callback(r, body)

    async def _h_put_commands(self, r: Any, body: Any) -> Any:
        out = await super()._h_put_commands(r, body)
        if self.synced_at is None:
            self.synced_at = time.monotonic()
        return out

    async def _on_op(self, conn: Any, frame: dict[str, Any]) -> None:
        await super()._on_op(conn, frame)
        if frame.get("op") == 2 and self.identified_at is None:
            self.identified_at = time.monotonic()

    async def wait_until(
        self, predicate: Callable[[], Any], timeout: float = 10.0, what: str = "condition"
    ) -> None:
        if self._fire:
            return  # fire-and-forget: invoke_slash returns the InteractionResult at once
        await super().wait_until(predicate, timeout, what)

    async def fire_slash(
        self, guild: FakeGuild, channel: FakeChannel, member: FakeMember, name: str, options: dict | None
    ) -> InteractionResult:
        """Dispatch `/name` and return without waiting (no await inside yields to the loop)."""
        self._fire = True
        try:
            return await self.invoke_slash(guild, channel, member, name, options)
        finally:
            self._fire = False


async def poll(predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.02) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(interval)


# ---- the course server -------------------------------------------------------------------------------
@dataclass
class Course:
    fd: TimedFake
    guild: FakeGuild
    general: FakeChannel
    ta_log: FakeChannel
    ta: FakeMember
    students: list[FakeMember] = field(default_factory=list)


def build_course(fd: TimedFake, students: int) -> Course:
    """The e2e tests' course server (`build_course_server`), its students named student00000, …"""
    server = build_course_server(fd, [f"student{i:05d}" for i in range(students)])
    return Course(
        fd, server.guild, server.general, server.guild.channel("ta-log"), server.ta, server.students
    )


def write_config(directory: Path, fd: FakeDiscord, guild: FakeGuild) -> Path:
    """The repository's config.toml pointed at the fake, as `directory/config.toml`."""
    path = directory / "config.toml"
    path.write_text(course_config(fd, guild), encoding="utf-8")
    return path


# ---- the bot process ---------------------------------------------------------------------------------
PYCACHE = Path(tempfile.gettempdir()) / "coursebot-bench-pycache"
PROBE = ROOT / "bench" / "_probe"  # sitecustomize.py: the garbage-collection probe, BENCH_* switches


def bot_environment(bytecode_cache: bool = True) -> dict[str, str]:
    """The environment without the token and database, and with a bytecode cache like a deployed bot
    has (outside the source tree, so this works even when PYTHONDONTWRITEBYTECODE is set)."""
    env = {k: v for k, v in os.environ.items() if k not in ("DISCORD_TOKEN", "DATABASE_URL")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(PROBE), env.get("PYTHONPATH", "")) if p)
    if bytecode_cache:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(PYCACHE)
    else:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        env.pop("PYTHONPYCACHEPREFIX", None)
    return env


def warm_bytecode_cache() -> None:
    """Compile the bot's modules once (not timed), so start-up figures are those of a deployed bot."""
    subprocess.run(
        [
            sys.executable,
            "-c",
            "import bot.app, bot.db.migrate, cogs, pkgutil; "
            "[__import__(f'cogs.{m.name}') for m in pkgutil.iter_modules(cogs.__path__)]",
        ],
        env=bot_environment(),
        cwd=ROOT,
        check=True,
    )


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} / {five:.2f} / {fifteen:.2f} (1 / 5 / 15 min)"


class BotProcess:
    """`python -m bot run --config FILE --now INSTANT` with DATABASE_URL in `directory`."""

    def __init__(
        self, directory: Path, config: Path, token: str, now: str | None, launcher: list[str] | None = None
    ) -> None:
        self.directory, self.config, self.token, self.now = directory, config, token, now
        self.launcher = launcher or [sys.executable]  # e.g. [python, -m, pyinstrument, ...] to profile
        self.bytecode_cache = True
        self.database = directory / "course.db"
        self.log = directory / "bot.log"
        self.proc: asyncio.subprocess.Process | None = None
        self.started_at = 0.0
        self.log_offset = 0

    async def start(self, extra_env: dict[str, str] | None = None) -> None:
        env = bot_environment(self.bytecode_cache)
        env.update(
            PYTHONUNBUFFERED="1",
            DISCORD_TOKEN=self.token,
            DATABASE_URL=f"sqlite+aiosqlite:///{self.database}",
            BENCH_GC_PROBE=str(self.gc_file),
            **(extra_env or {}),
        )
        args = [*self.launcher, *self.arguments()]
        self.log_offset = self.log.stat().st_size if self.log.exists() else 0
        with self.log.open("ab") as sink:
            self.started_at = time.monotonic()
            self.proc = await asyncio.create_subprocess_exec(
                *args,
                cwd=self.directory,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=subprocess.STDOUT,
            )

    def arguments(self) -> list[str]:
        """What follows the interpreter on the command line."""
        args = ["-m", "bot", "run", "--config", str(self.config)]
        return [*args, "--now", self.now] if self.now else args

    @property
    def gc_file(self) -> Path:
        """Where the probe (`bench/_probe/sitecustomize.py`) writes its garbage-collection totals."""
        return self.log.with_suffix(".gc.json")

    async def gc_totals(self) -> dict[str, list[float]] | None:
        """The process's garbage collections so far (count, CPU seconds and objects collected, by
        generation), or None when the probe does not answer within 2 s."""
        self.gc_file.unlink(missing_ok=True)
        try:
            os.kill(self.pid, signal.SIGUSR1)
            await poll(self.gc_file.exists, 2.0, "the garbage-collection probe", interval=0.005)
            return json.loads(self.gc_file.read_text(encoding="utf-8"))
        except (OSError, TimeoutError, ValueError):
            return None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def status_kb(self, key: str) -> int:
        """A `/proc/<pid>/status` figure in kB (VmHWM = peak RSS, VmRSS = current)."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
        raise KeyError(key)

    def cpu_seconds(self) -> float:
        """User + system CPU time of the process so far (clock ticks: 10 ms steps)."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS

    def thread_cpu_seconds(self) -> float:
        """CPU time of the threads alive now, in nanoseconds (`/proc/<pid>/task/*/schedstat`): precise,
        but a thread that ended takes its time with it (see `cpu_between`)."""
        total = 0
        for task in Path(f"/proc/{self.pid}/task").iterdir():
            try:
                total += int((task / "schedstat").read_text().split()[0])
            except (OSError, ValueError, IndexError):
                continue  # the thread ended meanwhile
        return total / 1e9

    def cpu_mark(self) -> tuple[float, float]:
        return self.cpu_seconds(), self.thread_cpu_seconds()

    def cpu_between(self, start: tuple[float, float]) -> float:
        """CPU seconds since `start` (a `cpu_mark`): the precise figure, unless a thread that ended in
        between makes it fall short of the clock-tick one by more than two ticks."""
        ticks, precise = (now - then for now, then in zip(self.cpu_mark(), start, strict=True))
        return precise if precise > ticks - 2 / CLOCK_TICKS else ticks

    def log_text(self, *, this_start: bool = False) -> str:
        """The output of every start so far (or of the last start only)."""
        if not self.log.exists():
            return ""
        data = self.log.read_bytes()
        return data[self.log_offset if this_start else 0 :].decode("utf-8", errors="replace")

    async def stop(self, timeout: float = 15.0) -> int:
        if self.proc is None or self.proc.returncode is not None:
            return self.proc.returncode if self.proc and self.proc.returncode is not None else 0
        self.proc.send_signal(signal.SIGTERM)
        try:
            return await asyncio.wait_for(self.proc.wait(), timeout)
        except TimeoutError:
            self.proc.kill()
            return await self.proc.wait()


async def wait_serving(
    fd: TimedFake, course: Course, bot: BotProcess, timeout: float = 60.0, command: str = "course"
) -> None:
    """Until commands are synced and the bot answers `/command` (it has READY and the guild)."""

    def failed() -> bool:
        return bot.proc is not None and bot.proc.returncode is not None

    await poll(lambda: fd.synced_at is not None or failed(), timeout, "command sync")
    await poll(lambda: (fd.ready_count and fd._conn) or failed(), timeout, "the bot to identify")
    if failed():
        raise RuntimeError(
            f"the bot exited with {bot.proc.returncode if bot.proc else '?'}:\n{bot.log_text()}"
        )
    await fd.invoke_slash(course.guild, course.general, course.ta, command, None, timeout=timeout)


# ---- bursts -------------------------------------------------------------------------------------
DEADLINE = 3.0
QUIET = 1.0  # s past the deadline with no callback and the bot idle: the unanswered ones were not sent
IDLE_CPU = 0.05  # the bot counts as idle below this share of one core


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
    other_kinds: Counter[str] = field(default_factory=Counter)  # "POST /channels/{id}/messages" -> count
    connections: int = 0  # distinct connections the callbacks came on
    gc_collections: list[int] = field(default_factory=list)  # by generation, during the burst
    gc_seconds: list[float] = field(default_factory=list)  # CPU seconds in the collector, by generation
    spy_file: Path | None = None  # py-spy's raw stacks of the burst

    @property
    def cpu_ms_per_command(self) -> float:
        return self.cpu / self.n * 1000

    @property
    def p99(self) -> float:
        return percentile(self.latencies, 99)

    def report(self, floor: Burst | None = None) -> None:
        print(f"  /{self.name} × {self.n}")
        print(
            f"    answered {self.answered}/{self.n}; within 3 s: {self.in_time} · late (10062): {self.late} · "
            f"not sent (past the deadline): {self.n - self.answered} · expected reply: {self.ok}"
        )
        print(f"    dispatch→callback: {describe_ms(self.latencies)}")
        ratio = (
            f" = {self.cpu_ms_per_command / floor.cpu_ms_per_command:.2f}× the floor"
            if floor is not None and floor is not self
            else ""
        )
        print(
            f"    throughput {self.n / self.wall:.0f}/s (burst took {self.wall:.2f} s; queueing the {self.n} "
            f"events took {self.dispatch * 1000:.0f} ms) · bot CPU {self.cpu:.2f} s = "
            f"{self.cpu_ms_per_command:.3f} ms per command{ratio}"
        )
        print(
            f"    the fake Discord (this process) used {self.fake_cpu:.2f} s CPU; other REST requests "
            f"during the burst: {self.other_requests}"
            + (
                f" ({', '.join(f'{k} ×{n}' for k, n in self.other_kinds.most_common(3))})"
                if self.other_kinds
                else ""
            )
            + f"; callbacks came on {self.connections} connection(s)"
        )
        if self.gc_seconds:
            spent = sum(self.gc_seconds)
            print(
                f"    garbage collection: {'/'.join(str(n) for n in self.gc_collections)} collections "
                f"(generation 0/1/2), {spent * 1000:.0f} ms CPU = {spent / self.n * 1e6:.0f} µs per command "
                f"({'/'.join(f'{s * 1000:.0f}' for s in self.gc_seconds)} ms)"
            )
        if self.spy_file is not None and self.spy_file.exists():
            print("\n".join(spy_table(self.spy_file, self.cpu_ms_per_command)))


async def burst(
    course: Course,
    bot: BotProcess,
    name: str,
    options: dict | None,
    expect: Callable[[InteractionResult], bool],
    spy: Path | None = None,
    members: list[FakeMember] | None = None,
    settle: float = 0.2,
) -> Burst:
    """Dispatch `/name` once per member (default: every student) at once and wait for the answers."""
    fd = course.fd
    members = course.students if members is None else members
    recorder = None
    if spy is not None:  # py-spy samples the bot during this burst only (collapsed stacks)
        recorder = await asyncio.create_subprocess_exec(
            "py-spy", "record", "--pid", str(bot.pid), "--rate", "500", "--gil", "--format", "raw",
            "--output", str(spy / f"{name.replace(' ', '_')}-{len(members)}.txt"), "--nonblocking",
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        await asyncio.sleep(1.0)  # py-spy attaches
    gc0 = await bot.gc_totals()
    fd.callback_peers.clear()
    fd.last_callback = time.monotonic()
    cpu0, fake0, requests0 = bot.cpu_mark(), time.process_time(), len(fd.requests)
    started = time.monotonic()
    results: list[InteractionResult] = []
    for member in members:  # no await yields inside: every event is queued before any is sent
        results.append(await fd.fire_slash(course.guild, course.general, member, name, options))
    queued = time.monotonic()

    busy = [bot.thread_cpu_seconds(), time.monotonic()]  # the bot's CPU, and when it last moved

    def done() -> bool:
        if all(r.type is not None or r.rejected for r in results):
            return True
        now, cpu = time.monotonic(), bot.thread_cpu_seconds()
        if cpu - busy[0] > IDLE_CPU * (now - busy[1]):
            busy[:] = [cpu, now]
        # Past the deadline, no callback and the bot idle for QUIET: the rest will not be answered
        # (the bot does not send an answer that Discord would refuse).
        return now - started > DEADLINE and now - max(fd.last_callback, busy[1]) > QUIET

    try:
        await poll(done, 120, f"answers to {len(results)} /{name}", interval=0.05)
    except TimeoutError as error:
        print(f"    !! {error}")
    await asyncio.sleep(settle)  # trailing work (e.g. error replies) finishes before reading the CPU time
    cpu, fake_cpu = bot.cpu_between(cpu0), time.process_time() - fake0
    gc1 = await bot.gc_totals()
    if recorder is not None:
        recorder.send_signal(signal.SIGINT)
        await recorder.wait()
    spy_file = spy / f"{name.replace(' ', '_')}-{len(members)}.txt" if spy is not None else None
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
        ok=sum(1 for r in results if r.type is not None and expect(r)),
        other_kinds=Counter(
            f"{r.method} {re.sub(r'[0-9]{5,}', '{id}', r.path)}"
            for r in fd.requests[requests0:]
            if not r.path.startswith("/interactions/")
        ),
        connections=len(fd.callback_peers),
        gc_collections=[int(b - a) for a, b in zip(gc0["collections"], gc1["collections"], strict=True)]
        if gc0 and gc1
        else [],
        gc_seconds=[b - a for a, b in zip(gc0["seconds"], gc1["seconds"], strict=True)]
        if gc0 and gc1
        else [],
        spy_file=spy_file,
    )


# ---- the floor: a bare discord.py bot --------------------------------------------------------------
class FloorProcess(BotProcess):
    """`python bench/floor_bot.py`: discord.py with one no-op command, against the same fake."""

    def __init__(self, directory: Path, fd: FakeDiscord, guild: FakeGuild, token: str) -> None:
        super().__init__(directory, directory / "unused.toml", token, None)
        self.log = directory / "floor.log"
        self.fd, self.guild = fd, guild

    def arguments(self) -> list[str]:
        return [
            str(ROOT / "bench" / "floor_bot.py"),
            self.fd.api_base,
            self.fd.gateway_url,
            str(self.guild.id),
        ]


def new_fake(token: str, deadline: float | None) -> TimedFake:
    """The fake for a benchmark: Discord's 3 s deadline, no global rate limit (interaction callbacks
    are not globally limited on Discord), bodies not checked against the OpenAPI description (the e2e
    tests do that; here it would only add to the fake's CPU time on a shared machine)."""
    return TimedFake(token=token, interaction_deadline=deadline, validate_schema=False)


async def floor_bursts(
    students: int, rounds: int, deadline: float | None, spy: Path | None = None
) -> list[Burst]:
    """`rounds` bursts of `/noop` by `students` students on a bare discord.py bot."""
    fd = new_fake(token := fake_token(), deadline)
    await fd.start()
    course = build_course(fd, students)
    bursts: list[Burst] = []
    with tempfile.TemporaryDirectory(prefix="bench-floor-") as tmp:
        floor = FloorProcess(Path(tmp), fd, course.guild, token)
        await floor.start()
        try:
            await wait_serving(fd, course, floor, command="noop")
            for member in course.students[:20]:  # warm-up: connections, first-use caches
                await fd.invoke_slash(course.guild, course.general, member, "noop")
            for _ in range(rounds):
                bursts.append(await burst(course, floor, "noop", None, lambda r: r.content == "ok", spy))
        finally:
            await floor.stop()
            await fd.stop()
    return bursts


def median_burst(bursts: list[Burst]) -> Burst:
    """The burst with the median CPU per command (of two: the higher)."""
    return sorted(bursts, key=lambda b: b.cpu)[len(bursts) // 2]
