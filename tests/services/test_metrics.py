"""The metrics module: each bot's registry is its own, every counter has bounded labels, the output
is valid Prometheus text (or OpenMetrics when asked), and the aiohttp trace counts Discord's 429s
from real HTTP responses (a local server on 127.0.0.1)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import prometheus_client
import pytest
from aiohttp import web
from prometheus_client.openmetrics.parser import text_string_to_metric_families as openmetrics_families
from prometheus_client.parser import text_string_to_metric_families

from bot.metrics import COMMAND_BUCKETS, Metrics


def families(metrics: Metrics) -> dict[str, prometheus_client.Metric]:
    body, content_type = metrics.exposition()
    assert content_type.startswith("text/plain; version=0.0.4")
    return {family.name: family for family in text_string_to_metric_families(body.decode())}


def sample(metrics: Metrics, name: str, **labels: str) -> float:
    """A sample's value as a scraper parses it from the text (not read back from the registry)."""
    for family in families(metrics).values():
        for found in family.samples:
            if found.name == name and found.labels == labels:
                return found.value
    raise AssertionError(f"no sample {name}{labels}")


def test_two_bots_count_apart_and_the_global_registry_is_untouched() -> None:
    first, second = Metrics(), Metrics()  # a second registry with the same names does not collide
    first.command_handled("course", "ok", 0.2)
    first.dm_refused()
    assert sample(first, "coursebot_commands_total", command="course", outcome="ok") == 1
    assert sample(first, "coursebot_dms_refused_total") == 1
    assert sample(second, "coursebot_dms_refused_total") == 0
    assert families(second)["coursebot_commands"].samples == []
    default = prometheus_client.generate_latest(prometheus_client.REGISTRY).decode()
    assert "coursebot_" not in default


def test_commands_are_counted_by_name_and_outcome_and_timed() -> None:
    metrics = Metrics()
    metrics.command_handled("ta attendance open", "ok", 0.04)
    metrics.command_handled("ta attendance open", "ok", 2.5)
    metrics.command_handled("ta attendance open", "refused", 0.01)
    metrics.command_handled("checkin", "error", 0.3)
    assert sample(metrics, "coursebot_commands_total", command="ta attendance open", outcome="ok") == 2
    assert sample(metrics, "coursebot_commands_total", command="ta attendance open", outcome="refused") == 1
    assert sample(metrics, "coursebot_commands_total", command="checkin", outcome="error") == 1
    name = "coursebot_command_duration_seconds"
    assert sample(metrics, f"{name}_count", command="ta attendance open") == 3
    assert sample(metrics, f"{name}_sum", command="ta attendance open") == pytest.approx(2.55)
    assert sample(metrics, f"{name}_bucket", command="ta attendance open", le="0.05") == 2
    assert sample(metrics, f"{name}_bucket", command="ta attendance open", le="2.0") == 2
    assert sample(metrics, f"{name}_bucket", command="ta attendance open", le="3.0") == 3
    assert sample(metrics, f"{name}_bucket", command="ta attendance open", le="+Inf") == 3
    histogram = families(metrics)[name]
    assert histogram.type == "histogram"
    bounds = sorted({float(s.labels["le"]) for s in histogram.samples if s.name.endswith("_bucket")})
    assert bounds == [*COMMAND_BUCKETS, float("inf")]


def test_known_label_values_are_exported_at_zero_from_the_start() -> None:
    metrics = Metrics()
    for result in ("sent", "failed", "skipped"):
        assert sample(metrics, "coursebot_outbox_rows_total", result=result) == 0
    for status in ("present", "late"):
        assert sample(metrics, "coursebot_checkins_total", status=status) == 0
    assert sample(metrics, "coursebot_discord_rate_limited_total", scope="global") == 0
    assert sample(metrics, "coursebot_dms_refused_total") == 0


def test_outbox_checkins_dms_and_rate_limits_count() -> None:
    metrics = Metrics()
    for result in ("sent", "sent", "skipped", "failed"):
        metrics.outbox_row(result)
    metrics.checkin_recorded("present")
    metrics.checkin_recorded("late")
    metrics.checkin_recorded("present")
    metrics.rate_limit_seen("user")
    metrics.rate_limit_seen("Global")
    metrics.rate_limit_seen(None)
    metrics.rate_limit_seen("something new")
    assert sample(metrics, "coursebot_outbox_rows_total", result="sent") == 2
    assert sample(metrics, "coursebot_outbox_rows_total", result="skipped") == 1
    assert sample(metrics, "coursebot_outbox_rows_total", result="failed") == 1
    assert sample(metrics, "coursebot_checkins_total", status="present") == 2
    assert sample(metrics, "coursebot_checkins_total", status="late") == 1
    assert sample(metrics, "coursebot_discord_rate_limited_total", scope="user") == 1
    assert sample(metrics, "coursebot_discord_rate_limited_total", scope="global") == 1
    assert sample(metrics, "coursebot_discord_rate_limited_total", scope="unknown") == 2
    assert metrics.value("coursebot_outbox_rows_total", result="sent") == 2
    assert metrics.value("coursebot_commands_total", command="never", outcome="ok") == 0


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        (lambda m: m.outbox_row("delivered"), "result must be one of sent, failed, skipped"),
        (lambda m: m.checkin_recorded("absent"), "status must be one of present, late"),
        (lambda m: m.command_handled("course", "weird", 0.1), "outcome must be one of ok, refused"),
    ],
)
def test_an_unknown_label_value_is_refused_and_counts_nothing(record, reason: str) -> None:  # type: ignore[no-untyped-def]
    metrics = Metrics()
    before = metrics.exposition()[0]
    with pytest.raises(ValueError, match=reason):
        record(metrics)
    assert metrics.exposition()[0] == before


def test_openmetrics_when_the_scraper_asks_for_it() -> None:
    metrics = Metrics()
    metrics.outbox_row("sent")
    body, content_type = metrics.exposition("application/openmetrics-text; version=1.0.0,text/plain;q=0.5")
    assert content_type.startswith("application/openmetrics-text")
    text = body.decode()
    assert text.endswith("# EOF\n")
    parsed = {family.name: family for family in openmetrics_families(text)}
    [sent] = [
        s
        for s in parsed["coursebot_outbox_rows"].samples
        if s.name.endswith("_total") and s.labels == {"result": "sent"}
    ]
    assert sent.value == 1


# ---- 429s seen by discord.py's HTTP session -------------------------------------------------------
@pytest.fixture
async def discord_like() -> AsyncIterator[str]:
    """A local server answering like Discord: /limited is a 429 (with the scope in the query),
    /ok a 200."""

    async def limited(request: web.Request) -> web.Response:
        headers = {"Via": "1.1 google"}
        if "scope" in request.query:
            headers["X-RateLimit-Scope"] = request.query["scope"]
        return web.json_response(
            {"message": "You are being rate limited.", "retry_after": 0.01}, status=429, headers=headers
        )

    async def ok(_request: web.Request) -> web.Response:
        return web.json_response({})

    app = web.Application()
    app.router.add_get("/limited", limited)
    app.router.add_get("/ok", ok)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


async def test_the_trace_counts_each_429_response_by_scope(discord_like: str) -> None:
    metrics = Metrics()
    async with aiohttp.ClientSession(trace_configs=[metrics.trace_config()]) as session:
        for path in ("/limited?scope=user", "/limited?scope=shared", "/limited", "/ok", "/ok"):
            async with session.get(discord_like + path) as response:
                await response.read()
    assert sample(metrics, "coursebot_discord_rate_limited_total", scope="user") == 1
    assert sample(metrics, "coursebot_discord_rate_limited_total", scope="shared") == 1
    assert sample(metrics, "coursebot_discord_rate_limited_total", scope="unknown") == 1
    assert sample(metrics, "coursebot_discord_rate_limited_total", scope="global") == 0
