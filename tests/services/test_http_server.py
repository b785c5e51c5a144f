"""The health and metrics server in-process, on real databases: `/healthz` reports the gateway, a real
database query (the outbox backlog), and the dispatcher's last run, and answers 503 when the gateway
or the database is down (a corrupted SQLite file, a PostgreSQL server that refuses connections, one
that never answers); `/metrics` is Prometheus text; a port in use stops start-up with one line."""

from __future__ import annotations

import asyncio
import shutil
import socket
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client.parser import text_string_to_metric_families

from bot.db import Database
from bot.http_server import HttpServer, Probes, health
from bot.metrics import Metrics
from bot.notify import outbox
from bot.notify.outbox import Planned
from bot.services import Services
from bot.startup_errors import StartupError
from tests.conftest import seoul

NOW = seoul(2025, 3, 10, 11, 0)  # the frozen clock of the `services` fixture
LEASE = timedelta(minutes=2)
LAST_RUN = seoul(2025, 3, 10, 10, 59, 30)


def probes(
    database: Database | None, *, connected: bool = True, last_run: datetime | None = LAST_RUN
) -> Probes:
    return Probes(
        gateway_connected=lambda: connected,
        database=lambda: database,
        dispatcher_last_run=lambda: last_run,
        now=lambda: NOW,
        gateway_latency=lambda: 0.0423,
    )


def row(key: str, due: datetime) -> Planned:
    return Planned(key, "test", "channel", f"text of {key}", due)


async def get(server: HttpServer, path: str) -> tuple[int, dict[str, object]]:
    async with TestClient(TestServer(server.app)) as client:
        response = await client.get(path)
        return response.status, await response.json()


@pytest.fixture
def free_port() -> Callable[[], int]:
    def pick() -> int:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            return int(probe.getsockname()[1])

    return pick


# ---- /healthz --------------------------------------------------------------------------------------
async def test_healthz_reports_every_field(services: Services) -> None:
    async with services.db.write() as session:
        for key, due in (
            ("sent-one", NOW - timedelta(hours=2)),
            ("claimed-one", NOW - timedelta(hours=1)),
            ("due-one", NOW - timedelta(minutes=30)),
            ("later-one", NOW + timedelta(days=1)),
        ):
            await outbox.enqueue(session, row(key, due))
    [sent] = await outbox.claim_due(services.db, now=NOW, lease=LEASE, limit=1)
    await outbox.mark_sent(services.db, sent.id, now=NOW)
    [claimed] = await outbox.claim_due(services.db, now=NOW, lease=LEASE, limit=1)
    assert (sent.source_key, claimed.source_key) == ("sent-one", "claimed-one")

    status, report = await get(HttpServer(probes(services.db), Metrics()), "/healthz")
    assert status == 200, report
    assert report.pop("version")
    assert report == {
        "status": "ok",
        "gateway": "connected",
        "gateway_latency_ms": 42.3,
        "database": "ok",
        "outbox_pending": 3,  # claimed (being sent) counts as not sent yet; the sent one does not
        "outbox_due": 2,
        "dispatcher_last_run": "2025-03-10T01:59:30+00:00",
    }
    assert datetime.fromisoformat(str(report["dispatcher_last_run"])) == LAST_RUN.astimezone(UTC)


async def test_healthz_before_the_dispatcher_ran_has_a_null_last_run(services: Services) -> None:
    status, report = await get(HttpServer(probes(services.db, last_run=None), Metrics()), "/healthz")
    assert status == 200
    assert report["dispatcher_last_run"] is None
    assert (report["outbox_pending"], report["outbox_due"]) == (0, 0)


async def test_gateway_down_is_503(services: Services) -> None:
    status, report = await get(HttpServer(probes(services.db, connected=False), Metrics()), "/healthz")
    assert status == 503
    assert report["status"] == "down"
    assert report["gateway"] == "disconnected"
    assert report["gateway_latency_ms"] is None
    assert report["database"] == "ok"
    assert report["outbox_pending"] == 0


# ---- the database down -----------------------------------------------------------------------------
@pytest.fixture
def corrupted_sqlite_url(tmp_path: Path, migrated_template: dict[str, str]) -> str:
    """A migrated SQLite file, then overwritten (a disk failure, a bad restore)."""
    target = tmp_path / "course.db"
    shutil.copyfile(migrated_template["sqlite"], target)
    target.write_bytes(b"this is not a database, it is garbage " * 200)
    return f"sqlite+aiosqlite:///{target}"


@pytest.fixture(params=["corrupted sqlite", "postgres not running"])
async def broken_database(
    request: pytest.FixtureRequest, corrupted_sqlite_url: str, free_port: Callable[[], int]
) -> AsyncIterator[tuple[Database, str]]:
    """A database that cannot be used, and how its error starts."""
    if request.param == "corrupted sqlite":
        url, error = corrupted_sqlite_url, "DatabaseError: file is not a database"
    else:  # nothing listens on the port
        pytest.importorskip("asyncpg")
        url = f"postgresql+asyncpg://coursebot:secret@127.0.0.1:{free_port()}/coursebot"
        error = "ConnectionRefusedError: "
    database = Database(url)
    yield database, error
    await database.dispose()


async def test_database_down_is_503_with_the_error_in_one_line(broken_database: tuple[Database, str]) -> None:
    database, error = broken_database
    status, report = await get(HttpServer(probes(database), Metrics()), "/healthz")
    assert status == 503
    assert report["status"] == "down"
    assert report["gateway"] == "connected"
    text = str(report["database"])
    assert text.startswith(error), text
    assert "\n" not in text and len(text) <= 200
    assert "secret" not in text
    assert (report["outbox_pending"], report["outbox_due"]) == (None, None)


async def test_a_database_that_never_answers_is_down_after_the_timeout() -> None:
    pytest.importorskip("asyncpg")
    accepted: list[asyncio.StreamWriter] = []

    async def hold(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer)  # accept the connection and never say a word (a hung server)

    silent = await asyncio.start_server(hold, "127.0.0.1", 0)
    port = silent.sockets[0].getsockname()[1]
    database = Database(f"postgresql+asyncpg://coursebot@127.0.0.1:{port}/coursebot")
    try:
        status, report = await health(probes(database), database_timeout=0.3)
    finally:
        for writer in accepted:
            writer.close()
        silent.close()
        await database.dispose()
    assert accepted, "the health check never tried the database"
    assert status == 503
    assert report["database"] == "no answer within 0.3 s"


async def test_no_database_yet_is_503() -> None:
    status, report = await health(probes(None))
    assert status == 503
    assert report["database"] == "not started"


# ---- /metrics and the listening socket ---------------------------------------------------------------
async def test_serves_healthz_and_metrics_on_the_port_and_stops(
    services: Services, free_port: Callable[[], int]
) -> None:
    metrics = Metrics()
    metrics.command_handled("course", "ok", 0.1)
    server = HttpServer(probes(services.db), metrics)
    port = free_port()
    await server.start("127.0.0.1", port)
    try:
        assert server.port == port
        async with aiohttp.ClientSession() as session:
            async with session.get(f"http://127.0.0.1:{port}/healthz") as response:
                assert response.status == 200
                assert (await response.json())["database"] == "ok"
                assert response.headers["Cache-Control"] == "no-store"
            async with session.get(f"http://127.0.0.1:{port}/metrics") as response:
                assert response.status == 200
                assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
                text = await response.text()
            async with session.get(f"http://127.0.0.1:{port}/nothing-here") as response:
                assert response.status == 404
    finally:
        await server.stop()
    families = {family.name: family for family in text_string_to_metric_families(text)}
    [handled] = [s for s in families["coursebot_commands"].samples if s.name == "coursebot_commands_total"]
    assert (handled.labels, handled.value) == ({"command": "course", "outcome": "ok"}, 1.0)
    with pytest.raises(aiohttp.ClientConnectionError):
        async with aiohttp.ClientSession() as session, session.get(f"http://127.0.0.1:{port}/healthz"):
            pass


async def test_a_port_in_use_stops_start_up_with_one_line(
    services: Services, free_port: Callable[[], int]
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = HttpServer(probes(services.db), Metrics())
        with pytest.raises(StartupError) as refused:
            await server.start("127.0.0.1", port)
    assert str(refused.value) == f"[http] port {port} is in use"
    assert server.port is None
    other = free_port()  # nothing was left half-started: the same server starts elsewhere
    await server.start("127.0.0.1", other)
    await server.stop()


async def test_a_bind_address_that_is_not_this_machines_is_one_line(services: Services) -> None:
    server = HttpServer(probes(services.db), Metrics())
    with pytest.raises(StartupError) as refused:
        await server.start("192.0.2.1", 8080)  # TEST-NET-1: never a local address
    assert str(refused.value).startswith("[http] cannot listen on 192.0.2.1:8080 (")
    assert "\n" not in str(refused.value)
