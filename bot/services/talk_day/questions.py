"""Questions from the room: `/talk ask` (posted by the bot in the talk's thread, anonymous by default)
and the messages students write directly in a thread. Both count as engagement.

Rules: a question goes to a talk whose thread exists and is less than `talks.archive_after_days`
after the talk; not to your own talk; at most `talks.questions_per_talk` asks per student per talk,
one every QUESTION_COOLDOWN. An anonymous question is posted without name, mention or id: only the
database and the audit log (both the staff's) keep who asked. Messages written in a thread are
counted (one row per message, never read: the bot does not need the message content intent), at
most `questions_per_talk` of them per student per talk.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db import audit
from bot.db.engine import dialect_insert
from bot.db.models import Paper, Presenter, TalkQuestion, TalkThread
from bot.errors import InvalidInput, NotAllowed, NotFound
from bot.notify.outbox import Planned, enqueue
from bot.services import Services
from bot.services.students import ensure_student
from bot.services.text import require_visible

TALK_DAY_LOCK = "talk_day"
QUESTION_KIND = "talk_question"
QUESTION_PREFIX = "talk-question:"
QUESTION_MAX = 1500
QUESTION_COOLDOWN = timedelta(seconds=30)


@dataclass(frozen=True)
class Asked:
    """A question stored and promised to the thread (its post is an outbox row)."""

    question_id: int
    paper_number: int
    thread_id: int
    anonymous: bool


@dataclass(frozen=True)
class QuestionPost:
    thread_id: int
    message_id: int | None  # set once posted


def clean_question(text: str) -> str:
    """The question as posted. Raises InvalidInput."""
    question = text.strip()
    require_visible(question, "A question")
    if len(question) > QUESTION_MAX:
        raise InvalidInput(f"A question must be at most {QUESTION_MAX} characters.")
    if "@everyone" in question or "@here" in question:
        raise InvalidInput("A question cannot contain @everyone or @here.")
    return question


def post_text(question: str, asker_id: int, anonymous: bool) -> str:
    """The message the bot posts in the thread: an anonymous one names nobody."""
    quoted = "\n".join(f"> {line}" for line in question.splitlines() or [""])
    if anonymous:
        return f"❓ **A question from the room** (anonymous):\n{quoted}"
    return f"❓ **A question from <@{asker_id}>**:\n{quoted}"


def closes_at(services: Services, thread: TalkThread) -> datetime:
    return thread.starts_at + timedelta(days=services.config.talks.archive_after_days)


async def ask(
    services: Services,
    *,
    paper_number: int,
    asker_id: int,
    asker_name: str | None,
    question: str,
    anonymous: bool = True,
) -> Asked:
    """Store a question and plan its post in the talk's thread, in one transaction (audited with
    the asker, for the staff). Raises InvalidInput, NotFound or NotAllowed."""
    if not services.config.talks.threads:
        raise NotAllowed(
            "Talk threads are off in this course, so questions have nowhere to go: ask in class."
        )
    text = clean_question(question)
    now = services.now()
    limits = services.config.talks
    async with services.db.write(TALK_DAY_LOCK) as session:
        paper = await session.get(Paper, paper_number)
        if paper is None:
            raise NotFound(f"There is no paper {paper_number}; see `/papers`.")
        thread = await session.get(TalkThread, paper_number)
        if thread is None or thread.thread_id is None:
            raise NotAllowed(
                f"The thread of paper {paper_number} is not open yet: it opens "
                f"{limits.thread_lead_hours} hours before the talk."
            )
        if thread.archived_at is not None or now >= closes_at(services, thread):
            raise NotAllowed(f"Questions on paper {paper_number} are closed: its talk was over a week ago.")
        presenting = await session.scalar(
            select(Presenter.id).where(
                Presenter.paper_number == paper_number, Presenter.discord_id == asker_id
            )
        )
        if presenting is not None:
            raise NotAllowed("You present this paper: answer the questions in its thread instead.")
        await ensure_student(session, discord_id=asker_id, discord_name=asker_name, joined_at=now)
        asked, last = (
            await session.execute(
                select(func.count(), func.max(TalkQuestion.created_at)).where(
                    TalkQuestion.asker_id == asker_id,
                    TalkQuestion.paper_number == paper_number,
                    TalkQuestion.source == "ask",
                )
            )
        ).one()
        if asked >= limits.questions_per_talk:
            raise NotAllowed(
                f"You have asked {asked} questions about paper {paper_number}, the most per talk; "
                "write in its thread to follow up."
            )
        if last is not None and now - last < QUESTION_COOLDOWN:
            raise NotAllowed("One question at a time: try again in a few seconds.")
        row = TalkQuestion(
            paper_number=paper_number,
            week=paper.week,
            asker_id=asker_id,
            source="ask",
            anonymous=anonymous,
            text=text,
            created_at=now,
        )
        session.add(row)
        await session.flush()
        await enqueue(
            session,
            Planned(
                f"{QUESTION_PREFIX}{row.id}",
                QUESTION_KIND,
                "thread",
                post_text(text, asker_id, anonymous),
                now,
                event_at=closes_at(services, thread),
            ),
        )
        audit(
            session,
            at=now,
            actor_id=asker_id,
            action="talk.ask",
            paper=paper_number,
            question=row.id,
            anonymous=anonymous,
        )
        return Asked(row.id, paper_number, thread.thread_id, anonymous)


def question_id_of(source_key: str) -> int:
    """The question of a `talk_question` outbox row."""
    return int(source_key.removeprefix(QUESTION_PREFIX))


async def to_post(services: Services, question_id: int) -> QuestionPost | None:
    """Where a question's post goes, and whether it was posted already; None when the question or
    its thread is gone."""
    async with services.db.read() as session:
        row = await session.get(TalkQuestion, question_id)
        if row is None:
            return None
        thread = await session.get(TalkThread, row.paper_number)
        if thread is None or thread.thread_id is None:
            return None
        return QuestionPost(thread.thread_id, row.message_id)


async def posted_message(services: Services, question_id: int) -> int | None:
    """The id of a question's post in the thread, once posted."""
    async with services.db.read() as session:
        return await session.scalar(select(TalkQuestion.message_id).where(TalkQuestion.id == question_id))


async def record_posted(services: Services, question_id: int, message_id: int) -> None:
    """The bot posted the question: remember the message (for the asker's link)."""
    async with services.db.write(TALK_DAY_LOCK) as session:
        row = await session.get(TalkQuestion, question_id, with_for_update=True)
        if row is not None and row.message_id is None:
            row.message_id = message_id


async def record_thread_message(
    services: Services, *, thread_id: int, author_id: int, author_name: str | None, message_id: int
) -> bool:
    """A student wrote in a talk's thread: one question for engagement (a presenter answering in
    their own thread, or a message after the thread closed, does not count). Idempotent per
    message (a replayed gateway event counts once). True when it was counted."""
    now = services.now()
    async with services.db.write(TALK_DAY_LOCK) as session:
        thread = await session.scalar(select(TalkThread).where(TalkThread.thread_id == thread_id))
        if thread is None or now >= closes_at(services, thread):
            return False
        presenter = await session.scalar(
            select(Presenter.id).where(
                Presenter.paper_number == thread.paper_number, Presenter.discord_id == author_id
            )
        )
        paper = await session.get(Paper, thread.paper_number)
        if presenter is not None or paper is None:
            return False
        await ensure_student(session, discord_id=author_id, discord_name=author_name, joined_at=now)
        result = await session.execute(
            dialect_insert(session)(TalkQuestion)
            .values(
                paper_number=thread.paper_number,
                week=paper.week,
                asker_id=author_id,
                source="thread",
                anonymous=False,
                text="",
                message_id=message_id,
                created_at=now,
            )
            .on_conflict_do_nothing(index_elements=["message_id"])
        )
        counted = bool(result.rowcount)  # type: ignore[attr-defined]
        if counted:
            audit(
                session,
                at=now,
                actor_id=author_id,
                action="talk.thread_message",
                paper=thread.paper_number,
                message=message_id,
            )
        return counted


async def forget_thread_message(services: Services, message_id: int) -> bool:
    """A message counted from a thread was deleted: it no longer counts. True when one was."""
    async with services.db.write(TALK_DAY_LOCK) as session:
        row = await session.scalar(
            select(TalkQuestion).where(TalkQuestion.message_id == message_id, TalkQuestion.source == "thread")
        )
        if row is None:
            return False
        await session.execute(delete(TalkQuestion).where(TalkQuestion.id == row.id))
        audit(
            session,
            at=services.now(),
            actor_id=row.asker_id,
            action="talk.thread_message_deleted",
            paper=row.paper_number,
            message=message_id,
        )
        return True


async def questions_asked(
    session: AsyncSession, *, cap: int, week: int | None = None, students: Iterable[int] = ()
) -> dict[int, int]:
    """Questions each student asked (engagement), in one week or in all: every `/talk ask`, plus
    the messages they wrote in each talk's thread, at most `cap` per talk. Students in `students`
    without any question are in the result with 0. Raises the database's errors."""
    query = select(
        TalkQuestion.asker_id, TalkQuestion.paper_number, TalkQuestion.source, func.count()
    ).group_by(TalkQuestion.asker_id, TalkQuestion.paper_number, TalkQuestion.source)
    if week is not None:
        query = query.where(TalkQuestion.week == week)
    counts = dict.fromkeys(students, 0)
    for asker, _paper, source, count in (await session.execute(query)).all():
        counts[asker] = counts.get(asker, 0) + (min(count, cap) if source == "thread" else count)
    return counts


async def open_talks(services: Services) -> list[tuple[int, str]]:
    """(paper number, title) of the talks taking questions now (for autocomplete)."""
    now = services.now()
    async with services.db.read() as session:
        rows = (
            await session.execute(
                select(TalkThread, Paper.title)
                .join(Paper, Paper.number == TalkThread.paper_number)
                .where(TalkThread.thread_id.is_not(None), TalkThread.archived_at.is_(None))
                .order_by(TalkThread.starts_at, TalkThread.paper_number)
            )
        ).all()
    return [(thread.paper_number, title) for thread, title in rows if now < closes_at(services, thread)]


async def thread_ids(services: Services) -> set[int]:
    """Every talk thread's id (to tell which messages are written in one)."""
    async with services.db.read() as session:
        ids = (await session.scalars(select(TalkThread.thread_id))).all()
    return {thread_id for thread_id in ids if thread_id is not None}
