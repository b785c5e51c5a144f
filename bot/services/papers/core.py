"""The paper board: the results every sign-up function returns, reading the board (each paper with
its presenters, waitlist and talk slot, from `talks.talk_slots`), the sign-up window, and the row
helpers every change uses (locks, holdings, the DMs a change plans)."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db import audit
from bot.db.models import Paper, Presenter, Student, SwapOffer, WaitlistEntry
from bot.db.settings import get_setting
from bot.errors import InvalidInput, NotFound
from bot.notify.outbox import direct_dm, enqueue
from bot.services import Services
from bot.services.cache import BOARD, batched, cached, changed
from bot.services.talks import talk_slots
from bot.services.text import stamp

SIGNUP_OVERRIDE = "signups.override"
PAPERS_LOCK = "papers"  # every sign-up change is serialised under this lock (see Database.write)


# ---- results -------------------------------------------------------------------------------
@dataclass(frozen=True)
class PaperInfo:
    number: int
    title: str
    authors: str
    url: str
    week: int
    presenters: tuple[int, ...]  # discord ids, in sign-up order
    waitlist: tuple[int, ...]  # discord ids, first first
    capacity: int
    talk_order: int  # 0-based position of this paper's talks within its week
    talk_at: datetime  # when its talk starts

    @property
    def free(self) -> int:
        return max(0, self.capacity - len(self.presenters))


@dataclass(frozen=True)
class SignupResult:
    paper: PaperInfo
    waitlisted: bool
    position: int | None  # waitlist position, 1-based
    left_waitlist_of: int | None  # the paper whose waitlist the student left on taking a slot


@dataclass(frozen=True)
class Promotion:
    discord_id: int
    paper: PaperInfo


@dataclass(frozen=True)
class WithdrawResult:
    papers: tuple[int, ...]  # papers given up
    waitlist_paper: int | None  # the waitlist left
    promotions: tuple[Promotion, ...]


@dataclass(frozen=True)
class SwapInfo:
    id: int
    from_id: int
    to_id: int
    from_paper: int
    to_paper: int
    status: str
    expires_at: datetime


@dataclass(frozen=True)
class SignupStatus:
    papers: tuple[PaperInfo, ...]
    waitlist_paper: PaperInfo | None
    waitlist_position: int | None
    offers_received: tuple[SwapInfo, ...]
    offers_sent: tuple[SwapInfo, ...]


@dataclass(frozen=True)
class Window:
    is_open: bool
    opens_at: datetime | None
    closes_at: datetime | None
    override: str | None  # "open" / "closed" when staff forced it

    def explain(self, now: datetime) -> str:
        """Why sign-up is closed, for the refusal message (Discord timestamps)."""
        if self.override == "closed":
            return "Paper sign-up has been closed by the staff."
        if self.opens_at and now < self.opens_at:
            return f"Paper sign-up opens <t:{int(self.opens_at.timestamp())}:F>."
        if self.closes_at:
            return f"Paper sign-up closed <t:{int(self.closes_at.timestamp())}:F>."
        return "Paper sign-up is closed."


def talk_text(info: PaperInfo) -> str:
    """`paper 4 — Title: talk #1 of week 9, <when>` (a Discord timestamp)."""
    return f"paper {info.number} — {info.title}: talk #{info.talk_order + 1} of week {info.week}, {stamp(info.talk_at)}"


async def tell(session: AsyncSession, event: str, discord_id: int, text: str, now: datetime) -> None:
    """Plan a DM about a change inside its transaction (`event` names it in the row's unique key)."""
    await enqueue(session, direct_dm(f"{event}:{discord_id}:{secrets.token_hex(6)}", discord_id, text, now))


# ---- reading -------------------------------------------------------------------------------
async def signup_window(services: Services, session: AsyncSession | None = None) -> Window:
    """Whether sign-up is open now: the configured dates, unless staff forced it open or closed."""
    calendar, papers = services.calendar, services.config.papers
    opens, closes = (
        calendar.resolve_moment(papers.signup_opens),
        calendar.resolve_moment(papers.signup_closes),
    )
    if session is None:
        async with services.db.read() as own:
            value = await get_setting(own, SIGNUP_OVERRIDE)
    else:
        value = await get_setting(session, SIGNUP_OVERRIDE)
    override = value if value in ("open", "closed") else None
    now = services.now()
    scheduled = (opens is None or now >= opens) and (closes is None or now < closes)
    is_open = scheduled if override is None else override == "open"
    return Window(is_open, opens, closes, override)


async def paper_infos(
    services: Services, session: AsyncSession, numbers: Sequence[int] | None = None
) -> list[PaperInfo]:
    query = select(Paper).order_by(Paper.week, Paper.number)
    if numbers is not None:
        query = query.where(Paper.number.in_(numbers))
    papers = list((await session.scalars(query)).all())
    slots = await talk_slots(session, services.calendar, {p.week for p in papers}) if papers else {}
    wanted = [p.number for p in papers]
    presenters: dict[int, list[int]] = {n: [] for n in wanted}
    rows = await session.execute(
        select(Presenter.paper_number, Presenter.discord_id)
        .where(Presenter.paper_number.in_(wanted))
        .order_by(Presenter.since, Presenter.id)
    )
    for number, discord_id in rows.all():
        presenters[number].append(discord_id)
    waiting: dict[int, list[int]] = {n: [] for n in wanted}
    rows = await session.execute(
        select(WaitlistEntry.paper_number, WaitlistEntry.discord_id)
        .where(WaitlistEntry.paper_number.in_(wanted))
        .order_by(WaitlistEntry.since, WaitlistEntry.id)
    )
    for number, discord_id in rows.all():
        waiting[number].append(discord_id)
    capacity = services.config.papers.capacity
    return [
        PaperInfo(
            p.number,
            p.title,
            p.authors,
            p.url,
            p.week,
            tuple(presenters[p.number]),
            tuple(waiting[p.number]),
            capacity,
            slots[p.number].order,
            slots[p.number].starts_at,
        )
        for p in papers
    ]


async def paper_info(services: Services, session: AsyncSession, number: int) -> PaperInfo:
    infos = await paper_infos(services, session, [number])
    if not infos:
        raise NotFound(f"There is no paper {number}; see `/papers`.")
    return infos[0]


async def board(services: Services, week: int | None = None) -> list[PaperInfo]:
    """Every paper (or one week's), with presenters and waitlists, ordered by week and number. Kept
    until a sign-up write commits (`write`)."""
    infos = await cached(services, BOARD, None, lambda: _read_board(services))
    return [info for info in infos if week is None or info.week == week]


async def _read_board(services: Services) -> tuple[PaperInfo, ...]:
    async with services.db.read() as session:
        return tuple(await paper_infos(services, session))


@asynccontextmanager
async def write(services: Services) -> AsyncIterator[AsyncSession]:
    """The write transaction of every change of papers, presenters or waitlists (under PAPERS_LOCK):
    once it commits, the cached board is dropped. Raises what `Database.write` raises."""
    async with services.db.write(PAPERS_LOCK) as session:
        changed(services, session, BOARD)
        yield session


async def paper(services: Services, number: int) -> PaperInfo:
    """One paper. Raises NotFound."""
    async with services.db.read() as session:
        return await paper_info(services, session, number)


async def status(services: Services, discord_id: int) -> SignupStatus:
    """A student's papers, waitlist place and swap offers (expired offers are not shown): the papers
    from the board, the offers read together with those of everyone asking at the same time."""
    infos = await board(services)
    offers = await batched(services, "papers.offers", discord_id, lambda ids: _pending_offers(services, ids))
    held = tuple(info for info in infos if discord_id in info.presenters)
    waiting = next((info for info in infos if discord_id in info.waitlist), None)
    position = waiting.waitlist.index(discord_id) + 1 if waiting else None
    return SignupStatus(
        held,
        waiting,
        position,
        tuple(o for o in offers if o.to_id == discord_id),
        tuple(o for o in offers if o.from_id == discord_id),
    )


async def _pending_offers(services: Services, ids: Sequence[int]) -> dict[int, tuple[SwapInfo, ...]]:
    """The pending, unexpired swap offers from or to each of `ids`, oldest first."""
    now = services.now()
    async with services.db.read() as session:
        offers = (
            await session.scalars(
                select(SwapOffer)
                .where(SwapOffer.from_id.in_(ids) | SwapOffer.to_id.in_(ids))
                .where(SwapOffer.status == "pending", SwapOffer.expires_at > now)
                .order_by(SwapOffer.id)
            )
        ).all()
    found: dict[int, list[SwapInfo]] = {discord_id: [] for discord_id in ids}
    for offer in offers:
        info = swap_info(offer)
        for discord_id in {info.from_id, info.to_id}:
            if discord_id in found:
                found[discord_id].append(info)
    return {discord_id: tuple(infos) for discord_id, infos in found.items()}


# ---- students --------------------------------------------------------------------------------
def check_number(number: int) -> int:
    """Raises InvalidInput for a paper number that cannot exist."""
    if not 1 <= number <= 9999:
        raise InvalidInput(f"`{number}` is not a paper number; see `/papers`.")
    return number


async def lock_paper(session: AsyncSession, number: int) -> Paper:
    found = await session.get(Paper, number, with_for_update=True)
    if found is None:
        raise NotFound(f"There is no paper {number}; see `/papers`.")
    return found


async def held_papers(session: AsyncSession, discord_id: int) -> list[int]:
    query = select(Presenter.paper_number).where(Presenter.discord_id == discord_id).order_by(Presenter.id)
    return list((await session.scalars(query)).all())


async def presenter_count(session: AsyncSession, number: int) -> int:
    return (
        await session.scalar(
            select(func.count()).select_from(Presenter).where(Presenter.paper_number == number)
        )
        or 0
    )


async def waitlist_position(session: AsyncSession, entry: WaitlistEntry) -> int:
    ahead = (
        select(func.count())
        .select_from(WaitlistEntry)
        .where(
            WaitlistEntry.paper_number == entry.paper_number,
            (WaitlistEntry.since < entry.since)
            | ((WaitlistEntry.since == entry.since) & (WaitlistEntry.id < entry.id)),
        )
    )
    return (await session.scalar(ahead) or 0) + 1


async def lock_student(session: AsyncSession, discord_id: int) -> None:
    await session.get(Student, discord_id, with_for_update=True)


async def cancel_offers(session: AsyncSession, discord_id: int, now: datetime, *, reason: str) -> None:
    offers = (
        await session.scalars(
            select(SwapOffer).where(
                (SwapOffer.from_id == discord_id) | (SwapOffer.to_id == discord_id),
                SwapOffer.status == "pending",
            )
        )
    ).all()
    for offer in offers:
        offer.status, offer.decided_at = "cancelled", now
        audit(
            session,
            at=now,
            actor_id=None,
            action="swap.cancel",
            target_id=offer.to_id,
            offer=offer.id,
            reason=reason,
        )


# ---- swaps -----------------------------------------------------------------------------------
def swap_info(offer: SwapOffer) -> SwapInfo:
    return SwapInfo(
        offer.id, offer.from_id, offer.to_id, offer.from_paper, offer.to_paper, offer.status, offer.expires_at
    )
