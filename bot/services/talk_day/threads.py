"""The thread of each talk, as outbox rows planned from the talk schedule (bot/services/talks.py).

With `[talks] threads`, each talk with presenters gets a `talk_thread` row due `thread_lead_hours`
before it; its delivery (Discord-side, attached by the talks cog) creates the thread idempotently
and records it here. While the thread is open, a change of its first message (a swap, a
withdrawal, slides) plans a `talk_thread_edit` row; `archive_after_days` after the talk a
`talk_thread_archive` row archives it. All of it is planned inside the transaction of the change
(`replan_threads`, called from `talks.replan`) and again at start-up (the kinds registered here),
so a crash never loses or doubles a thread. Optionally, on each talk day at
`talks.engagement_reminder`, one DM goes to the students with no review and no question that week.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.calendar import parse_hhmm
from bot.db import audit
from bot.db.models import Paper, Presenter, TalkSlides, TalkThread
from bot.notify.kinds import ReminderKind, ReminderKinds
from bot.notify.outbox import OUTBOX_LOCK, Claimed, Planned, ReplanResult, enqueue, replan, staff_note
from bot.services import Services
from bot.services.reviews import students_without_engagement
from bot.services.talk_day.questions import QUESTION_KIND, TALK_DAY_LOCK
from bot.services.talks import TalkSlot, talk_slots
from bot.services.text import stamp

THREAD_KIND, EDIT_KIND, ARCHIVE_KIND = "talk_thread", "talk_thread_edit", "talk_thread_archive"
ENGAGEMENT_KIND = "engagement_reminder"
THREAD_PREFIX, EDIT_PREFIX = "talk-thread:", "talk-thread-edit:"
ARCHIVE_PREFIX, ENGAGEMENT_PREFIX = "talk-thread-archive:", "engagement-reminder:"
PROBLEM_PREFIX = "talk-thread-problem:"
NAME_MAX = 100  # Discord's limit on a thread's name


@dataclass(frozen=True)
class SlidesFile:
    filename: str
    data: bytes


@dataclass(frozen=True)
class ThreadState:
    """What Discord has, as recorded."""

    channel_id: int
    forum: bool
    starter_channel_id: int | None
    starter_message_id: int | None
    thread_id: int | None
    revision: int
    slides_revision: int  # of the file the first message carries (0: none)
    archived: bool


@dataclass(frozen=True)
class ThreadPost:
    """A talk's thread as it should look now."""

    number: int
    name: str  # "Paper 12 — Title", within Discord's 100 characters
    content: str  # the first message
    presenters: tuple[int, ...]  # the only members its mentions may ping
    starts_at: datetime
    slides_revision: int  # of the slides file (0: no file)
    state: ThreadState | None


def thread_name(number: int, title: str) -> str:
    name = f"Paper {number} — {title}"
    return name if len(name) <= NAME_MAX else name[: NAME_MAX - 1] + "…"


def number_of(source_key: str) -> int:
    """The paper of a thread, edit or archive row (`talk-thread:12`, `talk-thread-edit:12:3`)."""
    for prefix in (THREAD_PREFIX, EDIT_PREFIX, ARCHIVE_PREFIX):
        if source_key.startswith(prefix):
            return int(source_key.removeprefix(prefix).split(":")[0])
    raise ValueError(f"{source_key!r} is not a talk thread's row")


def first_message(
    services: Services,
    *,
    paper: Paper,
    slot: TalkSlot | None,
    presenters: Sequence[int],
    slides: TalkSlides | None,
) -> str:
    """The thread's first message: the paper, its presenters (mentions), the time, the paper's
    link and the slides."""
    lines = [f"🎤 **{thread_name(paper.number, paper.title)}**"]
    lines.append(
        "Presenters: "
        + (", ".join(f"<@{p}>" for p in presenters) if presenters else "none (the slot is open)")
    )
    if slot is not None:
        talks = services.config.papers
        lines.append(f"Talk: {stamp(slot.starts_at)} · {talks.talk_minutes} min + {talks.qa_minutes} min Q&A")
    if paper.url:
        lines.append(f"Paper: {paper.url}")
    if slides is None:
        lines.append("Slides: not attached yet (presenters: `/talk slides`).")
    elif slides.url:
        lines.append(f"Slides: {slides.url}")
    else:
        lines.append(f"Slides: 📎 {slides.filename} (attached to this message)")
    lines.append(
        f"Questions: write them here, or `/talk ask paper:{paper.number}` (anonymous unless you say otherwise)."
    )
    return "\n".join(lines)[:2000]


def _state(row: TalkThread | None) -> ThreadState | None:
    if row is None:
        return None
    return ThreadState(
        row.channel_id,
        row.forum,
        row.starter_channel_id,
        row.starter_message_id,
        row.thread_id,
        row.revision,
        row.slides_revision,
        row.archived_at is not None,
    )


async def _post(
    services: Services, session: AsyncSession, number: int, slots: dict[int, TalkSlot] | None = None
) -> ThreadPost | None:
    """The thread of paper `number` as it should look now; None when the paper is gone."""
    paper = await session.get(Paper, number)
    if paper is None:
        return None
    if slots is None:
        slots = await talk_slots(session, services.calendar, [paper.week])
    slot = slots.get(number)
    presenters = tuple(
        (
            await session.scalars(
                select(Presenter.discord_id).where(Presenter.paper_number == number).order_by(Presenter.id)
            )
        ).all()
    )
    slides = await session.get(TalkSlides, number)
    row = await session.get(TalkThread, number)
    content = first_message(services, paper=paper, slot=slot, presenters=presenters, slides=slides)
    starts = slot.starts_at if slot else services.calendar.talk_starts_at(paper.week)
    revision = slides.revision if slides is not None and slides.data is not None else 0
    return ThreadPost(
        number, thread_name(number, paper.title), content, presenters, starts, revision, _state(row)
    )


async def _sync(services: Services, session: AsyncSession, row: TalkThread, post: ThreadPost) -> bool:
    """The first message should change (content, or the slides file): plan one edit. True if so."""
    row.starts_at = post.starts_at
    pending_edit = row.shown_revision != row.revision
    if post.content == row.content and (post.slides_revision == row.slides_revision or pending_edit):
        return False
    row.content = post.content
    if row.thread_id is None:  # not created yet: its creation shows the latest
        return False
    row.revision += 1
    closes = post.starts_at + timedelta(days=services.config.talks.archive_after_days)
    await enqueue(
        session,
        Planned(
            f"{EDIT_PREFIX}{row.paper_number}:{row.revision}",
            EDIT_KIND,
            "thread",
            post.content,
            services.now(),
            event_at=closes,
        ),
    )
    return True


async def replan_threads(services: Services, session: AsyncSession) -> ReplanResult:
    """Thread, edit and archive rows as the papers, presenters and slides are now (inside the
    caller's transaction; idempotent)."""
    await session.flush()
    talks = services.config.talks
    slots = await talk_slots(session, services.calendar)
    presenting = set((await session.scalars(select(Presenter.paper_number))).all())
    threads = {row.paper_number: row for row in (await session.scalars(select(TalkThread))).all()}
    lead, keep = timedelta(hours=talks.thread_lead_hours), timedelta(days=talks.archive_after_days)
    now = services.now()
    wanted: list[Planned] = []
    archives: list[Planned] = []
    for number, slot in sorted(slots.items()):
        row = threads.get(number)
        if number not in presenting and row is None:
            continue
        post = await _post(services, session, number, slots)
        if post is None:
            continue
        missing = row is None or row.thread_id is None
        if talks.threads and number in presenting and missing and now < slot.starts_at + keep:
            # Due at the lead time, or now if that has passed: a thread that could not be made then
            # (a permission missing, fixed since) is tried again at the next re-plan (a restart, a
            # change of papers), not given up for good.
            wanted.append(
                Planned(
                    f"{THREAD_PREFIX}{number}",
                    THREAD_KIND,
                    "thread",
                    post.content,
                    max(slot.starts_at - lead, now),
                    event_at=slot.starts_at + keep,
                )
            )
        if row is not None:
            await _sync(services, session, row, post)
        if talks.threads or row is not None:
            archives.append(
                Planned(f"{ARCHIVE_PREFIX}{number}", ARCHIVE_KIND, "thread", "", slot.starts_at + keep)
            )
    created = await replan(session, prefix=THREAD_PREFIX, desired=wanted, now=now)
    await replan(session, prefix=ARCHIVE_PREFIX, desired=archives, now=now)
    return created


async def replan_all(services: Services, session: AsyncSession) -> None:
    """Papers or presenters changed: the threads and the engagement reminders follow (inside the
    caller's transaction; called from `talks.replan`)."""
    await replan_threads(services, session)
    await replan_engagement_reminders(services, session)


async def sync_thread(services: Services, session: AsyncSession, number: int) -> bool:
    """After a change to one talk (its slides): plan an edit of its thread's first message when it
    shows something else now (inside the caller's transaction). True when one was planned."""
    row = await session.get(TalkThread, number, with_for_update=True)
    post = await _post(services, session, number)
    if row is None or post is None:
        return False
    return await _sync(services, session, row, post)


# ---- what the delivery (the talks cog) reads and records ---------------------------------------
async def wanted_post(services: Services, number: int) -> ThreadPost | None:
    """Paper `number`'s thread as it should look now, with what Discord has; None when the paper
    is gone."""
    async with services.db.read() as session:
        return await _post(services, session, number)


async def slides_file(services: Services, number: int) -> SlidesFile | None:
    """The slides file the bot keeps for paper `number` (None for a link or no slides)."""
    async with services.db.read() as session:
        slides = await session.get(TalkSlides, number)
        if slides is None or slides.data is None or not slides.filename:
            return None
        return SlidesFile(slides.filename, slides.data)


async def record_starter(
    services: Services,
    number: int,
    *,
    notification_id: int,
    channel_id: int,
    forum: bool,
    starter_channel_id: int,
    starter_message_id: int,
    starts_at: datetime,
) -> None:
    """The first message exists (in a text channel, before its thread; a forum post's with it)."""
    async with services.db.write(TALK_DAY_LOCK) as session:
        row = await session.get(TalkThread, number, with_for_update=True)
        if row is None:
            row = TalkThread(paper_number=number, starts_at=starts_at, content="")
            session.add(row)
        row.notification_id, row.channel_id, row.forum = notification_id, channel_id, forum
        row.starter_channel_id, row.starter_message_id = starter_channel_id, starter_message_id


async def record_thread(
    services: Services,
    number: int,
    *,
    thread_id: int,
    content: str,
    slides_revision: int,
    notification_id: int,
    channel_id: int,
    forum: bool,
    starter_channel_id: int,
    starter_message_id: int,
) -> None:
    """The thread exists: remember it (audited); if the talk changed while it was being made, its
    first message is edited next."""
    now = services.now()
    async with services.db.write(TALK_DAY_LOCK) as session:
        row = await session.get(TalkThread, number, with_for_update=True)
        if row is None:
            row = TalkThread(paper_number=number, starts_at=now, content="")
            session.add(row)
        row.notification_id, row.channel_id, row.forum = notification_id, channel_id, forum
        row.starter_channel_id, row.starter_message_id = starter_channel_id, starter_message_id
        row.thread_id, row.created_at, row.content = thread_id, now, content
        row.revision = row.shown_revision = 0
        row.slides_revision = slides_revision
        await session.flush()
        audit(session, at=now, actor_id=None, action="talk.thread", paper=number, thread=thread_id)
        post = await _post(services, session, number)
        if post is not None:
            await _sync(services, session, row, post)


async def record_shown(services: Services, number: int, *, content: str, slides_revision: int) -> None:
    """The first message was edited to `content` (and carries that slides file)."""
    async with services.db.write(TALK_DAY_LOCK) as session:
        row = await session.get(TalkThread, number, with_for_update=True)
        if row is None:
            return
        row.shown_revision, row.slides_revision = row.revision, slides_revision
        post = await _post(services, session, number)
        if post is not None and post.content != content:
            row.content = content  # something changed again since: one more edit
            await _sync(services, session, row, post)


async def record_archived(services: Services, number: int) -> None:
    async with services.db.write(TALK_DAY_LOCK) as session:
        row = await session.get(TalkThread, number, with_for_update=True)
        if row is not None and row.archived_at is None:
            row.archived_at = services.now()
            audit(session, at=row.archived_at, actor_id=None, action="talk.thread_archived", paper=number)


async def report_problem(services: Services, number: int, reason: str) -> None:
    """A thread cannot be made (a permission missing, no such channel): one line in ta-log per
    talk, through the outbox."""
    async with services.db.write(OUTBOX_LOCK) as session:
        await enqueue(
            session,
            staff_note(
                f"{PROBLEM_PREFIX}{number}",
                f"⚠️ The thread of paper {number} could not be made: {reason}",
                services.now(),
            ),
        )


# ---- the kinds, and the engagement reminder ------------------------------------------------------
def engagement_plans(services: Services, weeks: Sequence[int]) -> list[Planned]:
    """On each talk day at `talks.engagement_reminder`: one DM to those with no engagement."""
    at_text = services.config.talks.engagement_reminder
    if not at_text:
        return []
    at = parse_hhmm(at_text)
    plans = []
    for week in weeks:
        day = services.calendar.talk_date(week)
        closes = services.calendar.at(day + timedelta(days=1), time(0, 0))
        text = (
            "🙋 Engagement in others' talks is part of the talk grade: today's talks can still be "
            "peer-reviewed (`/review talk`) and asked about (`/talk ask`, anonymous by default)."
        )
        plans.append(
            Planned(
                f"{ENGAGEMENT_PREFIX}{week}",
                ENGAGEMENT_KIND,
                "dm_all",
                text,
                services.calendar.at(day, at),
                closes,
                category="presentation",
            )
        )
    return plans


async def replan_engagement_reminders(services: Services, session: AsyncSession) -> ReplanResult:
    weeks = sorted(set((await session.scalars(select(Paper.week))).all()))
    return await replan(
        session,
        prefix=ENGAGEMENT_PREFIX,
        desired=engagement_plans(services, weeks),
        now=services.now(),
    )


def register_kinds(services: Services, kinds: ReminderKinds) -> None:
    """The thread rows (their delivery is attached by the talks cog), the question posts, and the
    engagement reminder (only to students with no review and no question that week)."""

    async def no_engagement(row: Claimed, candidates: Sequence[int]) -> list[int]:
        week = int(row.source_key.removeprefix(ENGAGEMENT_PREFIX).split(":")[0])
        return await students_without_engagement(services, week, candidates)

    kinds.register(ReminderKind(THREAD_KIND, plan=lambda session: replan_all(services, session)))
    kinds.register(ReminderKind(EDIT_KIND))
    kinds.register(ReminderKind(ARCHIVE_KIND))
    kinds.register(ReminderKind(QUESTION_KIND))
    kinds.register(ReminderKind(ENGAGEMENT_KIND, recipients=no_engagement))
