"""Helpers for running the real `coursebot run` process against the fake Discord (shared by the
end-to-end tests and the benchmarks).

The database: `fresh_database` gives each test an empty database of its own, SQLite by default or on
PostgreSQL when the run's `DATABASE_URL` names a PostgreSQL server (or when a test asks for it, on
`COURSEBOT_TEST_POSTGRES`); the bot migrates it when it starts.
"""

from __future__ import annotations

import asyncio
import base64
import os
import re
import secrets
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fake_discord import FakeChannel, FakeDiscord, FakeGuild, FakeMember, InteractionResult

ROOT = Path(__file__).resolve().parents[2]
MANAGE_GUILD = 1 << 5
# Read at import, before tests/conftest.py takes DATABASE_URL out of each test's environment.
RUN_DATABASE_URL = os.environ.get("DATABASE_URL", "")
POSTGRES_SERVER = os.environ.get("COURSEBOT_TEST_POSTGRES", "")


def fake_token() -> str:
    """Shaped like a real bot token (base64 id . timestamp . hmac), random per run."""
    user_id = base64.urlsafe_b64encode(str(secrets.randbits(62)).encode()).decode().rstrip("=")
    return f"{user_id}.{secrets.token_urlsafe(4)}.{secrets.token_urlsafe(27)}"


def with_discord_section(text: str, values: dict[str, str]) -> str:
    """The config text with the given keys of the `[discord]` table (not its sub-tables) replaced."""
    header = re.search(r"^\[discord\][ \t]*(#.*)?$", text, re.MULTILINE)
    assert header, "config.toml has no [discord] table"
    following = re.compile(r"^\[", re.MULTILINE).search(text, header.end())
    end = following.start() if following else len(text)
    section = text[header.end() : end]
    for key, value in values.items():
        section, count = re.subn(
            rf"^({re.escape(key)}[ \t]*=[ \t]*)[^#\n]*?([ \t]*(#.*)?)$",
            lambda m, v=value: f"{m.group(1)}{v}{m.group(2)}",
            section,
            flags=re.MULTILINE,
        )
        assert count == 1, f"[discord] {key} appears {count} times in config.toml"
    return text[: header.end()] + section + text[end:]


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without the bot's own variables, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if k not in ("DISCORD_TOKEN", "DATABASE_URL")}
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


async def start_bot(
    config: Path, now: str, *, cwd: Path, env: dict[str, str], log: Path
) -> asyncio.subprocess.Process:
    """`python -m bot run --config CONFIG --now NOW`, its output (both streams) written to `log`."""
    with log.open("wb") as sink:
        return await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            "run",
            "--config",
            str(config),
            "--now",
            now,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )


def course_config(
    fd: FakeDiscord,
    guild: FakeGuild,
    *,
    dm_per_second: float | None = None,
    deadlines: Iterable[Mapping[str, str]] = (),
) -> str:
    """The repository's config.toml pointed at the fake (commands synced to `guild`), with the DM pace
    and extra `[[deadlines]]` tables if given."""
    text = with_discord_section(
        (ROOT / "config.toml").read_text(encoding="utf-8"),
        {
            "guild_id": str(guild.id),
            "sync_commands": "true",
            "api_base": f'"{fd.api_base}"',
            "gateway_url": f'"{fd.gateway_url}"',
        },
    )
    if dm_per_second is not None:
        text, count = re.subn(
            r"^dm_per_second[ \t]*=[ \t]*[0-9.]+",
            f"dm_per_second = {dm_per_second}",
            text,
            flags=re.MULTILINE,
        )
        assert count == 1, "config.toml has no dm_per_second"
    for deadline in deadlines:
        text += "\n[[deadlines]]\n" + "".join(f'{key} = "{value}"\n' for key, value in deadline.items())
    return text


@dataclass
class CourseServer:
    """The course's server on the fake: roles Instructor, TA and Student, the channels the config names,
    the instructor, one TA and the students."""

    guild: FakeGuild
    general: FakeChannel
    ta: FakeMember
    students: list[FakeMember]


def build_course_server(
    fd: FakeDiscord,
    students: int | Sequence[str],
    name: str = "EECE695D Spring 2025",
    *,
    joined: str | None = None,
) -> CourseServer:
    """The server with `students` students (a number: student000, student001, …; or their names),
    everyone having joined at `joined` (an ISO instant; default: now, as the fake has it)."""
    guild = fd.add_guild(name)
    for role, permissions in (("Instructor", 0), ("TA", MANAGE_GUILD), ("Student", 0)):
        fd.add_role(guild, role, permissions=permissions)
    general = fd.add_channel(guild, "general")
    for channel in ("announcements", "ta-log", "bot-notices"):
        fd.add_channel(guild, channel)
    fd.add_member(guild, "prof", roles=["Instructor"])
    ta = fd.add_member(guild, "ta", roles=["TA"])
    names = [f"student{i:03d}" for i in range(students)] if isinstance(students, int) else students
    members = [fd.add_member(guild, student, roles=["Student"]) for student in names]
    if joined is not None:
        for member in guild.members.values():
            member.joined_at = joined
    return CourseServer(guild, general, ta, members)


# ---- the database -------------------------------------------------------------------------------------
def _is_postgres(url: str) -> bool:
    return url.startswith(("postgresql", "postgres:"))


@dataclass
class CourseDatabase:
    """One test's database: `url` for the bot's DATABASE_URL, `rows` to read it from the test (safe
    while the bot runs), `close` at the end (drops a PostgreSQL database)."""

    url: str
    backend: str  # "sqlite" or "postgres"
    server: str | None = None  # the PostgreSQL server's URL, to drop the database from
    _engine: Any = None

    async def rows(self, sql: str, **params: object) -> list[tuple[Any, ...]]:
        """The rows of one query (named parameters: `:name`)."""
        from sqlalchemy import text

        if self._engine is None:
            self._engine = _engine(self.url)
        async with self._engine.connect() as connection:
            result = await connection.execute(text(sql), params)
            return [tuple(row) for row in result]

    async def close(self) -> None:
        if self._engine is not None:
            await self._engine.dispose()
            self._engine = None
        if self.server is not None:
            from sqlalchemy.engine import make_url

            name = make_url(self.url).database
            await _postgres_admin(self.server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _engine(url: str, **options: Any) -> Any:
    from sqlalchemy.ext.asyncio import create_async_engine
    from sqlalchemy.pool import NullPool

    return create_async_engine(url, poolclass=NullPool, **options)


async def _postgres_admin(server: str, statement: str) -> None:
    from sqlalchemy import text

    engine = _engine(server, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as connection:
            await connection.execute(text(statement))
    finally:
        await engine.dispose()


async def fresh_database(directory: Path, backend: str | None = None) -> CourseDatabase:
    """An empty database for one test's bot: `backend` "sqlite" (a file in `directory`) or "postgres"
    (a new database on the run's DATABASE_URL server, else on COURSEBOT_TEST_POSTGRES). By default
    PostgreSQL when the run's DATABASE_URL is a PostgreSQL URL, else SQLite. Raises LookupError when
    PostgreSQL is asked for and no server is configured."""
    if backend is None:
        backend = "postgres" if _is_postgres(RUN_DATABASE_URL) else "sqlite"
    if backend == "sqlite":
        return CourseDatabase(f"sqlite+aiosqlite:///{directory / 'course.db'}", "sqlite")
    server = RUN_DATABASE_URL if _is_postgres(RUN_DATABASE_URL) else POSTGRES_SERVER
    if not server:
        raise LookupError("no PostgreSQL server: set COURSEBOT_TEST_POSTGRES or DATABASE_URL")
    from sqlalchemy.engine import make_url

    name = f"coursebot_e2e_{uuid.uuid4().hex[:12]}"
    await _postgres_admin(server, f'CREATE DATABASE "{name}"')
    url = make_url(server).set(database=name).render_as_string(hide_password=False)
    return CourseDatabase(url, "postgres", server)


# ---- the bot process ---------------------------------------------------------------------------------
@dataclass
class BotRun:
    """The real `python -m bot run` against the fake, started as often as a test needs (each start's
    output in its own log), SIGKILLed or stopped with SIGTERM."""

    fd: FakeDiscord
    guild: FakeGuild
    config: Path
    database: CourseDatabase
    token: str
    directory: Path
    ready_timeout: float = 30.0
    proc: asyncio.subprocess.Process | None = None
    logs: list[Path] = field(default_factory=list)

    def log_text(self) -> str:
        return "\n".join(
            f"--- run {n} ---\n" + log.read_text(encoding="utf-8", errors="replace")
            for n, log in enumerate(self.logs, start=1)
            if log.exists()
        )

    @property
    def pid(self) -> int:
        assert self.proc is not None, "the bot was not started"
        return self.proc.pid

    def _syncs(self) -> int:
        path = f"/applications/{self.fd.application_id}/guilds/{self.guild.id}/commands"
        return sum(1 for r in self.fd.requests if r.method == "PUT" and r.path == path and r.status == 200)

    async def launch(self, now: str) -> asyncio.subprocess.Process:
        """Start the bot with `--now NOW` and return at once (its output in a log of its own)."""
        assert self.proc is None or self.proc.returncode is not None, "the bot is running already"
        log = self.directory / f"bot-{len(self.logs) + 1}.log"
        self.logs.append(log)
        env = clean_env(DISCORD_TOKEN=self.token, DATABASE_URL=self.database.url)
        self.proc = await start_bot(self.config, now, cwd=self.directory, env=env, log=log)
        return self.proc

    async def start(self, now: str) -> None:
        """Start the bot with `--now NOW`; return once its commands are synced and it is connected.
        Raises AssertionError (with its output) if it exits or takes longer than `ready_timeout`."""
        syncs, ready = self._syncs(), self.fd.ready_count
        await self.launch(now)
        await self.wait_for(
            lambda: self._syncs() > syncs and self.fd.ready_count > ready and self.fd._conn is not None,
            self.ready_timeout,
            f"the bot to sync its commands and connect (--now {now})",
        )

    async def wait_for(
        self, predicate: Callable[[], Any], seconds: float, what: str, interval: float = 0.02
    ) -> None:
        """Poll `predicate` every `interval` s (longer for a costly one: the fake shares this process);
        raises AssertionError with the bot's output if the bot exits or `seconds` pass first."""
        deadline = time.monotonic() + seconds
        while not predicate():
            if self.proc is not None and self.proc.returncode is not None:
                raise AssertionError(
                    f"the bot exited ({self.proc.returncode}) waiting for {what}:\n{self.log_text()[-8000:]}"
                )
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"timed out after {seconds}s waiting for {what}:\n{self.log_text()[-8000:]}"
                )
            await asyncio.sleep(interval)

    async def kill(self) -> None:
        """SIGKILL, as a crash or an OOM kill does."""
        assert self.proc is not None
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGKILL)
        await self.proc.wait()

    async def stop(self, within: float = 15.0) -> None:
        """SIGTERM; raises AssertionError unless the bot exits 0 within `within` seconds."""
        assert self.proc is not None and self.proc.returncode is None, self.log_text()[-8000:]
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = await asyncio.wait_for(self.proc.wait(), within)
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()
            raise AssertionError(
                f"the bot did not stop within {within} s of SIGTERM:\n{self.log_text()[-8000:]}"
            ) from None
        assert code == 0, f"exit code {code}:\n{self.log_text()[-8000:]}"


@dataclass
class CourseRun:
    """A course on the fake Discord and the bot serving it (see `running_course`)."""

    fd: FakeDiscord
    server: CourseServer
    bot: BotRun

    @property
    def database(self) -> CourseDatabase:
        return self.bot.database

    async def slash(
        self,
        member: FakeMember,
        name: str,
        options: dict[str, Any] | None = None,
        *,
        timeout: float = 10.0,  # noqa: ASYNC109
    ) -> InteractionResult:
        """`/name` in #general as `member`; raises AssertionError unless the bot answered in time."""
        result = await self.fd.invoke_slash(
            self.server.guild, self.server.general, member, name, options, timeout=timeout
        )
        assert result.type is not None and not result.late, (
            f"/{name}: no answer in time; {result.rejected}\n{self.bot.log_text()[-4000:]}"
        )
        return result

    async def click(
        self,
        message: dict[str, Any],
        custom_id: str,
        member: FakeMember,
        *,
        timeout: float = 10.0,  # noqa: ASYNC109
    ) -> InteractionResult:
        """`member` presses the component `custom_id` on `message`; raises AssertionError unless the
        bot answered in time."""
        result = await self.fd.invoke_component(message, custom_id, member, timeout=timeout)
        assert result.type is not None and not result.late, (
            f"{custom_id}: no answer in time; {result.rejected}\n{self.bot.log_text()[-4000:]}"
        )
        return result

    def texts(self, where: FakeChannel | FakeMember, needle: str = "") -> list[str]:
        """The contents of the messages in a channel, or of a member's DMs, that contain `needle`."""
        from fake_discord import FakeMember

        messages = self.fd.dms(where) if isinstance(where, FakeMember) else self.fd.messages(where)
        return [m["content"] for m in messages if needle in m["content"]]


@asynccontextmanager
async def running_course(
    directory: Path,
    *,
    students: int | Sequence[str],
    joined: str | None = None,
    backend: str | None = None,
    dm_per_second: float | None = None,
    deadlines: Iterable[Mapping[str, str]] = (),
    fake: type[FakeDiscord] | None = None,
    **fake_options: Any,
) -> AsyncIterator[CourseRun]:
    """A fake Discord (a `fake`, by default FakeDiscord, made with `fake_options`) with the course's
    server (see `build_course_server`), a fresh database (see `fresh_database`) and a config for them
    in `directory`; the bot is not started. At the end a bot still running is killed, the database
    closed (dropped on PostgreSQL) and the fake stopped."""
    from fake_discord import FakeDiscord

    token = fake_token()
    fd = (fake or FakeDiscord)(token=token, **fake_options)
    await fd.start()
    try:
        server = build_course_server(fd, students, joined=joined)
        config = directory / "config.toml"
        config.write_text(
            course_config(fd, server.guild, dm_per_second=dm_per_second, deadlines=deadlines),
            encoding="utf-8",
        )
        database = await fresh_database(directory, backend)
        bot = BotRun(fd, server.guild, config, database, token, directory)
        try:
            yield CourseRun(fd, server, bot)
        finally:
            if bot.proc is not None and bot.proc.returncode is None:
                await bot.kill()
            await database.close()
    finally:
        await fd.stop()
