"""A member's private calendar feed over HTTP (`GET /calendar/<secret>.ics` on the bot's `[http]`
server). Imported only when that server is on, so start-up does not load aiohttp's server side."""

from __future__ import annotations

from email.utils import parsedate_to_datetime

from aiohttp import web

from bot.app import CourseBot
from bot.services import ical

NOT_FOUND = "No calendar here.\n"


def _etag_matches(header: str, etag: str) -> bool:
    """RFC 9110 If-None-Match: `*` or a list of (weak or strong) tags, compared weakly."""
    if header.strip() == "*":
        return True
    tags = {tag.strip().removeprefix("W/") for tag in header.split(",")}
    return etag in tags


class CalendarFeed:
    def __init__(self, bot: CourseBot) -> None:
        self.bot = bot

    async def answer(self, request: web.Request) -> web.StreamResponse:
        """`GET /calendar/<secret>.ics`: 200 with the member's calendar, 304 when the client's copy is
        current, 404 for anything else (a wrong secret, a replaced one, a member who left)."""
        name = request.match_info["name"]
        secret = name.removesuffix(".ics")
        owner = await ical.feed_owner(self.bot.services, secret)
        guild = self.bot.course_guild
        if owner is not None and guild is not None and guild.chunked and guild.get_member(owner) is None:
            await ical.drop_feed(self.bot.services, owner, reason="left the server")
            owner = None
        if owner is None or not name.endswith(".ics"):
            return web.Response(status=404, text=NOT_FOUND, headers={"Cache-Control": "no-store"})
        made = await ical.member_calendar(self.bot.services, owner)
        headers = {
            "ETag": made.etag,
            "Last-Modified": made.http_last_modified,
            "Cache-Control": "private, max-age=300",
        }
        if_none_match = request.headers.get("If-None-Match")
        if if_none_match is not None:
            if _etag_matches(if_none_match, made.etag):
                return web.Response(status=304, headers=headers)
        elif (since := request.headers.get("If-Modified-Since")) is not None:
            try:
                if made.last_modified.replace(microsecond=0) <= parsedate_to_datetime(since):
                    return web.Response(status=304, headers=headers)
            except (TypeError, ValueError):
                pass  # an unreadable date: answer in full
        return web.Response(body=made.body, headers={**headers, "Content-Type": ical.CONTENT_TYPE})
