"""The Discord side of the appointment request's outbox row (bot/services/appointments/): the post
in ta-log with the staff's Accept / Decline / Propose buttons, whose id is recorded on the request
(for `refresh_post` after a decision). A request decided or cancelled before it could be posted is
skipped, not posted.

Posted once: the send carries the row's nonce, so a retry shortly after a crash gets the first post
back from Discord instead of a second one; a retry later than that (Discord keeps nonces only for a
few minutes) first looks for the crashed try's post in ta-log's recent history and records that.
"""

from __future__ import annotations

import logging

import discord

from bot.app import CourseBot
from bot.errors import NotFound
from bot.notify.dispatcher import ChannelMissing
from bot.notify.kinds import Undeliverable
from bot.notify.outbox import Claimed
from bot.services import appointments
from cogs.appointments._views import post_text, post_view, refresh_post

log = logging.getLogger(__name__)

HISTORY_LOOKBACK = 100  # ta-log messages searched for the post of a try that crashed


class RequestDelivery:
    """The delivery the appointments cog attaches to the request's kind."""

    def __init__(self, bot: CourseBot) -> None:
        self.bot = bot

    def attach(self) -> None:
        self.bot.dispatcher.kinds.attach_delivery(appointments.REQUEST_KIND, self.post_request)

    async def post_request(self, row: Claimed) -> str | None:
        """Post a request in ta-log with the staff's buttons and record the post. Raises
        Undeliverable (the request is gone or decided), ChannelMissing (no ta-log) or discord's
        errors (retried)."""
        services = self.bot.services
        try:
            info = await appointments.get_appointment(services, appointments.request_id_of(row.source_key))
        except NotFound as error:
            raise Undeliverable("the appointment is gone") from error
        if info.staff_message_id is not None:
            return "posted already"
        view = post_view(info)
        if view is None:
            raise Undeliverable(f"the request was {info.status} before it could be posted")
        reference = self.bot.config.discord.channels.ta_log
        channel = self.bot.course_channel(reference)
        if channel is None:
            raise ChannelMissing(f"ta-log channel {reference!r} not found")
        message_id = await self._find_post(channel, info.id) if row.attempts > 1 else None
        if message_id is None:
            message = await channel.send(
                post_text(self.bot, info),
                view=view,
                nonce=row.nonce,
                allowed_mentions=discord.AllowedMentions.none(),
            )
            message_id = message.id
        recorded = await appointments.set_staff_message(
            services, appointment_id=info.id, message_id=message_id
        )
        if recorded is not None and recorded.status != "pending":
            await refresh_post(self.bot, recorded)  # decided while it was being posted
        return None

    async def _find_post(self, channel: discord.TextChannel, appointment_id: int) -> int | None:
        """The post of a try that crashed before recording it, if it is in ta-log's recent history."""
        me = self.bot.user
        head = f"📅 Appointment request #{appointment_id} from "
        try:
            async for message in channel.history(limit=HISTORY_LOOKBACK):
                if me is not None and message.author.id == me.id and message.content.startswith(head):
                    return message.id
        except discord.Forbidden:
            log.info("Cannot read ta-log's history to find the post of appointment #%s", appointment_id)
        return None
