"""The operators' HTTP endpoint, on `[http] bind`:`[http] port` (off when the port is 0). No discord import.

- `GET /healthz`: JSON with the gateway's and the database's state, the outbox backlog and when the
  dispatcher last ran; 200, or 503 when the gateway or the database is down.
- `GET /metrics`: the bot's Prometheus metrics (bot/metrics.py).

The server runs in the bot's event loop. Other features may add routes to `HttpServer.app` until
`start()` (aiohttp freezes the router then).
"""

from __future__ import annotations

import asyncio
import errno
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from typing import Any

from aiohttp import web

from bot.db import Database
from bot.metrics import Metrics
from bot.notify import outbox
from bot.startup_errors import StartupError, first_line, network_reason

log = logging.getLogger(__name__)

DATABASE_TIMEOUT_SECONDS = 3.0
SHUTDOWN_SECONDS = 5.0
ERROR_MAX = 200  # characters of a database error shown in /healthz


def _no_latency() -> float | None:
    return None


@dataclass(frozen=True)
class Probes:
    """What the health check asks the running bot, read at each request."""

    gateway_connected: Callable[[], bool]
    database: Callable[[], Database | None]
    dispatcher_last_run: Callable[[], datetime | None]
    now: Callable[[], datetime]
    gateway_latency: Callable[[], float | None] = _no_latency  # seconds, None when unknown


def one_line(error: BaseException) -> str:
    """A database error as one short line: the driver's own error rather than SQLAlchemy's wrapper
    (which adds the statement and a link on further lines)."""
    original = getattr(error, "orig", None) or error
    line = first_line(str(original), ERROR_MAX)
    name = type(original).__name__
    return first_line(f"{name}: {line}", ERROR_MAX) if line else name


def _version() -> str:
    try:
        return metadata.version("coursebot")
    except metadata.PackageNotFoundError:
        return "unknown"


async def health(
    probes: Probes, *, database_timeout: float = DATABASE_TIMEOUT_SECONDS
) -> tuple[int, dict[str, Any]]:
    """The health report and its HTTP status (200, or 503 when the gateway or the database is down).

    The database check is a real query (the outbox backlog), abandoned after `database_timeout` s.
    Never raises for a database failure: the failure is the report.
    """
    connected = probes.gateway_connected()
    database = probes.database()
    pending: int | None = None
    due: int | None = None
    if database is None:
        database_state = "not started"
    else:
        try:
            async with asyncio.timeout(database_timeout):
                backlog = await outbox.backlog(database, now=probes.now())
        except TimeoutError:
            database_state = f"no answer within {database_timeout:g} s"
        except Exception as error:  # any driver or connection error is the answer, not a crash
            database_state = one_line(error)
        else:
            database_state, pending, due = "ok", backlog.pending, backlog.due
    last_run = probes.dispatcher_last_run()
    latency = probes.gateway_latency()
    healthy = connected and database_state == "ok"
    report: dict[str, Any] = {
        "status": "ok" if healthy else "down",
        "gateway": "connected" if connected else "disconnected",
        "gateway_latency_ms": round(latency * 1000, 1) if latency is not None and connected else None,
        "database": database_state,
        "outbox_pending": pending,
        "outbox_due": due,
        "dispatcher_last_run": last_run.astimezone(UTC).isoformat() if last_run is not None else None,
        "version": _version(),
    }
    return (200 if healthy else 503), report


class HttpServer:
    """`/healthz` and `/metrics` for one bot; `start()` listens, `stop()` closes."""

    def __init__(
        self, probes: Probes, metrics: Metrics, *, database_timeout: float = DATABASE_TIMEOUT_SECONDS
    ) -> None:
        self.probes = probes
        self.metrics = metrics
        self.database_timeout = database_timeout
        self.app = web.Application()
        self.app.router.add_get("/healthz", self._healthz)
        self.app.router.add_get("/metrics", self._metrics)
        self._runner: web.AppRunner | None = None
        self.port: int | None = None  # the port listened on, once started

    async def start(self, bind: str, port: int) -> None:
        """Listen on `bind`:`port`. Raises StartupError (one line) when that is impossible."""
        # No access log (a line per scrape); a request in flight at shutdown gets a few seconds.
        runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=SHUTDOWN_SECONDS)
        await runner.setup()
        try:
            await web.TCPSite(runner, bind, port).start()
        except OSError as error:
            await runner.cleanup()
            if error.errno == errno.EADDRINUSE:
                raise StartupError(f"[http] port {port} is in use") from None
            raise StartupError(f"[http] cannot listen on {bind}:{port} ({network_reason(error)})") from None
        self._runner = runner
        address = runner.addresses[0]
        self.port = int(address[1])
        log.info("Serving /healthz and /metrics on http://%s:%d", bind, self.port)

    async def stop(self) -> None:
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    async def _healthz(self, _request: web.Request) -> web.Response:
        status, report = await health(self.probes, database_timeout=self.database_timeout)
        return web.json_response(report, status=status, headers={"Cache-Control": "no-store"})

    async def _metrics(self, request: web.Request) -> web.Response:
        body, content_type = self.metrics.exposition(request.headers.get("Accept"))
        return web.Response(body=body, headers={"Content-Type": content_type})
