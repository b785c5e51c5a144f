"""Taking a presenter slot, the waitlist and withdrawing: a paper never has more presenters than
`papers.capacity`, a student holds at most `papers.max_per_student` papers and waits on at most one
waitlist, and a freed slot goes to the first waiting student who can take it (told by DM, planned in
the same transaction)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db import audit
from bot.db.models import Presenter, WaitlistEntry
from bot.errors import Conflict, NotAllowed
from bot.services import Services, talks
from bot.services.papers.core import (
    Promotion,
    SignupResult,
    WithdrawResult,
    cancel_offers,
    check_number,
    held_papers,
    lock_paper,
    lock_student,
    paper_info,
    presenter_count,
    signup_window,
    talk_text,
    tell,
    waitlist_position,
    write,
)
from bot.services.students import ensure_student


async def sign_up(
    services: Services, *, discord_id: int, discord_name: str | None, joined_at: datetime | None, number: int
) -> SignupResult:
    """Take a presenter slot on paper `number`, or join its waitlist when it is full.

    Raises InvalidInput (bad number), NotFound (unknown paper), NotAllowed (sign-up closed) or
    Conflict (already presenting it, at the paper limit, or already on another waitlist).
    """
    check_number(number)
    limit = services.config.papers.max_per_student
    async with write(services) as session:
        # Read the clock inside the transaction: waitlists are ordered by `since`, so it must follow
        # the order in which sign-ups commit (a transaction may wait for its connection or lock).
        now = services.now()
        window = await signup_window(services, session)
        if not window.is_open:
            raise NotAllowed(window.explain(now))
        await ensure_student(
            session, discord_id=discord_id, discord_name=discord_name, joined_at=min(joined_at or now, now)
        )
        await lock_paper(session, number)
        held = await held_papers(session, discord_id)
        if number in held:
            raise Conflict(f"You already present paper {number}.")
        if len(held) >= limit:
            shown = ", ".join(str(n) for n in held)
            raise Conflict(
                f"You already present paper {shown}; `/signup withdraw` first, or offer a `/signup swap`."
            )
        entry = await session.scalar(select(WaitlistEntry).where(WaitlistEntry.discord_id == discord_id))
        if await presenter_count(session, number) < services.config.papers.capacity:
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
            await talks.replan(services, session)
            return SignupResult(await paper_info(services, session, number), False, None, left)
        if entry is not None:
            if entry.paper_number == number:
                position = await waitlist_position(session, entry)
                raise Conflict(f"You are already on the waitlist of paper {number} (position {position}).")
            raise Conflict(
                f"You are on the waitlist of paper {entry.paper_number}; `/signup withdraw` first (one waitlist at a time)."
            )
        entry = WaitlistEntry(paper_number=number, discord_id=discord_id, since=now)
        session.add(entry)
        await session.flush()
        position = await waitlist_position(session, entry)
        audit(
            session,
            at=now,
            actor_id=discord_id,
            action="signup.waitlist",
            target_id=discord_id,
            paper=number,
            position=position,
        )
        return SignupResult(await paper_info(services, session, number), True, position, None)


async def _promote(services: Services, session: AsyncSession, number: int, now: datetime) -> list[Promotion]:
    """Fill free slots of `number` from its waitlist, first come first served, skipping students
    already at their paper limit. Runs inside the caller's transaction."""
    capacity, limit = services.config.papers.capacity, services.config.papers.max_per_student
    promoted: list[int] = []
    free = capacity - await presenter_count(session, number)
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
        if len(await held_papers(session, entry.discord_id)) >= limit:
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
    info = await paper_info(services, session, number)
    for discord_id in promoted:
        await tell(
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
    async with write(services) as session:
        now = services.now()  # inside the lock: times follow the order of commits
        await lock_student(session, discord_id)
        held = await held_papers(session, discord_id)
        entry = await session.scalar(select(WaitlistEntry).where(WaitlistEntry.discord_id == discord_id))
        if not held and entry is None:
            raise Conflict("You hold no paper and are on no waitlist.")
        promotions: list[Promotion] = []
        for number in held:
            await lock_paper(session, number)
            await session.execute(
                delete(Presenter).where(Presenter.paper_number == number, Presenter.discord_id == discord_id)
            )
            audit(
                session, at=now, actor_id=actor, action="signup.withdraw", target_id=discord_id, paper=number
            )
            await cancel_offers(session, discord_id, now, reason="withdrawn")
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
            await tell(
                session, "paper-unassign", discord_id, f"The staff removed you from paper {listed}.", now
            )
        for number in held:
            promotions += await _promote(services, session, number, now)
        await talks.replan(services, session)
        return WithdrawResult(tuple(held), waitlist_paper, tuple(promotions))
