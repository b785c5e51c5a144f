"""End to end: `coursebot run` with `[http] port` set serves /healthz and /metrics against the local fake
Discord. One bot process serves the module's story: healthy at start, a slash command counted in
/metrics, the gateway lost (503 while Discord refuses reconnects) and regained (200 again), a clean
SIGTERM. A second process with the default port 0 listens on nothing.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import tomllib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from bot_process import clean_env, fake_token, start_bot, with_discord_section
from fake_discord import FakeChannel, FakeDiscord, FakeGuild, FakeMember
from prometheus_client.parser import text_string_to_metric_families

in_module_loop = pytest.mark.asyncio(loop_scope="module")  # the loop the shared fixture lives in

ROOT = Path(__file__).resolve().parents[2]
NOW = "2025-03-10 11:00"
READY_TIMEOUT = 20.0
ANSWER_TIMEOUT = 10.0
DOWN_TIMEOUT = 10.0  # the bot notices a closed websocket at once
# discord.py's first retries wait up to 2, then 4 s (exponential backoff from 1 s); the reconnect
# is allowed right after the first refusal, so 30 s leaves ample room on a busy machine.
RECONNECT_TIMEOUT = 30.0
FIELDS = {"status", "gateway", "database", "outbox_pending", "dispatcher_last_run"}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def with_http_port(text: str, port: int) -> str:
    """The config text with `[http] port` set (the key appears once, in the [http] table)."""
    header = re.search(r"^\[http\][ \t]*(#.*)?$", text, re.MULTILINE)
    assert header, "config.toml has no [http] table"
    head, rest = text[: header.end()], text[header.end() :]
    rest, count = re.subn(r"^port[ \t]*=[ \t]*\d+", f"port = {port}", rest, count=1, flags=re.MULTILINE)
    assert count == 1, "[http] has no port key"
    changed = head + rest
    assert tomllib.loads(changed)["http"]["port"] == port
    return changed


def config_text(fd: FakeDiscord, guild: FakeGuild, http_port: int | None) -> str:
    text = with_discord_section(
        (ROOT / "config.toml").read_text(encoding="utf-8"),
        {
            "guild_id": str(guild.id),
            "sync_commands": "true",
            "api_base": f'"{fd.api_base}"',
            "gateway_url": f'"{fd.gateway_url}"',
        },
    )
    return with_http_port(text, http_port) if http_port is not None else text


def build_server(fd: FakeDiscord) -> tuple[FakeGuild, FakeChannel, FakeMember]:
    guild = fd.add_guild("EECE695D Spring 2025")
    for name in ("Instructor", "TA", "Student"):
        fd.add_role(guild, name)
    general = fd.add_channel(guild, "general")
    for name in ("announcements", "ta-log", "bot-notices"):
        fd.add_channel(guild, name)
    alice = fd.add_member(guild, "alice", roles=["Student"])
    return guild, general, alice


def read_log(path: Path) -> str:
    return path.read_text(encoding="utf-8", errors="replace")


def listening_ports(pid: int) -> list[int]:
    """The TCP ports process `pid` listens on (Linux: its socket fds matched in /proc/<pid>/net)."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:  # closed meanwhile
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    ports = []
    for table in ("tcp", "tcp6"):
        with open(f"/proc/{pid}/net/{table}", encoding="ascii") as lines:
            next(lines)  # the header
            for line in lines:
                fields = line.split()
                if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
                    ports.append(int(fields[1].rsplit(":", 1)[1], 16))
    return sorted(ports)


async def stop(proc: asyncio.subprocess.Process, output: Path) -> int:
    proc.send_signal(signal.SIGTERM)
    try:
        return await asyncio.wait_for(proc.wait(), 10)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        pytest.fail(f"the bot did not stop within 10 s of SIGTERM:\n{read_log(output)}")


@dataclass
class Bot:
    fd: FakeDiscord
    guild: FakeGuild
    general: FakeChannel
    alice: FakeMember
    proc: asyncio.subprocess.Process
    output: Path
    token: str
    port: int
    http: aiohttp.ClientSession

    def log_text(self) -> str:
        return read_log(self.output)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def healthz(self) -> tuple[int, dict[str, Any]]:
        async with self.http.get(f"{self.base}/healthz") as response:
            assert response.content_type == "application/json"
            return response.status, await response.json()

    async def health_until(
        self, predicate: Callable[[int, dict[str, Any]], bool], within: float, what: str
    ) -> tuple[int, dict[str, Any]]:
        """Poll /healthz until `predicate(status, report)`; fail with the last answer after `within` s."""
        deadline = asyncio.get_running_loop().time() + within
        while True:
            status, report = await self.healthz()
            if predicate(status, report):
                return status, report
            if asyncio.get_running_loop().time() > deadline:
                pytest.fail(f"no {what} within {within} s; last /healthz {status} {report}")
            await asyncio.sleep(0.1)

    async def metrics(self) -> dict[str, Any]:
        async with self.http.get(f"{self.base}/metrics") as response:
            assert response.status == 200
            assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
            text = await response.text()
        return {family.name: family for family in text_string_to_metric_families(text)}


def value(families: dict[str, Any], family: str, sample: str, **labels: str) -> float:
    found = [s.value for s in families[family].samples if s.name == sample and s.labels == labels]
    assert len(found) == 1, (sample, labels, families[family].samples)
    return float(found[0])


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def bot(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Bot]:
    tmp = tmp_path_factory.mktemp("e2e_health")
    token = fake_token()
    fd = FakeDiscord(token=token)
    await fd.start()
    guild, general, alice = build_server(fd)
    port = free_port()
    config = tmp / "config.toml"
    config.write_text(config_text(fd, guild, port), encoding="utf-8")
    output = tmp / "bot.log"
    env = clean_env(DISCORD_TOKEN=token, DATABASE_URL=f"sqlite+aiosqlite:///{tmp / 'course.db'}")
    proc = await start_bot(config, NOW, cwd=tmp, env=env, log=output)
    session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
    world = Bot(fd, guild, general, alice, proc, output, token, port, session)
    try:
        try:
            await fd.wait_commands_synced(guild, timeout=READY_TIMEOUT)
            await fd.wait_ready(timeout=READY_TIMEOUT)
        except TimeoutError as error:
            pytest.fail(f"{error}; bot exit code {proc.returncode}, its output:\n{world.log_text()}")
        yield world
    finally:
        await session.close()
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        await fd.stop()


@in_module_loop
async def test_healthz_is_200_with_every_field(bot: Bot) -> None:
    # The dispatcher's first run comes a second after READY.
    status, report = await bot.health_until(
        lambda _status, r: r.get("dispatcher_last_run") is not None, READY_TIMEOUT, "dispatcher run"
    )
    assert status == 200, report
    assert FIELDS <= set(report), report
    assert (report["status"], report["gateway"], report["database"]) == ("ok", "connected", "ok")
    assert isinstance(report["outbox_pending"], int) and report["outbox_pending"] >= 0
    last_run = datetime.fromisoformat(report["dispatcher_last_run"])
    assert last_run.utcoffset() == UTC.utcoffset(None)
    assert last_run.date().isoformat() == "2025-03-10"  # the bot's clock (--now), like sent_at
    assert f"Serving /healthz and /metrics on http://127.0.0.1:{bot.port}" in bot.log_text()
    assert listening_ports(bot.proc.pid) == [bot.port]


@in_module_loop
async def test_metrics_count_a_slash_command(bot: Bot) -> None:
    before = await bot.metrics()
    expected = {
        "coursebot_commands",
        "coursebot_command_duration_seconds",
        "coursebot_outbox_rows",
        "coursebot_dms_refused",
        "coursebot_discord_rate_limited",
        "coursebot_checkins",
    }
    assert expected <= set(before), sorted(before)
    assert not [s for s in before["coursebot_commands"].samples if s.labels.get("command") == "course"]
    result = await bot.fd.invoke_slash(bot.guild, bot.general, bot.alice, "course", timeout=ANSWER_TIMEOUT)
    assert result.type == 4 and result.ephemeral
    after = await bot.metrics()
    assert value(after, "coursebot_commands", "coursebot_commands_total", command="course", outcome="ok") == 1
    histogram = "coursebot_command_duration_seconds"
    assert value(after, histogram, f"{histogram}_count", command="course") == 1
    assert value(after, histogram, f"{histogram}_bucket", command="course", le="+Inf") == 1
    assert str(bot.alice.id) not in str([s.labels for f in after.values() for s in f.samples])


@in_module_loop
async def test_healthz_is_503_while_the_gateway_is_down_and_200_once_it_is_back(bot: Bot) -> None:
    connections = bot.fd.gateway_connections
    bot.fd.gateway_down = True
    status, report = await bot.health_until(
        lambda s, _r: s == 503, DOWN_TIMEOUT, "503 after the gateway dropped the bot"
    )
    assert (report["status"], report["gateway"], report["database"]) == ("down", "disconnected", "ok")
    await bot.fd.wait_until(lambda: bot.fd.gateway_refused >= 1, DOWN_TIMEOUT, "a refused reconnect")
    status, report = await bot.healthz()
    assert (status, report["gateway"]) == (503, "disconnected")  # refused: still down

    bot.fd.gateway_down = False
    status, report = await bot.health_until(lambda s, _r: s == 200, RECONNECT_TIMEOUT, "200 after reconnect")
    assert (report["status"], report["gateway"], report["database"]) == ("ok", "connected", "ok")
    assert bot.fd.gateway_connections > connections
    result = await bot.fd.invoke_slash(bot.guild, bot.general, bot.alice, "course", timeout=ANSWER_TIMEOUT)
    assert result.type == 4  # the resumed session works
    families = await bot.metrics()
    assert (
        value(families, "coursebot_commands", "coursebot_commands_total", command="course", outcome="ok") == 2
    )


@in_module_loop
async def test_sigterm_stops_the_server_too(bot: Bot) -> None:
    assert bot.proc.returncode is None, bot.log_text()
    code = await stop(bot.proc, bot.output)
    text = bot.log_text()
    assert code == 0, f"exit code {code}:\n{text}"
    assert bot.token not in text
    with pytest.raises(aiohttp.ClientConnectionError):
        await bot.healthz()


async def test_port_0_listens_on_nothing(tmp_path: Path) -> None:
    token = fake_token()
    async with FakeDiscord(token=token) as fd:
        guild, _general, _alice = build_server(fd)
        text = config_text(fd, guild, None)
        assert tomllib.loads(text)["http"]["port"] == 0  # the default, as shipped
        config = tmp_path / "config.toml"
        config.write_text(text, encoding="utf-8")
        output = tmp_path / "bot.log"
        env = clean_env(DISCORD_TOKEN=token, DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'course.db'}")
        proc = await start_bot(config, NOW, cwd=tmp_path, env=env, log=output)
        try:
            try:
                await fd.wait_commands_synced(guild, timeout=READY_TIMEOUT)
                await fd.wait_ready(timeout=READY_TIMEOUT)
            except TimeoutError as error:
                pytest.fail(f"{error}; its output:\n{read_log(output)}")
            assert listening_ports(proc.pid) == []
            assert "/healthz" not in read_log(output)
            assert await stop(proc, output) == 0
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()


async def test_a_port_in_use_stops_start_up_with_one_line(tmp_path: Path) -> None:
    token = fake_token()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        async with FakeDiscord(token=token) as fd:
            guild, _general, _alice = build_server(fd)
            config = tmp_path / "config.toml"
            config.write_text(config_text(fd, guild, port), encoding="utf-8")
            output = tmp_path / "bot.log"
            env = clean_env(DISCORD_TOKEN=token, DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'course.db'}")
            proc = await start_bot(config, NOW, cwd=tmp_path, env=env, log=output)
            try:
                code = await asyncio.wait_for(proc.wait(), READY_TIMEOUT)
            finally:
                if proc.returncode is None:
                    proc.kill()
                    await proc.wait()
            assert fd.commands_for(guild) == []  # it stopped before syncing commands
    text = read_log(output)
    assert code == 1, f"exit code {code}:\n{text}"
    assert text.strip().splitlines()[-1] == f"[http] port {port} is in use", text
    assert "Traceback" not in text
