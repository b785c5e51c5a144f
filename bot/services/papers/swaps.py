"""Swap offers between two presenters: an offer lasts SWAP_HOURS, only its addressee answers it, and
an acceptance re-checks both holdings and exchanges the papers atomically (the one who offered is
told the answer by DM, planned with it). The offer itself reaches its addressee as a `swap_offer`
outbox row planned with the offer; its delivery (the papers cog) adds the Accept/Decline buttons,
and skips an offer answered, cancelled or expired before it could be sent."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from bot.db import audit
from bot.db.models import Presenter, SwapOffer
from bot.errors import Conflict, NotAllowed, NotFound
from bot.notify.kinds import ReminderKind, ReminderKinds
from bot.notify.outbox import Planned, enqueue
from bot.services import Services, talks
from bot.services.papers.core import (
    SwapInfo,
    held_papers,
    lock_paper,
    signup_window,
    swap_info,
    tell,
    write,
)

SWAP_HOURS = 24
OFFER_KIND = "swap_offer"
OFFER_PREFIX = "swap-offer:"


def register_kinds(services: Services, kinds: ReminderKinds) -> None:
    """The offer DM: planned once with the offer, nothing to re-plan (its delivery is the cog's)."""
    kinds.register(ReminderKind(OFFER_KIND))


def offer_text(offer: SwapInfo) -> str:
    """The DM that brings an offer to its addressee (the buttons are added by the delivery)."""
    return (
        f"<@{offer.from_id}> offers to swap papers: you would present paper {offer.from_paper} instead of "
        f"paper {offer.to_paper}. The offer expires <t:{int(offer.expires_at.timestamp())}:R>."
    )


def offer_id_of(source_key: str) -> int:
    """The offer of a `swap_offer` outbox row."""
    return int(source_key.removeprefix(OFFER_PREFIX))


async def offer_to_deliver(services: Services, offer_id: int) -> SwapInfo | None:
    """The offer as it is now, for its DM; None when it is gone."""
    async with services.db.read() as session:
        offer = await session.get(SwapOffer, offer_id)
        return swap_info(offer) if offer is not None else None


async def offer_swap(services: Services, *, from_id: int, to_id: int) -> SwapInfo:
    """Offer `to_id` an exchange of papers; it expires after 24 h. The offer's DM is planned in the
    outbox with it (due now, useless once the offer expires).

    Raises Conflict (yourself, either holds no paper, same paper, an open offer already) or
    NotAllowed (sign-up closed).
    """
    if from_id == to_id:
        raise Conflict("You cannot swap with yourself.")
    async with write(services) as session:
        now = services.now()  # inside the lock: times follow the order of commits
        window = await signup_window(services, session)
        if not window.is_open:
            raise NotAllowed(window.explain(now))
        mine, theirs = await held_papers(session, from_id), await held_papers(session, to_id)
        if not mine:
            raise Conflict("You hold no paper to swap; `/signup paper` first.")
        if not theirs:
            raise Conflict("They hold no paper, so there is nothing to swap.")
        if set(mine) & set(theirs):
            raise Conflict(
                f"You both present paper {sorted(set(mine) & set(theirs))[0]}; there is nothing to swap."
            )
        existing = await session.scalar(
            select(SwapOffer).where(
                SwapOffer.from_id == from_id,
                SwapOffer.to_id == to_id,
                SwapOffer.status == "pending",
                SwapOffer.expires_at > now,
            )
        )
        if existing is not None:
            raise Conflict("You already have an open swap offer to them.")
        offer = SwapOffer(
            from_id=from_id,
            to_id=to_id,
            from_paper=mine[0],
            to_paper=theirs[0],
            status="pending",
            created_at=now,
            expires_at=now + timedelta(hours=SWAP_HOURS),
        )
        session.add(offer)
        await session.flush()
        audit(
            session,
            at=now,
            actor_id=from_id,
            action="swap.offer",
            target_id=to_id,
            offer=offer.id,
            papers=[mine[0], theirs[0]],
        )
        info = swap_info(offer)
        await enqueue(
            session,
            Planned(
                f"{OFFER_PREFIX}{offer.id}",
                OFFER_KIND,
                "dm",
                offer_text(info),
                now,
                event_at=offer.expires_at,
                user_id=to_id,
            ),
        )
        return info


async def answer_swap(services: Services, *, offer_id: int, discord_id: int, accept: bool) -> SwapInfo:
    """Accept or decline an offer made to `discord_id`. Accepting re-checks that both still hold the
    offered papers and exchanges them atomically; the returned status is accepted, declined, expired
    (too late) or cancelled (the papers changed hands since the offer). The one who offered is told
    an acceptance or a refusal by DM (planned with it).

    Raises NotFound (no such offer for you) or Conflict (already answered).
    """
    async with write(services) as session:
        now = services.now()  # inside the lock: times follow the order of commits
        offer = await session.get(SwapOffer, offer_id, with_for_update=True)
        if offer is None or offer.to_id != discord_id:
            raise NotFound("That swap offer is not addressed to you.")
        if offer.status != "pending":
            raise Conflict(f"That swap offer was already {offer.status}.")
        if offer.expires_at <= now:
            offer.status, offer.decided_at = "expired", now
            audit(
                session,
                at=now,
                actor_id=discord_id,
                action="swap.expire",
                target_id=offer.from_id,
                offer=offer.id,
            )
            return swap_info(offer)
        if not accept:
            offer.status, offer.decided_at = "declined", now
            audit(
                session,
                at=now,
                actor_id=discord_id,
                action="swap.decline",
                target_id=offer.from_id,
                offer=offer.id,
            )
            await tell(
                session,
                f"swap-answer:{offer.id}",
                offer.from_id,
                f"<@{discord_id}> declined your swap offer.",
                now,
            )
            return swap_info(offer)
        for number in sorted((offer.from_paper, offer.to_paper)):
            await lock_paper(session, number)
        if offer.from_paper not in await held_papers(
            session, offer.from_id
        ) or offer.to_paper not in await held_papers(session, offer.to_id):
            offer.status, offer.decided_at = "cancelled", now
            audit(
                session,
                at=now,
                actor_id=discord_id,
                action="swap.cancel",
                target_id=offer.from_id,
                offer=offer.id,
                reason="holdings changed",
            )
            return swap_info(offer)
        mover = await session.scalar(
            select(Presenter).where(
                Presenter.paper_number == offer.from_paper, Presenter.discord_id == offer.from_id
            )
        )
        other = await session.scalar(
            select(Presenter).where(
                Presenter.paper_number == offer.to_paper, Presenter.discord_id == offer.to_id
            )
        )
        assert mover is not None and other is not None
        mover.paper_number, other.paper_number = offer.to_paper, offer.from_paper
        offer.status, offer.decided_at = "accepted", now
        await talks.replan(services, session)
        audit(
            session,
            at=now,
            actor_id=discord_id,
            action="swap.accept",
            target_id=offer.from_id,
            offer=offer.id,
            papers=[offer.from_paper, offer.to_paper],
        )
        await tell(
            session,
            f"swap-answer:{offer.id}",
            offer.from_id,
            f"<@{discord_id}> accepted your swap: you now present paper {offer.to_paper}.",
            now,
        )
        return swap_info(offer)
