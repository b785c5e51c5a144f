"""The Discord side of the swap offer's outbox row (bot/services/papers/swaps.py): the Accept/Decline
buttons of the DM to the addressee, built when the dispatcher sends it. An offer answered, cancelled
or expired before it could be sent is skipped, not sent.

When Discord refuses the DM (DMs closed), the offer goes where every refused DM goes: the fallback
channel, mentioning the addressee, with the same buttons. Anyone there can see them, but only the
addressee can answer (`papers.answer_swap` refuses everyone else, and the offer stays in their
`/signup status` too).
"""

from __future__ import annotations

import discord

from bot.app import CourseBot
from bot.notify.kinds import Undeliverable
from bot.notify.outbox import Claimed
from bot.services import papers
from cogs.papers._views import swap_view


class SwapOfferDelivery:
    """The buttons the papers cog attaches to the swap offer's kind."""

    def __init__(self, bot: CourseBot) -> None:
        self.bot = bot

    def attach(self) -> None:
        self.bot.dispatcher.kinds.attach_buttons(papers.OFFER_KIND, self.buttons)

    async def buttons(self, row: Claimed) -> discord.ui.View:
        """Accept and Decline for the offer as it is now. Raises Undeliverable when it is no longer
        open."""
        services = self.bot.services
        offer = await papers.offer_to_deliver(services, papers.offer_id_of(row.source_key))
        if offer is None:
            raise Undeliverable("the swap offer is gone")
        if offer.status != "pending":
            raise Undeliverable(f"the swap offer was {offer.status} before it could be delivered")
        if offer.expires_at <= services.now():
            raise Undeliverable("the swap offer expired before it could be delivered")
        return swap_view(offer.id)
