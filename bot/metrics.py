"""The bot's Prometheus metrics (served as `GET /metrics` when `[http] port` is set). No discord import.

Each bot owns a `Metrics` with a registry of its own (never prometheus_client's global default
registry), so several bots in one process (tests, the sandbox) count apart.

- `coursebot_commands_total{command, outcome}`: app commands handled, by qualified name
  (`ta attendance open`) and outcome (ok, refused, error, late); never labelled by user.
- `coursebot_command_duration_seconds{command}`: how long handling took, as a histogram.
- `coursebot_outbox_rows_total{result}`: outbox rows the dispatcher finished (sent, failed, skipped).
- `coursebot_dms_refused_total`: DMs Discord refused (DMs closed), answered by the fallback.
- `coursebot_discord_rate_limited_total{scope}`: 429 responses seen from Discord's API.
- `coursebot_checkins_total{status}`: attendance check-ins recorded (present, late).
"""

from __future__ import annotations

from types import SimpleNamespace

import aiohttp
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.exposition import choose_encoder

COMMAND_OUTCOMES = ("ok", "refused", "error", "late")
OUTBOX_RESULTS = ("sent", "failed", "skipped")
CHECKIN_STATUSES = ("present", "late")
RATE_LIMIT_SCOPES = ("user", "global", "shared")  # Discord's X-RateLimit-Scope values
# Discord shows "did not respond" after 3 s, so the buckets are finest below that.
COMMAND_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0)


def _one_of(value: str, allowed: tuple[str, ...], what: str) -> str:
    """`value` if it is in `allowed`. Raises ValueError (a label must never grow without bound)."""
    if value not in allowed:
        raise ValueError(f"{what} must be one of {', '.join(allowed)}, not {value!r}")
    return value


class Metrics:
    """The counters and histograms of one bot, in a registry of its own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.commands = Counter(
            "coursebot_commands",
            "App commands handled, by qualified command name and outcome.",
            ["command", "outcome"],
            registry=self.registry,
        )
        self.command_seconds = Histogram(
            "coursebot_command_duration_seconds",
            "Time from receiving an app command to having answered it (or failed), in seconds.",
            ["command"],
            buckets=COMMAND_BUCKETS,
            registry=self.registry,
        )
        self.outbox_rows = Counter(
            "coursebot_outbox_rows",
            "Outbox rows the dispatcher finished, by result.",
            ["result"],
            registry=self.registry,
        )
        self.dms_refused = Counter(
            "coursebot_dms_refused",
            "DMs Discord refused (the member's DMs are closed); the fallback channel was used.",
            registry=self.registry,
        )
        self.rate_limited = Counter(
            "coursebot_discord_rate_limited",
            "429 (rate limited) responses from Discord's API, by X-RateLimit-Scope.",
            ["scope"],
            registry=self.registry,
        )
        self.checkins = Counter(
            "coursebot_checkins",
            "Attendance check-ins recorded, by status.",
            ["status"],
            registry=self.registry,
        )
        # Every known label value exists from the start, so a dashboard sees 0 rather than no series.
        for result in OUTBOX_RESULTS:
            self.outbox_rows.labels(result=result)
        for status in CHECKIN_STATUSES:
            self.checkins.labels(status=status)
        for scope in (*RATE_LIMIT_SCOPES, "unknown"):
            self.rate_limited.labels(scope=scope)

    # ---- recording ----------------------------------------------------------------------------
    def command_handled(self, command: str, outcome: str, seconds: float) -> None:
        """One app command handled. Raises ValueError for an outcome not in COMMAND_OUTCOMES."""
        self.commands.labels(command=command, outcome=_one_of(outcome, COMMAND_OUTCOMES, "outcome")).inc()
        self.command_seconds.labels(command=command).observe(max(0.0, seconds))

    def outbox_row(self, result: str) -> None:
        """One outbox row finished. Raises ValueError for a result not in OUTBOX_RESULTS."""
        self.outbox_rows.labels(result=_one_of(result, OUTBOX_RESULTS, "result")).inc()

    def dm_refused(self) -> None:
        self.dms_refused.inc()

    def checkin_recorded(self, status: str) -> None:
        """One check-in recorded. Raises ValueError for a status not in CHECKIN_STATUSES."""
        self.checkins.labels(status=_one_of(status, CHECKIN_STATUSES, "status")).inc()

    def rate_limit_seen(self, scope: str | None) -> None:
        """One 429 from Discord; `scope` is its X-RateLimit-Scope header (anything else is "unknown")."""
        scope = (scope or "").lower()
        self.rate_limited.labels(scope=scope if scope in RATE_LIMIT_SCOPES else "unknown").inc()

    # ---- reading ------------------------------------------------------------------------------
    def value(self, name: str, **labels: str) -> float:
        """The current value of one sample (e.g. `coursebot_outbox_rows_total`, result="sent"); 0 if
        it has not been recorded yet."""
        return self.registry.get_sample_value(name, labels) or 0.0

    def exposition(self, accept: str | None = None) -> tuple[bytes, str]:
        """Everything as (body, content type): the Prometheus text format, or OpenMetrics when the
        scraper's Accept header asks for it (prometheus_client's own negotiation)."""
        encoder, content_type = choose_encoder(accept or "")
        return encoder(self.registry), content_type

    def trace_config(self) -> aiohttp.TraceConfig:
        """An aiohttp trace for discord.py's HTTP session (`Client(http_trace=...)`) that counts 429s.

        Why a trace and not a hook in discord.py: `HTTPClient.request` handles a 429 inside its retry
        loop (sleeps, retries, or raises RateLimited / HTTPException for a Cloudflare ban) and
        offers no callback; interaction and webhook replies do not go through it at all (they use
        the webhook adapter, with a retry loop of its own). Both share the one aiohttp session that
        `http_trace` is given to, so the trace sees every 429 response, whichever path handles it,
        without wrapping private methods or parsing the `discord.http` logger's warnings.
        """

        async def on_request_end(
            _session: aiohttp.ClientSession,
            _context: SimpleNamespace,
            params: aiohttp.TraceRequestEndParams,
        ) -> None:
            if params.response.status == 429:
                self.rate_limit_seen(params.response.headers.get("X-RateLimit-Scope"))

        trace = aiohttp.TraceConfig()
        trace.on_request_end.append(on_request_end)
        return trace
