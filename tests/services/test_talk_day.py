"""Talk day in the service layer (bot/services/talk_day/): the thread rows planned from the talk
schedule (created once, updated on a swap or withdrawal, archived a week after), `/talk slides`
(only a presenter of a coming talk; type and size checked; replaced and audited), `/talk ask`
(anonymous by default, rate-limited, only while the thread is open), messages written in a thread,
and engagement (reviews given plus questions asked) that agrees between `/ta reviews`, `/review
mine` and the gradebook. Runs on SQLite, and on PostgreSQL when COURSEBOT_TEST_POSTGRES is set.
"""

from __future__ import annotations

import dataclasses
import io
import json
import zipfile
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.clock import Clock
from bot.db.models import AuditEntry, Notification, TalkQuestion, TalkSlides, TalkThread
from bot.errors import InvalidInput, NotAllowed
from bot.services import Services, papers, reminder_kinds, reviews
from bot.services.gradebook import GradebookMember, gradebook_rows
from bot.services.talk_day import questions, slides, threads
from tests.conftest import ROOT, seoul

SAMPLE = (ROOT / "data" / "papers.sample.csv").read_bytes()
STAFF = 1
ALICE, BOB, CAROL, DAVE, ERIN = 11, 12, 13, 14, 15
TALK_1 = seoul(2025, 4, 30, 11, 0)  # week 9's talks: paper 1 at 11:00, paper 2 at 11:25
TALK_2 = seoul(2025, 4, 30, 11, 25)
PDF = b"%PDF-1.7\n" + b"x" * 2000


def pptx() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as package:
        package.writestr("ppt/presentation.xml", "<p/>")
    return buffer.getvalue()


def with_threads(services: Services, **talks: Any) -> Services:
    config = services.config
    section = config.talks.model_copy(update={"threads": True, **talks})
    return dataclasses.replace(services, config=config.model_copy(update={"talks": section}))


@pytest.fixture
async def talkday(services: Services) -> Services:
    """The sample papers (published in week 2); Alice presents paper 1, Bob paper 2; threads on."""
    on = with_threads(services)
    await papers.import_papers(on, actor_id=STAFF, data=SAMPLE)
    for who, number in ((ALICE, 1), (BOB, 2)):
        await papers.assign(on, actor_id=STAFF, discord_id=who, discord_name=f"s{who}", number=number)
    return on


async def rows(services: Services, prefix: str) -> list[Notification]:
    async with services.db.read() as session:
        query = (
            select(Notification).where(Notification.source_key.startswith(prefix)).order_by(Notification.id)
        )
        return list((await session.scalars(query)).all())


async def count(services: Services, model: Any) -> int:
    async with services.db.read() as session:
        return await session.scalar(select(func.count()).select_from(model)) or 0


async def made(services: Services, number: int, thread_id: int) -> None:
    """What the Discord side records once it made the thread of paper `number`."""
    post = await threads.wanted_post(services, number)
    assert post is not None
    await threads.record_thread(
        services,
        number,
        thread_id=thread_id,
        content=post.content,
        slides_revision=post.slides_revision,
        notification_id=1,
        channel_id=500,
        forum=False,
        starter_channel_id=500,
        starter_message_id=thread_id,
    )


# ---- the thread rows -----------------------------------------------------------------------------
async def test_each_talk_with_presenters_gets_one_thread_row_at_the_lead_time(talkday: Services) -> None:
    planned = {row.source_key: row for row in await rows(talkday, threads.THREAD_PREFIX)}
    assert set(planned) >= {"talk-thread:1", "talk-thread:2"}
    assert "talk-thread:3" not in planned  # nobody presents paper 3: no talk, no thread
    assert planned["talk-thread:1"].due_at == TALK_1 - timedelta(hours=24)
    assert planned["talk-thread:2"].due_at == TALK_2 - timedelta(hours=24)
    assert planned["talk-thread:1"].event_at == TALK_1 + timedelta(days=7)
    text = planned["talk-thread:1"].text
    assert text.startswith("🎤 **Paper 1 — Deduplicating Training Data Makes Language Models Better**")
    assert f"<@{ALICE}>" in text and f"<t:{int(TALK_1.timestamp())}:F>" in text
    assert "https://arxiv.org/abs/2107.06499" in text
    archives = {row.source_key: row.due_at for row in await rows(talkday, threads.ARCHIVE_PREFIX)}
    assert archives["talk-thread-archive:1"] == TALK_1 + timedelta(days=7)


async def test_planning_again_and_at_start_up_never_doubles_a_thread(talkday: Services) -> None:
    before = [(r.source_key, r.due_at, r.text) for r in await rows(talkday, "talk-thread")]
    await reminder_kinds.plan_all(talkday)
    await reminder_kinds.plan_all(talkday)
    assert [(r.source_key, r.due_at, r.text) for r in await rows(talkday, "talk-thread")] == before


async def test_without_threads_nothing_is_planned(services: Services) -> None:
    await papers.import_papers(services, actor_id=STAFF, data=SAMPLE)
    await papers.assign(services, actor_id=STAFF, discord_id=ALICE, discord_name="a", number=1)
    assert await rows(services, "talk-thread") == []


async def test_a_withdrawal_before_the_thread_follows_in_the_pending_row(talkday: Services) -> None:
    await papers.withdraw(talkday, discord_id=ALICE)
    [row] = [r for r in await rows(talkday, threads.THREAD_PREFIX) if r.source_key == "talk-thread:1"]
    assert row.status == "skipped"  # nobody presents it any more


async def test_a_swap_after_the_thread_exists_plans_one_edit_of_the_first_message(
    talkday: Services, clock: Clock
) -> None:
    clock.set(TALK_1 - timedelta(hours=20))
    await made(talkday, 1, 9001)
    assert await rows(talkday, threads.EDIT_PREFIX) == []  # made as it is: nothing to edit
    await papers.unassign(talkday, actor_id=STAFF, discord_id=ALICE)
    await papers.assign(talkday, actor_id=STAFF, discord_id=CAROL, discord_name="c", number=1)
    edits = await rows(talkday, threads.EDIT_PREFIX)
    assert [r.source_key for r in edits] == ["talk-thread-edit:1:1", "talk-thread-edit:1:2"]
    post = await threads.wanted_post(talkday, 1)
    assert post is not None and post.presenters == (CAROL,) and f"<@{ALICE}>" not in post.content
    await threads.record_shown(talkday, 1, content=post.content, slides_revision=0)
    await reminder_kinds.plan_all(talkday)
    assert len(await rows(talkday, threads.EDIT_PREFIX)) == 2  # shown as wanted: no third edit
    async with talkday.db.read() as session:
        thread = await session.get(TalkThread, 1)
        assert thread is not None and thread.shown_revision == thread.revision == 2


# ---- slides ------------------------------------------------------------------------------------
async def snapshot(services: Services) -> tuple[Any, ...]:
    async with services.db.read() as session:
        stored = [
            (s.paper_number, s.filename, s.url, s.revision)
            for s in (await session.scalars(select(TalkSlides))).all()
        ]
    return stored, await count(services, AuditEntry), await count(services, Notification)


async def test_a_presenter_attaches_a_file_then_replaces_it_with_a_link(talkday: Services) -> None:
    first = await slides.set_slides(talkday, presenter_id=ALICE, filename="talk.pdf", data=PDF)
    assert (first.number, first.replaced, first.slides.filename) == (1, False, "talk.pdf")
    again = await slides.set_slides(talkday, presenter_id=ALICE, url="https://example.org/slides")
    assert (
        again.replaced and again.slides.url == "https://example.org/slides" and again.slides.filename is None
    )
    found, data = await slides.download(talkday, 1)
    assert data is None and found.url == "https://example.org/slides"
    audits = [json.loads(a.details) for a in await _audits(talkday, "talk.slides")]
    assert [(a["file"], a["url"], a["replaced"]) for a in audits] == [
        ("talk.pdf", None, False),
        (None, "https://example.org/slides", True),
    ]


async def test_a_pptx_is_kept_by_the_bot(talkday: Services) -> None:
    data = pptx()
    await slides.set_slides(talkday, presenter_id=BOB, filename="deck.pptx", data=data)
    found, stored = await slides.download(talkday, 2)
    assert stored == data and found.filename == "deck.pptx"
    assert (await slides.slides_of(talkday))[2].filename == "deck.pptx"


@pytest.mark.parametrize(
    ("who", "reason"),
    [
        (CAROL, "Only a presenter of a coming talk can attach slides, and you present none."),
        (DAVE, "Only a presenter of a coming talk can attach slides, and you present none."),
    ],
)
async def test_a_non_presenter_is_refused_and_nothing_changes(
    talkday: Services, who: int, reason: str
) -> None:
    before = await snapshot(talkday)
    with pytest.raises(NotAllowed) as refused:
        await slides.set_slides(talkday, presenter_id=who, filename="talk.pdf", data=PDF)
    assert refused.value.message == reason
    with pytest.raises(NotAllowed, match="Only the presenters of paper 1"):
        await slides.set_slides(talkday, presenter_id=BOB, paper_number=1, url="https://example.org/x")
    assert await snapshot(talkday) == before


@pytest.mark.parametrize(
    ("filename", "data", "reason"),
    [
        ("talk.exe", PDF, "Slides must be a PDF, PPTX or KEY file"),
        ("talk.pdf", b"MZ\x90\x00 not a pdf", "That file is named .pdf but is not a PDF."),
        ("talk.pptx", PDF, "That file is named .pptx but is not a PPTX file."),
        ("talk.key", b"plain text", "That file is named .key but is not a KEY file."),
        ("talk.pdf", b"", "That file is empty."),
        ("talk.pdf", b"%PDF-" + b"x" * (25 * 1024 * 1024), "slides may be at most 25 MB"),
    ],
)
async def test_wrong_types_and_oversized_files_are_refused(
    talkday: Services, filename: str, data: bytes, reason: str
) -> None:
    before = await snapshot(talkday)
    with pytest.raises(InvalidInput) as refused:
        await slides.set_slides(talkday, presenter_id=ALICE, filename=filename, data=data)
    assert reason in refused.value.message and "\n" not in refused.value.message
    assert await snapshot(talkday) == before


@pytest.mark.parametrize(
    "url", ["http://example.org/s", "ftp://x/y", "https://", "https://a b", "javascript:x"]
)
async def test_a_link_must_be_https(talkday: Services, url: str) -> None:
    with pytest.raises(InvalidInput, match="https:// link"):
        await slides.set_slides(talkday, presenter_id=ALICE, url=url)


async def test_after_the_talk_its_slides_no_longer_change(talkday: Services, clock: Clock) -> None:
    clock.set(TALK_1 + timedelta(minutes=30))
    with pytest.raises(NotAllowed, match="present none"):
        await slides.set_slides(talkday, presenter_id=ALICE, filename="talk.pdf", data=PDF)


async def test_slides_after_the_thread_exists_edit_its_first_message(talkday: Services, clock: Clock) -> None:
    clock.set(TALK_1 - timedelta(hours=2))
    await made(talkday, 1, 9001)
    await slides.set_slides(talkday, presenter_id=ALICE, filename="talk.pdf", data=PDF)
    [edit] = await rows(talkday, threads.EDIT_PREFIX)
    assert "Slides: 📎 talk.pdf" in edit.text
    post = await threads.wanted_post(talkday, 1)
    assert post is not None and post.slides_revision == 1 and post.state is not None
    assert post.state.slides_revision == 0  # the edit attaches it


# ---- questions ---------------------------------------------------------------------------------
async def ask(
    services: Services, who: int, paper: int = 1, anonymous: bool = True, text: str = "Why?"
) -> Any:
    return await questions.ask(
        services, paper_number=paper, asker_id=who, asker_name=f"s{who}", question=text, anonymous=anonymous
    )


async def test_asking_before_the_thread_exists_is_refused(talkday: Services, clock: Clock) -> None:
    clock.set(TALK_1 - timedelta(hours=30))
    with pytest.raises(NotAllowed) as refused:
        await ask(talkday, CAROL)
    assert (
        refused.value.message == "The thread of paper 1 is not open yet: it opens 24 hours before the talk."
    )
    assert await count(talkday, TalkQuestion) == 0


async def test_an_anonymous_question_names_nobody_but_the_audit_keeps_the_asker(
    talkday: Services, clock: Clock
) -> None:
    clock.set(TALK_1 + timedelta(minutes=5))
    await made(talkday, 1, 9001)
    asked = await ask(talkday, CAROL, text="How does dedup scale?")
    assert asked.thread_id == 9001 and asked.anonymous
    [post] = await rows(talkday, questions.QUESTION_PREFIX)
    assert post.text == "❓ **A question from the room** (anonymous):\n> How does dedup scale?"
    assert post.user_id is None and str(CAROL) not in post.text and "s13" not in post.text
    [entry] = await _audits(talkday, "talk.ask")
    assert entry.actor_id == CAROL and json.loads(entry.details)["anonymous"] is True
    clock.advance(timedelta(minutes=1))
    await ask(talkday, DAVE, anonymous=False, text="And the cost?")
    named = (await rows(talkday, questions.QUESTION_PREFIX))[-1]
    assert named.text == f"❓ **A question from <@{DAVE}>**:\n> And the cost?"


async def test_questions_are_rate_limited_per_student_per_talk(talkday: Services, clock: Clock) -> None:
    clock.set(TALK_1 + timedelta(minutes=5))
    await made(talkday, 1, 9001)
    await made(talkday, 2, 9002)
    await ask(talkday, CAROL)
    with pytest.raises(NotAllowed, match="One question at a time"):
        await ask(talkday, CAROL)
    for _ in range(4):
        clock.advance(timedelta(minutes=1))
        await ask(talkday, CAROL)
    clock.advance(timedelta(minutes=1))
    with pytest.raises(NotAllowed, match="You have asked 5 questions about paper 1"):
        await ask(talkday, CAROL)
    await ask(talkday, CAROL, paper=2)  # another talk: its own limit
    assert await count(talkday, TalkQuestion) == 6


async def test_no_question_on_your_own_talk_nor_a_week_after(talkday: Services, clock: Clock) -> None:
    clock.set(TALK_1 + timedelta(minutes=5))
    await made(talkday, 1, 9001)
    with pytest.raises(NotAllowed, match="You present this paper"):
        await ask(talkday, ALICE)
    clock.set(TALK_1 + timedelta(days=7))
    with pytest.raises(NotAllowed, match="closed"):
        await ask(talkday, CAROL)
    with pytest.raises(InvalidInput):
        await questions.ask(talkday, paper_number=1, asker_id=CAROL, asker_name="c", question="\u200b ")
    assert await count(talkday, TalkQuestion) == 0


async def test_without_threads_there_is_nowhere_to_ask(services: Services) -> None:
    with pytest.raises(NotAllowed, match="Talk threads are off"):
        await ask(services, CAROL)


async def test_messages_in_a_thread_count_once_and_not_for_its_presenters(
    talkday: Services, clock: Clock
) -> None:
    clock.set(TALK_1 + timedelta(minutes=5))
    await made(talkday, 1, 9001)

    async def wrote(who: int, message_id: int, thread_id: int = 9001) -> bool:
        return await questions.record_thread_message(
            talkday, thread_id=thread_id, author_id=who, author_name=f"s{who}", message_id=message_id
        )

    assert await wrote(CAROL, 1)
    assert not await wrote(CAROL, 1)  # the same message again (a replayed event)
    assert not await wrote(ALICE, 2)  # the presenter answering
    assert not await wrote(CAROL, 3, thread_id=777)  # not a talk thread
    for message_id in range(10, 20):
        await wrote(DAVE, message_id)
    async with talkday.db.read() as session:
        counts = await questions.questions_asked(session, cap=5)
    assert counts == {CAROL: 1, DAVE: 5}  # at most questions_per_talk written messages per talk
    assert await questions.forget_thread_message(talkday, 1)
    async with talkday.db.read() as session:
        assert CAROL not in await questions.questions_asked(session, cap=5)


# ---- engagement --------------------------------------------------------------------------------
async def test_engagement_agrees_between_the_staff_view_review_mine_and_the_gradebook(
    talkday: Services, clock: Clock
) -> None:
    clock.set(TALK_1 + timedelta(minutes=5))
    await made(talkday, 1, 9001)
    await made(talkday, 2, 9002)
    await ask(talkday, CAROL)  # Carol: 2 reviews + 1 ask + 1 message = 4
    await questions.record_thread_message(
        talkday, thread_id=9002, author_id=CAROL, author_name="c", message_id=50
    )
    clock.advance(timedelta(minutes=1))
    await ask(talkday, DAVE, anonymous=False)  # Dave: 1 review + 1 ask
    clock.set(seoul(2025, 4, 30, 15, 0))
    for who, paper in ((CAROL, 1), (CAROL, 2), (DAVE, 1), (ALICE, 2)):
        await reviews.submit(
            talkday,
            kind="talk",
            target_id=paper,
            reviewer_id=who,
            reviewer_name=f"s{who}",
            scores=("4", "4", "4"),
            comment="",
        )
    view = await reviews.staff_view(talkday, 9)
    expected = {CAROL: (2, 2), DAVE: (1, 1), ALICE: (1, 0)}
    assert {s: (e.reviews, e.questions) for s, e in view.engaged.items()} == expected
    for who, (given, asked) in expected.items():
        mine = await reviews.my_engagement(talkday, who)
        assert (mine.total.reviews, mine.total.questions) == (given, asked)
        assert set(mine.weeks) == {9}
    members = [GradebookMember(who, f"s{who}", None) for who in (ALICE, BOB, CAROL, DAVE)]
    book = {row["discord_id"]: row for row in await gradebook_rows(talkday, members)}
    for who, (given, asked) in expected.items():
        assert (book[str(who)]["reviews_given"], book[str(who)]["questions_asked"]) == (
            str(given),
            str(asked),
        )
    assert book[str(BOB)]["questions_asked"] == "0"
    csv_text = reviews.reviews_csv(view, {CAROL: "Carol"}).decode("utf-8-sig")
    assert f"{CAROL},Carol,2,2,4" in csv_text


async def test_the_engagement_reminder_goes_only_to_those_with_none(talkday: Services, clock: Clock) -> None:
    on = with_threads(talkday, engagement_reminder="19:00")
    await reminder_kinds.plan_all(on)
    [row] = [r for r in await rows(on, threads.ENGAGEMENT_PREFIX) if r.source_key.endswith(":9")]
    assert row.due_at == seoul(2025, 4, 30, 19, 0) and row.category == "presentation"
    clock.set(TALK_1 + timedelta(minutes=5))
    await made(on, 1, 9001)
    await ask(on, CAROL)
    left = await reviews.students_without_engagement(on, 9, [ALICE, BOB, CAROL, DAVE, ERIN])
    assert left == [DAVE, ERIN]  # Carol asked; Alice and Bob present that week


async def _audits(services: Services, action: str) -> list[AuditEntry]:
    async with services.db.read() as session:
        query = select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)
        return list((await session.scalars(query)).all())
