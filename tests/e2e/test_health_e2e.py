"""End to end: `coursebot run` with `[http] port` set serves /healthz and /metrics against the local fake
Discord. One bot process serves the module's story: healthy at start, a slash command counted in
/metrics, the gateway lost (503 while Discord refuses reconnects) and regained (200 again), a clean
SIGTERM. A second process with the default port 0 listens on nothing.
"""

from __future__ import annotations

import asyncio
import os
import re
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
from bot_process import CourseRun, running_course
from prometheus_client.parser import text_string_to_metric_families

in_module_loop = pytest.mark.asyncio(loop_scope="module")  # the loop the shared fixture lives in

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


def set_http_port(config: Path, port: int) -> None:
    config.write_text(with_http_port(config.read_text(encoding="utf-8"), port), encoding="utf-8")


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


@dataclass
class Bot:
    """The course with the bot serving HTTP on `port`, and a client for it."""

    course: CourseRun
    port: int
    http: aiohttp.ClientSession

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
    port = free_port()
    async with (
        running_course(tmp, students=["alice"]) as course,
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session,
    ):
        set_http_port(course.bot.config, port)
        course.bot.ready_timeout = READY_TIMEOUT
        await course.bot.start(NOW)
        yield Bot(course, port, session)


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
    assert f"Serving /healthz and /metrics on http://127.0.0.1:{bot.port}" in bot.course.bot.log_text()
    assert listening_ports(bot.course.bot.pid) == [bot.port]


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
    [alice] = bot.course.server.students
    result = await bot.course.slash(alice, "course", timeout=ANSWER_TIMEOUT)
    assert result.type == 4 and result.ephemeral
    after = await bot.metrics()
    assert value(after, "coursebot_commands", "coursebot_commands_total", command="course", outcome="ok") == 1
    histogram = "coursebot_command_duration_seconds"
    assert value(after, histogram, f"{histogram}_count", command="course") == 1
    assert value(after, histogram, f"{histogram}_bucket", command="course", le="+Inf") == 1
    assert str(alice.id) not in str([s.labels for f in after.values() for s in f.samples])


@in_module_loop
async def test_healthz_is_503_while_the_gateway_is_down_and_200_once_it_is_back(bot: Bot) -> None:
    fd = bot.course.fd
    connections = fd.gateway_connections
    fd.gateway_down = True
    status, report = await bot.health_until(
        lambda s, _r: s == 503, DOWN_TIMEOUT, "503 after the gateway dropped the bot"
    )
    assert (report["status"], report["gateway"], report["database"]) == ("down", "disconnected", "ok")
    await fd.wait_until(lambda: fd.gateway_refused >= 1, DOWN_TIMEOUT, "a refused reconnect")
    status, report = await bot.healthz()
    assert (status, report["gateway"]) == (503, "disconnected")  # refused: still down

    fd.gateway_down = False
    status, report = await bot.health_until(lambda s, _r: s == 200, RECONNECT_TIMEOUT, "200 after reconnect")
    assert (report["status"], report["gateway"], report["database"]) == ("ok", "connected", "ok")
    assert fd.gateway_connections > connections
    result = await bot.course.slash(bot.course.server.students[0], "course", timeout=ANSWER_TIMEOUT)
    assert result.type == 4  # the resumed session works
    families = await bot.metrics()
    assert (
        value(families, "coursebot_commands", "coursebot_commands_total", command="course", outcome="ok") == 2
    )


@in_module_loop
async def test_sigterm_stops_the_server_too(bot: Bot) -> None:
    await bot.course.bot.stop(within=10)  # SIGTERM; it exits 0
    assert bot.course.bot.token not in bot.course.bot.log_text()
    with pytest.raises(aiohttp.ClientConnectionError):
        await bot.healthz()


async def test_port_0_listens_on_nothing(tmp_path: Path) -> None:
    async with running_course(tmp_path, students=["alice"]) as course:
        assert tomllib.loads(course.bot.config.read_text(encoding="utf-8"))["http"]["port"] == 0  # as shipped
        course.bot.ready_timeout = READY_TIMEOUT
        await course.bot.start(NOW)
        assert listening_ports(course.bot.pid) == []
        assert "/healthz" not in course.bot.log_text()
        await course.bot.stop(within=10)


async def test_a_port_in_use_stops_start_up_with_one_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        async with running_course(tmp_path, students=["alice"]) as course:
            set_http_port(course.bot.config, port)
            proc = await course.bot.launch(NOW)
            code = await asyncio.wait_for(proc.wait(), READY_TIMEOUT)
            assert course.fd.commands_for(course.server.guild) == []  # it stopped before syncing commands
            text = course.bot.log_text()
    assert code == 1, f"exit code {code}:\n{text}"
    assert text.strip().splitlines()[-1] == f"[http] port {port} is in use", text
    assert "Traceback" not in text
