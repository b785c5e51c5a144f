"""The talk schedule and everything derived from it. Each paper is talked about in its week, on the
week's talk day, the week's papers in number order and back to back from the lecture's start:
`talk_slots` is the one place that order and start are computed (papers, the gradebook and the
reminders all read it). From the schedule come the presenters' talk reminders and, after each talk
day, the reminder to peer-review that day's talks; `replan` re-plans both inside the transaction of
any change of papers or presenters, and the kinds registered here re-plan them at start-up.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.calendar import CourseCalendar, parse_hhmm
from bot.config import Config
from bot.db.models import Paper, Presenter
from bot.notify.kinds import ReminderKind, ReminderKinds
from bot.notify.outbox import Claimed, Planned, ReplanResult
from bot.notify.outbox import replan as replan_rows
from bot.services import Services, cache
from bot.services.reviews import students_without_review
from bot.services.text import offset_label, stamp

TALK_KIND, REVIEW_REMINDER_KIND = "talk", "review_reminder"
REVIEW_REMINDER_PREFIX = "review-reminder:"


@dataclass(frozen=True)
class TalkSlot:
    number: int  # the paper
    week: int
    order: int  # 0-based position among the week's talks
    starts_at: datetime


def schedule(papers: Iterable[tuple[int, int]], calendar: CourseCalendar) -> dict[int, TalkSlot]:
    """The slot of each (paper number, week): a week's talks in number order, back to back."""
    slots: dict[int, TalkSlot] = {}
    counters: dict[int, int] = {}
    for number, week in sorted(papers, key=lambda paper: (paper[1], paper[0])):
        order = counters.get(week, 0)
        counters[week] = order + 1
        slots[number] = TalkSlot(number, week, order, calendar.talk_starts_at(week, order))
    return slots


async def talk_slots(
    session: AsyncSession, calendar: CourseCalendar, weeks: Collection[int] | None = None
) -> dict[int, TalkSlot]:
    """Every paper's slot by paper number (or only the papers of `weeks`), as the papers are now."""
    query = select(Paper.number, Paper.week)
    if weeks is not None:
        query = query.where(Paper.week.in_(weeks))
    rows = (await session.execute(query)).all()
    return schedule(((number, week) for number, week in rows), calendar)


async def replan(services: Services, session: AsyncSession) -> None:
    """Papers or presenters changed: the talk reminders and the review reminders follow, inside the
    caller's transaction."""
    await session.flush()
    await replan_talks(session, config=services.config, calendar=services.calendar, now=services.now())
    await replan_review_reminders(services, session)
    from bot.services.talk_day import threads  # it reads the schedule from here: imported late

    await threads.replan_all(services, session)  # each talk's thread and its first message
    cache.changed(services, session, cache.BOARD)  # the talk days' events follow (the calendar listens)


def register_kinds(services: Services, kinds: ReminderKinds) -> None:
    """The presenters' talk reminders, and the review reminder, which goes only to the students who
    have not reviewed a talk of that week yet (and present none that week)."""

    async def not_reviewed_yet(row: Claimed, candidates: Sequence[int]) -> list[int]:
        week = int(row.source_key.removeprefix(REVIEW_REMINDER_PREFIX).split(":")[0])
        return await students_without_review(services, week, candidates)

    kinds.register(
        ReminderKind(
            TALK_KIND,
            plan=lambda session: replan_talks(
                session, config=services.config, calendar=services.calendar, now=services.now()
            ),
        )
    )
    kinds.register(
        ReminderKind(
            REVIEW_REMINDER_KIND,
            plan=lambda session: replan_review_reminders(services, session),
            recipients=not_reviewed_yet,
        )
    )


# ---- the presenters' reminders ------------------------------------------------------------------
def talk_plans(
    config: Config, calendar: CourseCalendar, talks: Iterable[tuple[int, str, int, int, int]]
) -> list[Planned]:
    """`talks`: (paper number, title, week, order in the week, presenter id)."""
    reminders = config.reminders
    morning = parse_hhmm(reminders.talk_morning) if reminders.talk_morning else None
    plans = []
    for number, title, week, order, presenter in talks:
        starts = calendar.talk_starts_at(week, order)
        text = f"🎤 Your talk on paper {number} — {title} is {stamp(starts)} (talk #{order + 1} of the day)."
        moments = [(offset_label(offset), starts - offset) for offset in reminders.talk_remind]
        if morning is not None and calendar.at(calendar.talk_date(week), morning) < starts:
            moments.append(("morning", calendar.at(calendar.talk_date(week), morning)))
        for label, due in moments:
            key = f"talk:{number}:{presenter}:{label}"
            plans.append(
                Planned(key, TALK_KIND, "dm", text, due, starts, category="presentation", user_id=presenter)
            )
    return plans


async def replan_talks(
    session: AsyncSession, *, config: Config, calendar: CourseCalendar, now: datetime
) -> ReplanResult:
    """Talk reminders for the presenters as they are now (call after any change of presenters)."""
    slots = await talk_slots(session, calendar)
    titles = {
        number: title for number, title in (await session.execute(select(Paper.number, Paper.title))).all()
    }
    presenters = (await session.execute(select(Presenter.paper_number, Presenter.discord_id))).all()
    talks = [
        (number, titles[number], slots[number].week, slots[number].order, discord_id)
        for number, discord_id in presenters
        if number in slots
    ]
    return await replan_rows(session, prefix="talk:", desired=talk_plans(config, calendar, talks), now=now)


# ---- the reminder after each talk day ------------------------------------------------------------
def review_reminder_plans(services: Services, weeks: Sequence[int]) -> list[Planned]:
    """On each talk day at `reviews.reminder_time`: the students are reminded to review its talks."""
    text_time = services.config.reviews.reminder_time
    if not text_time:
        return []
    at = parse_hhmm(text_time)
    plans = []
    for week in weeks:
        day = services.calendar.talk_date(week)
        due = services.calendar.at(day, at)
        closes = services.calendar.at(
            day + timedelta(days=services.config.reviews.talk_window_days), time(0, 0)
        )
        text = (
            f"📝 Today's student talks can be peer-reviewed until <t:{int(closes.timestamp())}:F>: "
            "`/review talk paper:NUMBER` (clarity of the question, the solution, the limitations; 1–5 each)."
        )
        plans.append(
            Planned(
                f"{REVIEW_REMINDER_PREFIX}{week}",
                REVIEW_REMINDER_KIND,
                "dm_all",
                text,
                due,
                closes,
                category="presentation",
            )
        )
    return plans


async def replan_review_reminders(services: Services, session: AsyncSession) -> ReplanResult:
    """One review reminder per week that has papers (inside the caller's transaction)."""
    weeks = sorted(set((await session.scalars(select(Paper.week))).all()))
    return await replan_rows(
        session,
        prefix=REVIEW_REMINDER_PREFIX,
        desired=review_reminder_plans(services, weeks),
        now=services.now(),
    )
