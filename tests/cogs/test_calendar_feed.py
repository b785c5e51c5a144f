"""`/calendar` through discord.py and simcord: an ephemeral .ics, and a private feed link shown
once; the feed over the [http] server (ETag / If-None-Match → 304, If-Modified-Since → 304, a wrong
or replaced secret → 404, a member who left → 404)."""

from __future__ import annotations

import socket
from collections.abc import Mapping

import aiohttp
import pytest
from icalendar import Calendar

from bot.config import Config
from tests.cogs.conftest import Course, reply_of, reply_text

PUBLIC = "https://bot.example.edu"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def config(config: Config) -> Config:
    """The repository's config with the private feeds on."""
    return config.model_copy(
        update={"http": config.http.model_copy(update={"port": free_port(), "public_url": PUBLIC})}
    )


def feed_link(text: str) -> str:
    start = text.index(f"<{PUBLIC}/calendar/") + 1
    return text[start : text.index(">", start)]


async def get(course: Course, link: str, **headers: str) -> tuple[int, bytes, Mapping[str, str]]:
    port = course.bot.config.http.port
    url = link.replace(PUBLIC, f"http://127.0.0.1:{port}")
    async with aiohttp.ClientSession() as client, client.get(url, headers=headers) as response:
        return response.status, await response.read(), response.headers.copy()


async def test_calendar_gives_the_file_and_a_private_feed(course: Course) -> None:
    result = await course.members["alice"].slash(course.channel, "calendar")
    text = reply_text(result)
    [attachment] = reply_of(result).attachments
    assert attachment.filename == "EECE695D-Spring-2025.ics"
    parsed = Calendar.from_ical(await attachment.read())
    assert len(parsed.walk("VEVENT")) > 40
    link = feed_link(text)
    assert "shown only now" in text

    status, body, headers = await get(course, link)
    assert status == 200 and headers["Content-Type"].startswith("text/calendar")
    assert Calendar.from_ical(body).walk("VEVENT")
    etag, modified = headers["ETag"], headers["Last-Modified"]
    assert (await get(course, link, **{"If-None-Match": etag}))[0] == 304
    assert (await get(course, link, **{"If-None-Match": f'W/{etag}, "other"'}))[0] == 304
    assert (await get(course, link, **{"If-None-Match": '"other"'}))[0] == 200
    assert (await get(course, link, **{"If-Modified-Since": modified}))[0] == 304
    for wrong in (link[:-5] + "x.ics", f"{PUBLIC}/calendar/nothing.ics", link.removesuffix(".ics")):
        assert (await get(course, wrong))[0] == 404

    again = reply_text(await course.members["alice"].slash(course.channel, "calendar"))
    assert "was shown when it was made" in again and PUBLIC not in again
    assert (await get(course, link))[0] == 200
    renewed = reply_text(await course.members["alice"].slash(course.channel, "calendar", new_link=True))
    new_link = feed_link(renewed)
    assert new_link != link and "previous link no longer works" in renewed
    assert (await get(course, link))[0] == 404
    assert (await get(course, new_link))[0] == 200

    course.guild.remove_member(course.members["alice"])
    await course.env.settle()
    assert (await get(course, new_link))[0] == 404
