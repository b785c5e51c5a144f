# ruff: noqa: ASYNC109  (explicit timeout= arguments, like tests/e2e/fake_discord.py)
"""Shared plumbing for the benchmarks: the machine, a course server on the local fake Discord, and the
real `python -m bot run` process pointed at it.

Not a test and not part of the bot: `python bench/checkin.py`, `python bench/startup.py`.
"""

from __future__ import annotations

import asyncio
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "e2e"))

from bot_process import with_discord_section  # noqa: E402
from fake_discord import (  # noqa: E402  (needs the path above)
    FakeChannel,
    FakeDiscord,
    FakeGuild,
    FakeMember,
    InteractionResult,
)

MANAGE_GUILD = 1 << 5
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
        self.synced_at: float | None = None
        self.identified_at: float | None = None
        self._fire = False

    async def _h_callback(self, r: Any, body: Any) -> Any:
        self.callback_at.setdefault(r.match_info["token"], time.monotonic())
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
    guild = fd.add_guild("EECE695D Spring 2025")
    for name, permissions in (("Instructor", 0), ("TA", MANAGE_GUILD), ("Student", 0)):
        fd.add_role(guild, name, permissions=permissions)
    general = fd.add_channel(guild, "general")
    fd.add_channel(guild, "announcements")
    ta_log = fd.add_channel(guild, "ta-log")
    fd.add_channel(guild, "bot-notices")
    fd.add_member(guild, "prof", roles=["Instructor"])
    ta = fd.add_member(guild, "ta", roles=["TA"])
    course = Course(fd, guild, general, ta_log, ta)
    for i in range(students):
        course.students.append(fd.add_member(guild, f"student{i:05d}", roles=["Student"]))
    return course


def write_config(directory: Path, fd: FakeDiscord, guild: FakeGuild) -> Path:
    text = with_discord_section(
        (ROOT / "config.toml").read_text(encoding="utf-8"),
        {
            "guild_id": str(guild.id),
            "sync_commands": "true",
            "api_base": f'"{fd.api_base}"',
            "gateway_url": f'"{fd.gateway_url}"',
        },
    )
    path = directory / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


# ---- the bot process ---------------------------------------------------------------------------------
PYCACHE = Path(tempfile.gettempdir()) / "coursebot-bench-pycache"


def bot_environment(bytecode_cache: bool = True) -> dict[str, str]:
    """The environment without the token and database, and with a bytecode cache like a deployed bot
    has (outside the source tree, so this works even when PYTHONDONTWRITEBYTECODE is set)."""
    env = {k: v for k, v in os.environ.items() if k not in ("DISCORD_TOKEN", "DATABASE_URL")}
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
            **(extra_env or {}),
        )
        args = [*self.launcher, "-m", "bot", "run", "--config", str(self.config)]
        if self.now:
            args += ["--now", self.now]
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
        """User + system CPU time of the process so far."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS

    def log_text(self, *, this_start: bool = False) -> str:
        """The output of every start so far (or of the last start only)."""
        if not self.log.exists():
            return ""
        data = self.log.read_bytes()
        return data[self.log_offset if this_start else 0 :].decode("utf-8", errors="replace")

    async def stop(self, timeout: float = 15.0) -> int:
        if self.proc is None or self.proc.returncode is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(signal.SIGTERM)
        try:
            return await asyncio.wait_for(self.proc.wait(), timeout)
        except TimeoutError:
            self.proc.kill()
            return await self.proc.wait()


async def wait_serving(fd: TimedFake, course: Course, bot: BotProcess, timeout: float = 60.0) -> None:
    """Until commands are synced and the bot answers `/course` (it has READY and the guild)."""

    def failed() -> bool:
        return bot.proc is not None and bot.proc.returncode is not None

    await poll(lambda: fd.synced_at is not None or failed(), timeout, "command sync")
    await poll(lambda: (fd.ready_count and fd._conn) or failed(), timeout, "the bot to identify")
    if failed():
        raise RuntimeError(
            f"the bot exited with {bot.proc.returncode if bot.proc else '?'}:\n{bot.log_text()}"
        )
    await fd.invoke_slash(course.guild, course.general, course.ta, "course", None, timeout=timeout)
