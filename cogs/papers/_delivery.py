"""The Discord side of the swap offer's outbox row (bot/services/papers/swaps.py): the DM to the
addressee with the Accept/Decline buttons, sent with the row's nonce (a retry after a crash shows
once). An offer answered, cancelled or expired before it could be sent is skipped, not sent.

When Discord refuses the DM (DMs closed), the offer goes where every refused DM goes: the fallback
channel, mentioning the addressee, with the same buttons. Anyone there can see them, but only the
addressee can answer (`papers.answer_swap` refuses everyone else, and the offer stays in their
`/signup status` too).
"""

from __future__ import annotations

from bot.app import CourseBot
from bot.notify.kinds import Undeliverable
from bot.notify.outbox import Claimed
from bot.services import papers
from cogs.papers._views import swap_view

FALLBACK_NOTE = "DMs closed: posted in the fallback channel (only the addressee can answer)"


class SwapOfferDelivery:
    """The delivery the papers cog attaches to the swap offer's kind."""

    def __init__(self, bot: CourseBot) -> None:
        self.bot = bot

    def attach(self) -> None:
        self.bot.dispatcher.kinds.attach_delivery(papers.OFFER_KIND, self.deliver)

    async def deliver(self, row: Claimed) -> str | None:
        """DM the offer with its buttons (the fallback channel when the DM is refused). Raises
        Undeliverable (the offer is no longer open), ChannelMissing (no fallback channel) or
        discord's errors (retried)."""
        services = self.bot.services
        offer = await papers.offer_to_deliver(services, papers.offer_id_of(row.source_key))
        if offer is None:
            raise Undeliverable("the swap offer is gone")
        if offer.status != "pending":
            raise Undeliverable(f"the swap offer was {offer.status} before it could be delivered")
        if offer.expires_at <= services.now():
            raise Undeliverable("the swap offer expired before it could be delivered")
        if await self.bot.send_dm(offer.to_id, row.text, view=swap_view(offer.id), nonce=row.nonce):
            return None
        await self.bot.dispatcher.post_in_fallback(row, view=swap_view(offer.id))  # row.user_id: to_id
        return FALLBACK_NOTE
