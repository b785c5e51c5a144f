"""Paper sign-ups: the paper list, presenter slots with capacity, waitlists, swaps, the talk schedule.

Rules (under any concurrency): a paper never has more presenters than `papers.capacity`; a student
holds at most `papers.max_per_student` papers and waits on at most one waitlist; waitlists are first
come, first served. Every change runs in one `db.write()` transaction that locks the student row(s)
and then the paper row (the same order everywhere, so PostgreSQL cannot deadlock), and is audited.
Whoever a change must be told (a promotion from the waitlist, a swap's answer, the staff's assign,
unassign or removal) gets a DM planned in the outbox in the same transaction.
"""

from __future__ import annotations

import csv
import io
import re
import secrets
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db import audit
from bot.db.models import Paper, Presenter, Student, SwapOffer, WaitlistEntry
from bot.db.settings import get_setting, put_setting
from bot.errors import Conflict, InvalidInput, NotAllowed, NotFound
from bot.notify.outbox import direct_dm, enqueue
from bot.notify.sources import replan_talks, stamp
from bot.services import Services
from bot.services.reviews import replan_review_reminders
from bot.services.students import ensure_student

SIGNUP_OVERRIDE = "signups.override"
PAPERS_LOCK = "papers"  # every sign-up change is serialised under this lock (see Database.write)
SWAP_HOURS = 24
TITLE_MAX, AUTHORS_MAX, URL_MAX = 300, 500, 500
MAX_IMPORT_BYTES = 1_000_000
PAPER_COLUMNS = ("number", "title", "authors", "url", "week")


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


async def _tell(session: AsyncSession, event: str, discord_id: int, text: str, now: datetime) -> None:
    """Plan a DM about a change inside its transaction (`event` names it in the row's unique key)."""
    await enqueue(session, direct_dm(f"{event}:{discord_id}:{secrets.token_hex(6)}", discord_id, text, now))


async def _replan_talks(services: Services, session: AsyncSession) -> None:
    """Presenters or papers changed: talk and review reminders follow, in the same transaction."""
    await session.flush()
    await replan_talks(session, config=services.config, calendar=services.calendar, now=services.now())
    await replan_review_reminders(services, session)


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


async def _infos(
    services: Services, session: AsyncSession, numbers: Sequence[int] | None = None
) -> list[PaperInfo]:
    query = select(Paper).order_by(Paper.week, Paper.number)
    if numbers is not None:
        query = query.where(Paper.number.in_(numbers))
    papers = list((await session.scalars(query)).all())
    weeks = {p.week for p in papers}
    order: dict[int, int] = {}
    if weeks:
        same_week = (
            select(Paper.number, Paper.week).where(Paper.week.in_(weeks)).order_by(Paper.week, Paper.number)
        )
        counters: dict[int, int] = {}
        for number, week in (await session.execute(same_week)).all():
            order[number] = counters.get(week, 0)
            counters[week] = order[number] + 1
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
    capacity, calendar = services.config.papers.capacity, services.calendar
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
            order.get(p.number, 0),
            calendar.talk_starts_at(p.week, order.get(p.number, 0)),
        )
        for p in papers
    ]


async def _info(services: Services, session: AsyncSession, number: int) -> PaperInfo:
    infos = await _infos(services, session, [number])
    if not infos:
        raise NotFound(f"There is no paper {number}; see `/papers`.")
    return infos[0]


async def board(services: Services, week: int | None = None) -> list[PaperInfo]:
    """Every paper (or one week's), with presenters and waitlists, ordered by week and number."""
    async with services.db.read() as session:
        infos = await _infos(services, session)
    return [info for info in infos if week is None or info.week == week]


async def paper(services: Services, number: int) -> PaperInfo:
    """One paper. Raises NotFound."""
    async with services.db.read() as session:
        return await _info(services, session, number)


async def status(services: Services, discord_id: int) -> SignupStatus:
    """A student's papers, waitlist place and swap offers (expired offers are not shown)."""
    now = services.now()
    async with services.db.read() as session:
        numbers = list(
            (
                await session.scalars(
                    select(Presenter.paper_number).where(Presenter.discord_id == discord_id)
                )
            ).all()
        )
        held = await _infos(services, session, numbers) if numbers else []
        entry = await session.scalar(select(WaitlistEntry).where(WaitlistEntry.discord_id == discord_id))
        waiting = await _info(services, session, entry.paper_number) if entry else None
        offers = (
            await session.scalars(
                select(SwapOffer)
                .where((SwapOffer.from_id == discord_id) | (SwapOffer.to_id == discord_id))
                .where(SwapOffer.status == "pending", SwapOffer.expires_at > now)
                .order_by(SwapOffer.id)
            )
        ).all()
    position = waiting.waitlist.index(discord_id) + 1 if waiting else None
    infos = [_swap_info(o) for o in offers]
    return SignupStatus(
        tuple(held),
        waiting,
        position,
        tuple(o for o in infos if o.to_id == discord_id),
        tuple(o for o in infos if o.from_id == discord_id),
    )


# ---- students --------------------------------------------------------------------------------
def check_number(number: int) -> int:
    """Raises InvalidInput for a paper number that cannot exist."""
    if not 1 <= number <= 9999:
        raise InvalidInput(f"`{number}` is not a paper number; see `/papers`.")
    return number


async def _lock_paper(session: AsyncSession, number: int) -> Paper:
    found = await session.get(Paper, number, with_for_update=True)
    if found is None:
        raise NotFound(f"There is no paper {number}; see `/papers`.")
    return found


async def _held(session: AsyncSession, discord_id: int) -> list[int]:
    query = select(Presenter.paper_number).where(Presenter.discord_id == discord_id).order_by(Presenter.id)
    return list((await session.scalars(query)).all())


async def _presenter_count(session: AsyncSession, number: int) -> int:
    return (
        await session.scalar(
            select(func.count()).select_from(Presenter).where(Presenter.paper_number == number)
        )
        or 0
    )


async def _waitlist_position(session: AsyncSession, entry: WaitlistEntry) -> int:
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


async def sign_up(
    services: Services, *, discord_id: int, discord_name: str | None, joined_at: datetime | None, number: int
) -> SignupResult:
    """Take a presenter slot on paper `number`, or join its waitlist when it is full.

    Raises InvalidInput (bad number), NotFound (unknown paper), NotAllowed (sign-up closed) or
    Conflict (already presenting it, at the paper limit, or already on another waitlist).
    """
    check_number(number)
    limit = services.config.papers.max_per_student
    async with services.db.write(PAPERS_LOCK) as session:
        # Read the clock inside the transaction: waitlists are ordered by `since`, so it must follow
        # the order in which sign-ups commit (a transaction may wait for its connection or lock).
        now = services.now()
        window = await signup_window(services, session)
        if not window.is_open:
            raise NotAllowed(window.explain(now))
        await ensure_student(
            session, discord_id=discord_id, discord_name=discord_name, joined_at=min(joined_at or now, now)
        )
        await _lock_paper(session, number)
        held = await _held(session, discord_id)
        if number in held:
            raise Conflict(f"You already present paper {number}.")
        if len(held) >= limit:
            shown = ", ".join(str(n) for n in held)
            raise Conflict(
                f"You already present paper {shown}; `/signup withdraw` first, or offer a `/signup swap`."
            )
        entry = await session.scalar(select(WaitlistEntry).where(WaitlistEntry.discord_id == discord_id))
        if await _presenter_count(session, number) < services.config.papers.capacity:
            left = None
            if entry is not None:
                left = entry.paper_number
                await session.delete(entry)
            session.add(Presenter(paper_number=number, discord_id=discord_id, since=now))
            audit(
                session,
                at=now,
                actor_id=discord_id,
                action="signup.take",
                target_id=discord_id,
                paper=number,
                left_waitlist=left,
            )
            await session.flush()
            await _replan_talks(services, session)
            return SignupResult(await _info(services, session, number), False, None, left)
        if entry is not None:
            if entry.paper_number == number:
                position = await _waitlist_position(session, entry)
                raise Conflict(f"You are already on the waitlist of paper {number} (position {position}).")
            raise Conflict(
                f"You are on the waitlist of paper {entry.paper_number}; `/signup withdraw` first (one waitlist at a time)."
            )
        entry = WaitlistEntry(paper_number=number, discord_id=discord_id, since=now)
        session.add(entry)
        await session.flush()
        position = await _waitlist_position(session, entry)
        audit(
            session,
            at=now,
            actor_id=discord_id,
            action="signup.waitlist",
            target_id=discord_id,
            paper=number,
            position=position,
        )
        return SignupResult(await _info(services, session, number), True, position, None)


async def _promote(services: Services, session: AsyncSession, number: int, now: datetime) -> list[Promotion]:
    """Fill free slots of `number` from its waitlist, first come first served, skipping students
    already at their paper limit. Runs inside the caller's transaction."""
    capacity, limit = services.config.papers.capacity, services.config.papers.max_per_student
    promoted: list[int] = []
    free = capacity - await _presenter_count(session, number)
    if free <= 0:
        return []
    waiting = (
        await session.scalars(
            select(WaitlistEntry)
            .where(WaitlistEntry.paper_number == number)
            .order_by(WaitlistEntry.since, WaitlistEntry.id)
        )
    ).all()
    for entry in waiting:
        if free <= 0:
            break
        if len(await _held(session, entry.discord_id)) >= limit:
            continue
        await session.delete(entry)
        session.add(Presenter(paper_number=number, discord_id=entry.discord_id, since=now))
        audit(
            session, at=now, actor_id=None, action="signup.promote", target_id=entry.discord_id, paper=number
        )
        promoted.append(entry.discord_id)
        free -= 1
    if not promoted:
        return []
    await session.flush()
    info = await _info(services, session, number)
    for discord_id in promoted:
        await _tell(
            session,
            f"signup-promote:{number}",
            discord_id,
            f"Good news: a slot opened and you moved up from the waitlist. You now present {talk_text(info)}.",
            now,
        )
    return [Promotion(discord_id, info) for discord_id in promoted]


async def withdraw(services: Services, *, discord_id: int, actor_id: int | None = None) -> WithdrawResult:
    """Give up every presenter slot and the waitlist place; the first waiting student who can is
    promoted into each freed slot in the same transaction (and told by DM). With a staff `actor_id`,
    the student is told too. Raises Conflict when there is nothing."""
    actor = discord_id if actor_id is None else actor_id
    async with services.db.write(PAPERS_LOCK) as session:
        now = services.now()  # inside the lock: times follow the order of commits
        await _lock_student(session, discord_id)
        held = await _held(session, discord_id)
        entry = await session.scalar(select(WaitlistEntry).where(WaitlistEntry.discord_id == discord_id))
        if not held and entry is None:
            raise Conflict("You hold no paper and are on no waitlist.")
        promotions: list[Promotion] = []
        for number in held:
            await _lock_paper(session, number)
            await session.execute(
                delete(Presenter).where(Presenter.paper_number == number, Presenter.discord_id == discord_id)
            )
            audit(
                session, at=now, actor_id=actor, action="signup.withdraw", target_id=discord_id, paper=number
            )
            await _cancel_offers(session, discord_id, now, reason="withdrawn")
        waitlist_paper = None
        if entry is not None:
            waitlist_paper = entry.paper_number
            await session.delete(entry)
            audit(
                session,
                at=now,
                actor_id=actor,
                action="signup.leave_waitlist",
                target_id=discord_id,
                paper=waitlist_paper,
            )
        await session.flush()
        if actor != discord_id and held:
            listed = ", ".join(map(str, held))
            await _tell(
                session, "paper-unassign", discord_id, f"The staff removed you from paper {listed}.", now
            )
        for number in held:
            promotions += await _promote(services, session, number, now)
        await _replan_talks(services, session)
        return WithdrawResult(tuple(held), waitlist_paper, tuple(promotions))


async def _lock_student(session: AsyncSession, discord_id: int) -> None:
    await session.get(Student, discord_id, with_for_update=True)


async def _cancel_offers(session: AsyncSession, discord_id: int, now: datetime, *, reason: str) -> None:
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
def _swap_info(offer: SwapOffer) -> SwapInfo:
    return SwapInfo(
        offer.id, offer.from_id, offer.to_id, offer.from_paper, offer.to_paper, offer.status, offer.expires_at
    )


async def offer_swap(services: Services, *, from_id: int, to_id: int) -> SwapInfo:
    """Offer `to_id` an exchange of papers; it expires after 24 h.

    Raises Conflict (yourself, either holds no paper, same paper, an open offer already) or
    NotAllowed (sign-up closed).
    """
    if from_id == to_id:
        raise Conflict("You cannot swap with yourself.")
    async with services.db.write(PAPERS_LOCK) as session:
        now = services.now()  # inside the lock: times follow the order of commits
        window = await signup_window(services, session)
        if not window.is_open:
            raise NotAllowed(window.explain(now))
        mine, theirs = await _held(session, from_id), await _held(session, to_id)
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
        return _swap_info(offer)


async def answer_swap(services: Services, *, offer_id: int, discord_id: int, accept: bool) -> SwapInfo:
    """Accept or decline an offer made to `discord_id`. Accepting re-checks that both still hold the
    offered papers and exchanges them atomically; the returned status is accepted, declined, expired
    (too late) or cancelled (the papers changed hands since the offer). The one who offered is told
    an acceptance or a refusal by DM (planned with it).

    Raises NotFound (no such offer for you) or Conflict (already answered).
    """
    async with services.db.write(PAPERS_LOCK) as session:
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
            return _swap_info(offer)
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
            await _tell(
                session,
                f"swap-answer:{offer.id}",
                offer.from_id,
                f"<@{discord_id}> declined your swap offer.",
                now,
            )
            return _swap_info(offer)
        for number in sorted((offer.from_paper, offer.to_paper)):
            await _lock_paper(session, number)
        if offer.from_paper not in await _held(session, offer.from_id) or offer.to_paper not in await _held(
            session, offer.to_id
        ):
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
            return _swap_info(offer)
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
        await _replan_talks(services, session)
        audit(
            session,
            at=now,
            actor_id=discord_id,
            action="swap.accept",
            target_id=offer.from_id,
            offer=offer.id,
            papers=[offer.from_paper, offer.to_paper],
        )
        await _tell(
            session,
            f"swap-answer:{offer.id}",
            offer.from_id,
            f"<@{discord_id}> accepted your swap: you now present paper {offer.to_paper}.",
            now,
        )
        return _swap_info(offer)


# ---- staff -----------------------------------------------------------------------------------
async def set_signup_override(services: Services, *, actor_id: int, state: str) -> Window:
    """Force sign-up "open" or "closed" (or "schedule" to follow the configured dates)."""
    if state not in ("open", "closed", "schedule"):
        raise InvalidInput("State must be open, closed or schedule.")
    now = services.now()
    async with services.db.write(PAPERS_LOCK) as session:
        await put_setting(session, SIGNUP_OVERRIDE, state, at=now, by=actor_id)
        audit(session, at=now, actor_id=actor_id, action=f"signups.{state}")
        await session.flush()
        return await signup_window(services, session)


@dataclass(frozen=True)
class PaperFields:
    number: int
    title: str
    authors: str
    url: str
    week: int | None


def clean_paper(services: Services, fields: PaperFields) -> PaperFields:
    """Validate one paper's fields. Raises InvalidInput with the reason."""
    check_number(fields.number)
    title, authors, url = " ".join(fields.title.split()), " ".join(fields.authors.split()), fields.url.strip()
    if not 1 <= len(title) <= TITLE_MAX:
        raise InvalidInput(f"A title must be 1–{TITLE_MAX} characters.")
    if any(unicodedata.category(ch) == "Cc" for ch in title + authors + url):
        # PostgreSQL refuses NUL in text, and no title needs a control character.
        raise InvalidInput("Title, authors and link cannot contain control characters.")
    if len(authors) > AUTHORS_MAX:
        raise InvalidInput(f"Authors must be at most {AUTHORS_MAX} characters.")
    if url and (len(url) > URL_MAX or not re.match(r"^https?://\S+$", url)):
        raise InvalidInput(f"`{url[:60]}` is not an http(s) link.")
    papers = services.config.papers
    if fields.week is not None and not papers.first_week <= fields.week <= papers.last_week:
        raise InvalidInput(
            f"Week must be between {papers.first_week} and {papers.last_week} (the talk weeks)."
        )
    return PaperFields(fields.number, title, authors, url, fields.week)


async def _week_counts(session: AsyncSession) -> dict[int, int]:
    rows = await session.execute(select(Paper.week, func.count()).group_by(Paper.week))
    return {week: count for week, count in rows.all()}


async def save_paper(services: Services, *, actor_id: int, fields: PaperFields) -> tuple[PaperInfo, bool]:
    """Add a paper, or edit the one with that number. Without a week, a new paper goes to the first
    talk week with room. Returns (paper, created). Raises InvalidInput or Conflict (week full)."""
    fields = clean_paper(services, fields)
    now = services.now()
    papers = services.config.papers
    async with services.db.write(PAPERS_LOCK) as session:
        existing = await session.get(Paper, fields.number, with_for_update=True)
        counts = await _week_counts(session)
        if existing is not None:
            counts[existing.week] -= 1
        week = fields.week if fields.week is not None else (existing.week if existing else None)
        if week is None:
            week = next(
                (
                    w
                    for w in range(papers.first_week, papers.last_week + 1)
                    if counts.get(w, 0) < papers.per_week
                ),
                None,
            )
            if week is None:
                raise Conflict(f"Every talk week already has {papers.per_week} papers.")
        elif counts.get(week, 0) >= papers.per_week:
            raise Conflict(f"Week {week} already has {papers.per_week} papers; choose another week.")
        if existing is None:
            session.add(
                Paper(
                    number=fields.number,
                    title=fields.title,
                    authors=fields.authors,
                    url=fields.url,
                    week=week,
                    added_at=now,
                )
            )
        else:
            existing.title, existing.authors, existing.url, existing.week = (
                fields.title,
                fields.authors,
                fields.url,
                week,
            )
        audit(
            session,
            at=now,
            actor_id=actor_id,
            action="paper.add" if existing is None else "paper.edit",
            paper=fields.number,
            title=fields.title,
            week=week,
        )
        await session.flush()
        await _replan_talks(services, session)
        return await _info(services, session, fields.number), existing is None


async def remove_paper(services: Services, *, actor_id: int, number: int) -> PaperInfo:
    """Remove a paper with its presenters and waitlist; each of them is told by DM (planned with the
    removal). Raises NotFound."""
    check_number(number)
    now = services.now()
    async with services.db.write(PAPERS_LOCK) as session:
        await _lock_paper(session, number)
        info = await _info(services, session, number)
        for discord_id in info.presenters:
            await _cancel_offers(session, discord_id, now, reason=f"paper {number} removed")
        await session.execute(delete(Presenter).where(Presenter.paper_number == number))
        await session.execute(delete(WaitlistEntry).where(WaitlistEntry.paper_number == number))
        await session.execute(delete(Paper).where(Paper.number == number))
        audit(
            session,
            at=now,
            actor_id=actor_id,
            action="paper.remove",
            paper=number,
            title=info.title,
            presenters=list(info.presenters),
            waitlist=list(info.waitlist),
        )
        text = f"Paper {number} — {info.title} was removed from the list by the staff; please `/signup paper` again."
        for discord_id in info.presenters + info.waitlist:
            await _tell(session, f"paper-remove:{number}", discord_id, text, now)
        await _replan_talks(services, session)
        return info


async def assign(
    services: Services, *, actor_id: int, discord_id: int, discord_name: str | None, number: int
) -> PaperInfo:
    """Place a presenter by hand (ignores the sign-up window, not the capacity or the paper limit).
    Also takes them off any waitlist; they are told by DM. Raises NotFound or Conflict."""
    check_number(number)
    now = services.now()
    async with services.db.write(PAPERS_LOCK) as session:
        await ensure_student(session, discord_id=discord_id, discord_name=discord_name, joined_at=now)
        await _lock_paper(session, number)
        held = await _held(session, discord_id)
        if number in held:
            raise Conflict(f"They already present paper {number}.")
        if len(held) >= services.config.papers.max_per_student:
            raise Conflict(f"They already present paper {', '.join(map(str, held))}; unassign them first.")
        if await _presenter_count(session, number) >= services.config.papers.capacity:
            raise Conflict(f"Paper {number} is full; unassign someone first.")
        await session.execute(delete(WaitlistEntry).where(WaitlistEntry.discord_id == discord_id))
        session.add(Presenter(paper_number=number, discord_id=discord_id, since=now))
        audit(session, at=now, actor_id=actor_id, action="paper.assign", target_id=discord_id, paper=number)
        await _replan_talks(services, session)
        await session.flush()
        info = await _info(services, session, number)
        await _tell(
            session,
            f"paper-assign:{number}",
            discord_id,
            f"The staff assigned you to present {talk_text(info)}.",
            now,
        )
        return info


async def unassign(services: Services, *, actor_id: int, discord_id: int) -> WithdrawResult:
    """Remove a presenter by hand; the waitlist fills the slot. Raises Conflict when they hold none."""
    async with services.db.read() as session:
        if not await _held(session, discord_id):
            raise Conflict("They do not present any paper.")
    return await withdraw(services, discord_id=discord_id, actor_id=actor_id)


# ---- import ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class ImportResult:
    added: int
    updated: int
    errors: tuple[str, ...]  # "line N: reason"; nothing was imported when non-empty


def parse_papers_csv(services: Services, data: bytes) -> tuple[list[PaperFields], list[str]]:
    """Parse and validate a `number,title,authors,url,week` CSV; returns (rows, "line N: reason" errors)."""
    if not data.strip():
        return [], ["line 1: the file is empty"]
    if len(data) > MAX_IMPORT_BYTES:
        return [], [f"line 1: the file is larger than {MAX_IMPORT_BYTES // 1000} kB"]
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return [], ["line 1: the file is not UTF-8 text"]
    reader = csv.reader(io.StringIO(text, newline=""))  # newline="": also CR-only line ends
    try:
        records = list(reader)
    except csv.Error as error:  # e.g. a field over the csv module's size limit
        return [], [f"line {reader.line_num}: not a readable CSV file ({error})"]
    header = [h.strip().lower() for h in (records[0] if records else [])]
    if tuple(header[:2]) != PAPER_COLUMNS[:2] or any(h not in PAPER_COLUMNS for h in header):
        return [], [
            f"line 1: the header must be {','.join(PAPER_COLUMNS)} (authors, url and week may be left out)"
        ]
    rows: list[PaperFields] = []
    errors: list[str] = []
    seen: dict[int, int] = {}
    for line_number, values in enumerate(records[1:], start=2):
        if not any(v.strip() for v in values):
            continue
        if len(values) > len(header):
            errors.append(f"line {line_number}: {len(values)} columns, expected {len(header)}")
            continue
        record = dict(zip(header, [v.strip() for v in values], strict=False))
        try:
            number = int(record.get("number", ""))
        except ValueError:
            errors.append(
                f"line {line_number}: number `{record.get('number', '')[:20]}` is not a whole number"
            )
            continue
        week_text = record.get("week", "")
        try:
            week = int(week_text) if week_text else None
        except ValueError:
            errors.append(f"line {line_number}: week `{week_text[:20]}` is not a whole number")
            continue
        if number in seen:
            errors.append(f"line {line_number}: paper {number} is already on line {seen[number]}")
            continue
        seen[number] = line_number
        try:
            rows.append(
                clean_paper(
                    services,
                    PaperFields(
                        number,
                        record.get("title", ""),
                        record.get("authors", ""),
                        record.get("url", ""),
                        week,
                    ),
                )
            )
        except InvalidInput as error:
            errors.append(f"line {line_number}: {error.message}")
    if not rows and not errors:
        errors.append("line 2: no papers in the file")
    return rows, errors


async def import_papers(services: Services, *, actor_id: int | None, data: bytes) -> ImportResult:
    """Add or update every paper of the CSV in one transaction, or none when any row is bad."""
    rows, errors = parse_papers_csv(services, data)
    if errors:
        return ImportResult(0, 0, tuple(errors))
    now = services.now()
    papers = services.config.papers
    async with services.db.write(PAPERS_LOCK) as session:
        existing = {p.number: p for p in (await session.scalars(select(Paper).with_for_update())).all()}
        weeks = {number: p.week for number, p in existing.items()}
        for row in rows:
            if row.week is not None:
                weeks[row.number] = row.week
        for row in rows:
            if row.week is None and row.number not in weeks:
                counts = _count(weeks)
                free = next(
                    (
                        w
                        for w in range(papers.first_week, papers.last_week + 1)
                        if counts.get(w, 0) < papers.per_week
                    ),
                    None,
                )
                if free is None:
                    return ImportResult(0, 0, (f"paper {row.number}: every talk week is full",))
                weeks[row.number] = free
        full = sorted(w for w, n in _count(weeks).items() if n > papers.per_week)
        if full:
            return ImportResult(
                0, 0, tuple(f"week {w}: more than {papers.per_week} papers after the import" for w in full)
            )
        added = updated = 0
        for row in rows:
            paper_row = existing.get(row.number)
            if paper_row is None:
                session.add(
                    Paper(
                        number=row.number,
                        title=row.title,
                        authors=row.authors,
                        url=row.url,
                        week=weeks[row.number],
                        added_at=now,
                    )
                )
                added += 1
            else:
                paper_row.title, paper_row.authors, paper_row.url, paper_row.week = (
                    row.title,
                    row.authors,
                    row.url,
                    weeks[row.number],
                )
                updated += 1
        audit(session, at=now, actor_id=actor_id, action="paper.import", added=added, updated=updated)
        await _replan_talks(services, session)
    return ImportResult(added, updated, ())


def _count(weeks: dict[int, int]) -> dict[int, int]:
    counts: dict[int, int] = {}
    for week in weeks.values():
        counts[week] = counts.get(week, 0) + 1
    return counts
