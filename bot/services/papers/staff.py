"""The staff's side of the paper list: forcing sign-up open or closed, adding, editing and removing
papers (a new paper without a week goes to the first talk week with room), and placing or removing
a presenter by hand; whoever a change concerns is told by DM, planned in its transaction."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db import audit
from bot.db.models import Paper, Presenter, WaitlistEntry
from bot.db.settings import put_setting
from bot.errors import Conflict, InvalidInput
from bot.services import Services, talks
from bot.services.papers.core import (
    SIGNUP_OVERRIDE,
    PaperInfo,
    Window,
    WithdrawResult,
    cancel_offers,
    check_number,
    held_papers,
    lock_paper,
    paper_info,
    presenter_count,
    signup_window,
    talk_text,
    tell,
    write,
)
from bot.services.papers.signups import withdraw
from bot.services.students import ensure_student

TITLE_MAX, AUTHORS_MAX, URL_MAX = 300, 500, 500


# ---- staff -----------------------------------------------------------------------------------
async def set_signup_override(services: Services, *, actor_id: int, state: str) -> Window:
    """Force sign-up "open" or "closed" (or "schedule" to follow the configured dates)."""
    if state not in ("open", "closed", "schedule"):
        raise InvalidInput("State must be open, closed or schedule.")
    now = services.now()
    async with write(services) as session:
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
    async with write(services) as session:
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
        await talks.replan(services, session)
        return await paper_info(services, session, fields.number), existing is None


async def remove_paper(services: Services, *, actor_id: int, number: int) -> PaperInfo:
    """Remove a paper with its presenters and waitlist; each of them is told by DM (planned with the
    removal). Raises NotFound."""
    check_number(number)
    now = services.now()
    async with write(services) as session:
        await lock_paper(session, number)
        info = await paper_info(services, session, number)
        for discord_id in info.presenters:
            await cancel_offers(session, discord_id, now, reason=f"paper {number} removed")
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
            await tell(session, f"paper-remove:{number}", discord_id, text, now)
        await talks.replan(services, session)
        return info


async def assign(
    services: Services, *, actor_id: int, discord_id: int, discord_name: str | None, number: int
) -> PaperInfo:
    """Place a presenter by hand (ignores the sign-up window, not the capacity or the paper limit).
    Also takes them off any waitlist; they are told by DM. Raises NotFound or Conflict."""
    check_number(number)
    now = services.now()
    async with write(services) as session:
        await ensure_student(session, discord_id=discord_id, discord_name=discord_name, joined_at=now)
        await lock_paper(session, number)
        held = await held_papers(session, discord_id)
        if number in held:
            raise Conflict(f"They already present paper {number}.")
        if len(held) >= services.config.papers.max_per_student:
            raise Conflict(f"They already present paper {', '.join(map(str, held))}; unassign them first.")
        if await presenter_count(session, number) >= services.config.papers.capacity:
            raise Conflict(f"Paper {number} is full; unassign someone first.")
        await session.execute(delete(WaitlistEntry).where(WaitlistEntry.discord_id == discord_id))
        session.add(Presenter(paper_number=number, discord_id=discord_id, since=now))
        audit(session, at=now, actor_id=actor_id, action="paper.assign", target_id=discord_id, paper=number)
        await talks.replan(services, session)
        await session.flush()
        info = await paper_info(services, session, number)
        await tell(
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
        if not await held_papers(session, discord_id):
            raise Conflict("They do not present any paper.")
    return await withdraw(services, discord_id=discord_id, actor_id=actor_id)
