"""Talk day through discord.py and simcord: the thread of each talk (a thread from a starter message
in a text channel, or a forum post), made by the dispatcher at the lead time and once only, its
first message naming the presenters and updated on a swap; `/talk slides` (presenters only, shown
in the thread, `/papers` and `/schedule week`); `/talk ask` (anonymous by default, its reply links to
the post); messages written in a thread counting as engagement in `/ta reviews` and `/review mine`.
"""

from __future__ import annotations

from datetime import timedelta

import discord
import pytest
from sqlalchemy import select

from bot.clock import Clock
from bot.config import Config
from bot.db.models import AuditEntry, Notification, TalkQuestion, TalkThread
from bot.services import papers
from tests.cogs.conftest import Course, one_line, reply_of, reply_text
from tests.conftest import ROOT, seoul

SAMPLE = (ROOT / "data" / "papers.sample.csv").read_bytes()
TALK_1 = seoul(2025, 4, 30, 11, 0)
PDF = b"%PDF-1.7\n" + b"x" * 1000


@pytest.fixture
def config(config: Config) -> Config:
    """The course with talk threads on, in the `talks` channel."""
    return config.model_copy(update={"talks": config.talks.model_copy(update={"threads": True})})


async def deliver(course: Course) -> None:
    """Send whatever is due now (after a run a command woke, if any)."""
    dispatcher = course.bot.dispatcher
    async with dispatcher._lock:
        pass
    await dispatcher.run()
    await course.env.settle()


async def setup_talks(course: Course, clock: Clock, *, forum: bool = False) -> None:
    """A `talks` channel; papers published; Alice presents paper 1, Bob paper 2."""
    if forum:
        course.channels["talks"] = course.guild.create_forum_channel("talks")
    else:
        course.channels["talks"] = course.guild.create_text_channel("talks")
    course.add("dave")
    services = course.bot.services
    await papers.import_papers(services, actor_id=None, data=SAMPLE)
    for name, number in (("alice", 1), ("bob", 2)):
        member = course.members[name]
        await papers.assign(services, actor_id=None, discord_id=member.id, discord_name=name, number=number)
    await course.env.settle()


def starter(course: Course, number: int = 1) -> discord.Message:
    """The first message of paper `number`'s thread (in a text channel: the thread's starter)."""
    [thread] = [t for t in course.channels["talks"].threads if (t.name or "").startswith(f"Paper {number} ")]
    return next(m for m in course.channels["talks"].history() if m.id == thread.id)


async def open_thread(course: Course, clock: Clock, *, forum: bool = False) -> None:
    await setup_talks(course, clock, forum=forum)
    clock.set(TALK_1 - timedelta(hours=24))
    await deliver(course)


async def test_the_thread_is_made_at_the_lead_time_once_in_a_text_channel(
    course: Course, clock: Clock
) -> None:
    await setup_talks(course, clock)
    clock.set(TALK_1 - timedelta(hours=25))
    await deliver(course)
    assert course.channels["talks"].threads == []  # not yet
    clock.set(TALK_1 - timedelta(hours=24))
    await deliver(course)
    [thread] = course.channels["talks"].threads
    assert thread.name == "Paper 1 — Deduplicating Training Data Makes Language Models Better"
    first = starter(course)
    alice = course.members["alice"]
    assert f"<@{alice.id}>" in first.content and f"<t:{int(TALK_1.timestamp())}:F>" in first.content
    assert "https://arxiv.org/abs/2107.06499" in first.content
    assert {u.id for u in first.mentions} == {alice.id}  # only the presenters are pinged
    await course.restart()
    await deliver(course)
    assert len(course.channels["talks"].threads) == 1  # a restart never doubles it
    clock.set(TALK_1 + timedelta(minutes=1))  # paper 2's thread is due at 11:25 the day before
    await deliver(course)
    assert len(course.channels["talks"].threads) == 2


async def test_a_forum_channel_gets_a_post_per_talk(course: Course, clock: Clock) -> None:
    await open_thread(course, clock, forum=True)
    [post] = course.channels["talks"].threads
    assert post.name.startswith("Paper 1 — ")
    [first] = post.history()
    assert f"<@{course.members['alice'].id}>" in first.content


async def test_without_the_permission_one_line_goes_to_ta_log_and_a_restart_tries_again(
    course: Course, clock: Clock
) -> None:
    await setup_talks(course, clock)
    channel = course.bot.get_channel(course.channels["talks"].id)
    assert isinstance(channel, discord.TextChannel)
    me = course.guild.me
    assert me is not None
    await channel.set_permissions(me, create_public_threads=False, send_messages=True)
    clock.set(TALK_1 - timedelta(hours=24))
    await deliver(course)
    await deliver(course)
    log = [m.content for m in course.channels["ta-log"].history()]
    [line] = [text for text in log if "paper 1 could not be made" in text]
    assert "Create Public Threads" in line
    async with course.bot.services.db.read() as session:
        row = await session.scalar(select(Notification).where(Notification.source_key == "talk-thread:1"))
        assert row is not None and row.status == "skipped"
    await channel.set_permissions(me, create_public_threads=True, send_messages=True)  # fixed
    clock.set(TALK_1 - timedelta(hours=20))  # hours after the lead time
    await course.restart()  # a restart (or any change of papers) tries again
    await deliver(course)
    names = sorted(t.name or "" for t in course.channels["talks"].threads)
    assert [name[:8] for name in names] == ["Paper 1 ", "Paper 2 "]  # paper 2's was due meanwhile
    log = [m.content for m in course.channels["ta-log"].history()]
    assert len([text for text in log if "paper 1 could not be made" in text]) == 1  # said once


async def test_a_swap_updates_the_first_message(course: Course, clock: Clock) -> None:
    await open_thread(course, clock)
    services = course.bot.services
    await papers.unassign(services, actor_id=None, discord_id=course.members["alice"].id)
    carol = course.members["carol"]
    await papers.assign(services, actor_id=None, discord_id=carol.id, discord_name="carol", number=1)
    await deliver(course)
    first = starter(course)
    assert f"<@{carol.id}>" in first.content and f"<@{course.members['alice'].id}>" not in first.content


async def test_slides_from_a_presenter_show_in_the_thread_and_the_boards(
    course: Course, clock: Clock
) -> None:
    await open_thread(course, clock)
    alice = course.members["alice"]
    result = await alice.slash(course.channel, "talk slides", file=("dedup.pdf", PDF))
    text = reply_text(result)
    assert text.startswith("Slides of paper 1 attached: 📎 [dedup.pdf](https://discord.com/channels/")
    await deliver(course)
    first = starter(course)
    assert [a.filename for a in first.attachments] == ["dedup.pdf"]
    assert "Slides: 📎 dedup.pdf" in first.content
    board = reply_of(await alice.slash(course.channel, "papers", week=9)).embeds[0].description or ""
    assert "📎 [dedup.pdf](" in board
    week = reply_of(await alice.slash(course.channel, "schedule", week=9)).embeds[0]
    assert any("📎 [dedup.pdf](" in (f.value or "") for f in week.fields)
    again = await alice.slash(course.channel, "talk slides", url="https://example.org/deck")
    assert one_line(again).startswith("Slides of paper 1 replaced: [slides](https://example.org/deck)")
    await deliver(course)
    first = starter(course)
    assert first.attachments == [] and "Slides: https://example.org/deck" in first.content
    download = await course.members["carol"].slash(course.channel, "talk download", paper=1)
    assert one_line(download) == "The slides of paper 1: https://example.org/deck"


async def test_a_non_presenter_or_a_wrong_file_is_refused(course: Course, clock: Clock) -> None:
    await open_thread(course, clock)
    carol = course.members["carol"]
    refused = await carol.slash(course.channel, "talk slides", file=("x.pdf", PDF))
    assert one_line(refused) == "Only a presenter of a coming talk can attach slides, and you present none."
    wrong = await course.members["alice"].slash(course.channel, "talk slides", file=("x.exe", b"MZ"))
    assert one_line(wrong).startswith("Slides must be a PDF, PPTX or KEY file")
    async with course.bot.services.db.read() as session:
        assert (
            await session.scalars(select(AuditEntry).where(AuditEntry.action == "talk.slides"))
        ).all() == []


async def test_an_anonymous_question_is_posted_without_a_name(course: Course, clock: Clock) -> None:
    await open_thread(course, clock)
    clock.set(TALK_1 + timedelta(minutes=10))
    carol = course.members["carol"]
    result = await carol.slash(course.channel, "talk ask", paper=1, question="Does dedup hurt rare facts?")
    await course.env.settle()
    [thread] = course.channels["talks"].threads
    [post] = thread.history()
    assert post.content == "❓ **A question from the room** (anonymous):\n> Does dedup hurt rare facts?"
    assert str(carol.id) not in post.content and "carol" not in post.content.lower()
    assert post.author.id == course.bot.user.id
    assert reply_text(result) == f"Your question on paper 1 is posted anonymously: {post.jump_url}"


async def test_written_messages_and_asks_count_in_the_staff_view_and_review_mine(
    course: Course, clock: Clock
) -> None:
    await open_thread(course, clock)
    clock.set(TALK_1 + timedelta(minutes=10))
    carol, dave = course.members["carol"], course.members["dave"]
    [thread] = course.channels["talks"].threads
    await carol.send(thread, "What about near-duplicates?")
    await course.members["alice"].send(thread, "Good question!")  # the presenter answering
    await course.env.settle()
    await dave.slash(course.channel, "talk ask", paper=1, question="Cost?", anonymous=False)
    await course.env.settle()
    async with course.bot.services.db.read() as session:
        asked = {(q.asker_id, q.source) for q in (await session.scalars(select(TalkQuestion))).all()}
    assert asked == {(carol.id, "thread"), (dave.id, "ask")}
    staff = await course.members["ta"].slash(course.channel, "ta reviews", week=9)
    [card] = reply_of(staff).embeds
    engaged = next(f.value for f in card.fields if f.name == "Engagement (reviews + questions)")
    assert f"<@{carol.id}> 1 (0+1)" in (engaged or "") and f"<@{dave.id}> 1 (0+1)" in (engaged or "")
    mine = await carol.slash(course.channel, "review mine")
    assert reply_of(mine).content == "You have no talk or group poster with feedback."
    [card] = reply_of(mine).embeds
    assert card.description == "Reviews given: 0 · Questions asked: 1"


async def test_asking_before_the_thread_is_refused(course: Course, clock: Clock) -> None:
    await setup_talks(course, clock)
    clock.set(TALK_1 - timedelta(days=3))
    result = await course.members["carol"].slash(course.channel, "talk ask", paper=1, question="Hi?")
    assert one_line(result) == "The thread of paper 1 is not open yet: it opens 24 hours before the talk."
    async with course.bot.services.db.read() as session:
        assert (await session.scalars(select(TalkThread))).all() == []
