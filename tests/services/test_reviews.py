"""Peer review in the service layer (bot/services/reviews.py).

Score and comment validation, the review windows (a talk on its day and the next, a poster on the
poster-session day), never your own talk or group, one review per reviewer and target (editable,
and exactly one row under 20 concurrent submits), anonymous feedback once the window closed, the
staff view with engagement, `reviews_given` in the gradebook, and the review reminder after each
talk day (planned in the outbox, for students who reviewed nothing that week). Runs on SQLite, and
on PostgreSQL too when COURSEBOT_TEST_POSTGRES is set.
"""

from __future__ import annotations

import asyncio
import csv
import dataclasses
import io
import json
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.clock import Clock
from bot.db import Database
from bot.db.models import AuditEntry, Notification, Review, Student
from bot.errors import InvalidInput, NotAllowed, NotFound
from bot.services import Services, groups, papers, reminder_kinds, reviews
from bot.services.gradebook import COLUMNS, GradebookMember, gradebook_csv, gradebook_rows
from tests.conftest import ROOT, seoul

SAMPLE = (ROOT / "data" / "papers.sample.csv").read_bytes()
STAFF = 1
ALICE, BOB, CAROL, DAVE, ERIN, FRANK = 11, 12, 13, 14, 15, 16
TALK_DAY = seoul(2025, 4, 30, 12, 30)  # Wednesday of week 9: papers 1–3 are presented
POSTER_DAY = seoul(2025, 6, 18, 13, 0)  # the `poster_session` deadline, W16 Wed


# ---- helpers ---------------------------------------------------------------------------------
async def publish(services: Services, presenters: dict[int, int] | None = None) -> None:
    """The sample paper list, with presenters (student → paper) placed by the staff."""
    result = await papers.import_papers(services, actor_id=STAFF, data=SAMPLE)
    assert result.added == 21
    for who, number in (presenters or {}).items():
        await papers.assign(
            services, actor_id=STAFF, discord_id=who, discord_name=f"student{who}", number=number
        )


async def review(
    services: Services,
    who: int,
    target: int,
    scores: tuple[str, str, str] = ("4", "4", "4"),
    comment: str = "",
    *,
    kind: str = "talk",
) -> tuple[reviews.ReviewInfo, bool]:
    return await reviews.submit(
        services,
        kind=kind,
        target_id=target,
        reviewer_id=who,
        reviewer_name=f"student{who}",
        scores=scores,
        comment=comment,
    )


async def count(services: Services, model: Any) -> int:
    async with services.db.read() as session:
        return await session.scalar(select(func.count()).select_from(model)) or 0


async def all_reviews(services: Services) -> list[Review]:
    async with services.db.read() as session:
        return list((await session.scalars(select(Review).order_by(Review.id))).all())


async def snapshot(services: Services) -> tuple[Any, ...]:
    """Everything a refused review must leave alone."""
    rows = [
        (r.kind, r.target, r.reviewer_id, r.score_1, r.score_2, r.score_3, r.comment, r.updated_at)
        for r in await all_reviews(services)
    ]
    return rows, await count(services, AuditEntry), await count(services, Student)


@pytest.fixture
async def talks(services: Services, clock: Clock) -> Services:
    """Week 9's talks: Alice presents paper 1, Bob paper 2 (paper 3 has nobody); it is the talk day."""
    await publish(services, {ALICE: 1, BOB: 2})
    clock.set(TALK_DAY)
    return services


@pytest.fixture
async def posters(services: Services, clock: Clock) -> Services:
    """Two groups formed in March (Alice and Bob; Carol), then the poster-session day."""
    squad = await groups.create(services, discord_id=ALICE, discord_name="alice", name="Sparse Squad")
    await groups.join(services, discord_id=BOB, discord_name="bob", code=squad.invite_code)
    await groups.create(services, discord_id=CAROL, discord_name="carol", name="Dense Crew")
    clock.set(POSTER_DAY)
    return services


async def group_id(services: Services, name: str) -> int:
    return (await groups.find_group(services, name)).id


# ---- scores and comments -----------------------------------------------------------------------
# The form's menus offer 1 to 5; a forged one may send anything, or several picks (joined by ",").
@pytest.mark.parametrize("value", ["0", "6", "a", "4.5", "", "-1", "+3", "10", "²", "٣", "3 4", "4,5"])
def test_a_score_must_be_a_whole_number_from_1_to_5(value: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        reviews.parse_scores([value, "3", "3"])
    message = refused.value.message
    expected = (
        f"`{value.strip()}` is not a score: use a whole number from 1 to 5."
        if value.strip()
        else "Give a score from 1 to 5 for every criterion."  # a menu sent back with no pick
    )
    assert message == expected
    assert "\n" not in message


@pytest.mark.parametrize("value", ["1", "5", " 3 "])
def test_scores_from_1_to_5_are_accepted(value: str) -> None:
    assert reviews.parse_scores(["2", value, "4"]) == (2, int(value), 4)


def test_three_scores_are_needed() -> None:
    with pytest.raises(InvalidInput, match="three scores"):
        reviews.parse_scores(["2", "3"])


def test_the_comment_is_at_most_1000_characters() -> None:
    assert reviews.clean_comment("x" * 1000) == "x" * 1000
    assert reviews.clean_comment("  spaced out \n") == "spaced out"
    assert reviews.clean_comment("") == ""
    with pytest.raises(InvalidInput) as refused:
        reviews.clean_comment("x" * 1001)
    assert refused.value.message == "The comment must be at most 1000 characters."


@pytest.mark.parametrize("comment", ["hey @everyone look", "@here: nice"])
def test_the_comment_cannot_ping_everyone(comment: str) -> None:
    with pytest.raises(InvalidInput, match="cannot contain @everyone or @here"):
        reviews.clean_comment(comment)


@pytest.mark.parametrize(
    ("scores", "comment", "reason"),
    [
        (("0", "3", "3"), "", "`0` is not a score"),
        (("3", "6", "3"), "", "`6` is not a score"),
        (("3", "3", "a"), "", "`a` is not a score"),
        (("4.5", "3", "3"), "", "`4.5` is not a score"),
        (("3", "4,5", "3"), "", "`4,5` is not a score"),  # a forged menu with two picks
        (("3", "3", ""), "", "Give a score from 1 to 5 for every criterion"),  # a forged menu with none
        (("3", "3", "3"), "x" * 1001, "at most 1000 characters"),
        (("3", "3", "3"), "@everyone", "cannot contain @everyone"),
    ],
)
async def test_bad_input_changes_nothing(
    talks: Services, scores: tuple[str, str, str], comment: str, reason: str
) -> None:
    before = await snapshot(talks)
    with pytest.raises(InvalidInput, match=reason):
        await review(talks, CAROL, 1, scores, comment)
    assert await snapshot(talks) == before


async def test_bad_input_on_an_edit_keeps_the_old_review(talks: Services) -> None:
    await review(talks, CAROL, 1, ("4", "5", "3"), "first")
    before = await snapshot(talks)
    with pytest.raises(InvalidInput):
        await review(talks, CAROL, 1, ("5", "5", "9"), "second")
    assert await snapshot(talks) == before


# ---- saving and editing --------------------------------------------------------------------------
async def test_a_review_is_saved_then_edited_in_place(talks: Services, clock: Clock) -> None:
    info, created = await review(talks, CAROL, 1, ("4", "5", "3"), "  Clear question.  ")
    assert created
    assert (info.kind, info.target, info.reviewer_id) == ("talk", 1, CAROL)
    assert info.scores == (4, 5, 3) and info.comment == "Clear question."
    clock.advance(timedelta(hours=3))
    edited, created = await review(talks, CAROL, 1, ("2", "3", "4"), "Changed my mind.")
    assert not created
    assert edited.scores == (2, 3, 4) and edited.comment == "Changed my mind."
    assert edited.updated_at == seoul(2025, 4, 30, 15, 30)
    [row] = await all_reviews(talks)
    assert (row.kind, row.target, row.week, row.reviewer_id) == ("talk", 1, 9, CAROL)
    assert (row.score_1, row.score_2, row.score_3, row.comment) == (2, 3, 4, "Changed my mind.")
    assert row.created_at == TALK_DAY and row.updated_at == seoul(2025, 4, 30, 15, 30)
    async with talks.db.read() as session:
        audited = (
            await session.scalars(
                select(AuditEntry).where(AuditEntry.action == "review.talk").order_by(AuditEntry.id)
            )
        ).all()
    assert [(a.actor_id, json.loads(a.details)) for a in audited] == [
        (CAROL, {"new": True, "target": 1}),
        (CAROL, {"new": False, "target": 1}),
    ]


async def test_the_existing_review_is_found_to_prefill_the_form(talks: Services) -> None:
    target = await reviews.talk_target(talks, 1)
    assert await reviews.existing_review(talks, target, CAROL) is None
    await review(talks, CAROL, 1, ("1", "2", "3"), "meh")
    found = await reviews.existing_review(talks, target, CAROL)
    assert found is not None and found.scores == (1, 2, 3) and found.comment == "meh"
    assert await reviews.existing_review(talks, target, DAVE) is None


async def test_one_reviewer_reviews_several_talks(talks: Services) -> None:
    await review(talks, CAROL, 1)
    await review(talks, CAROL, 2)
    await review(talks, ALICE, 2)  # a presenter reviews the other talks
    assert [(r.target, r.reviewer_id) for r in await all_reviews(talks)] == [
        (1, CAROL),
        (2, CAROL),
        (2, ALICE),
    ]


# ---- targets -------------------------------------------------------------------------------------
async def test_a_talk_target(talks: Services) -> None:
    target = await reviews.talk_target(talks, 1)
    assert target.kind == "talk" and target.target == 1 and target.week == 9
    assert target.label == "paper 1 — Deduplicating Training Data Makes Language Models Better"
    assert (target.opens, target.closes) == (date(2025, 4, 30), date(2025, 5, 1))
    assert target.owners == (ALICE,)


async def test_unknown_papers_and_talks_without_presenters(talks: Services) -> None:
    with pytest.raises(NotFound, match="There is no paper 99"):
        await reviews.talk_target(talks, 99)
    with pytest.raises(NotFound, match="Nobody presents paper 3"):
        await reviews.talk_target(talks, 3)
    before = await snapshot(talks)
    with pytest.raises(NotFound):
        await review(talks, CAROL, 3)
    with pytest.raises(NotFound):
        await review(talks, CAROL, 99)
    assert await snapshot(talks) == before


# ---- windows -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("now", "outcome"),
    [
        (seoul(2025, 4, 23, 12, 0), "open on Wed 2025-04-30"),  # a week early
        (seoul(2025, 4, 29, 23, 59), "open on Wed 2025-04-30"),  # the evening before
        (seoul(2025, 4, 30, 0, 0), None),  # the talk day, from midnight in Seoul
        (seoul(2025, 4, 30, 23, 59), None),
        (seoul(2025, 5, 1, 9, 0), None),  # the day after is still allowed
        (seoul(2025, 5, 1, 23, 59), None),
        (seoul(2025, 5, 2, 0, 0), "closed on Thu 2025-05-01"),  # two days after
        (seoul(2025, 5, 20, 12, 0), "closed on Thu 2025-05-01"),
    ],
)
async def test_the_talk_window_is_its_day_and_the_next(
    talks: Services, clock: Clock, now: Any, outcome: str | None
) -> None:
    clock.set(now)
    before = await snapshot(talks)
    if outcome is None:
        _, created = await review(talks, CAROL, 1)
        assert created
        return
    with pytest.raises(NotAllowed) as refused:
        await review(talks, CAROL, 1)
    assert refused.value.message == (
        f"Reviews of paper 1 — Deduplicating Training Data Makes Language Models Better {outcome}."
    )
    assert await snapshot(talks) == before


async def test_the_window_follows_the_seoul_date_not_utc(talks: Services, clock: Clock) -> None:
    clock.set(seoul(2025, 4, 30, 0, 30))  # 2025-04-29 15:30 UTC
    assert clock.now().date() == date(2025, 4, 29)
    _, created = await review(talks, CAROL, 1)
    assert created


async def test_an_edit_after_the_window_is_refused(talks: Services, clock: Clock) -> None:
    await review(talks, CAROL, 1, ("4", "4", "4"), "kept")
    clock.set(seoul(2025, 5, 2, 0, 0))
    before = await snapshot(talks)
    with pytest.raises(NotAllowed, match="closed on Thu 2025-05-01"):
        await review(talks, CAROL, 1, ("1", "1", "1"), "too late")
    assert await snapshot(talks) == before


async def test_the_window_comes_from_the_config(services: Services, clock: Clock) -> None:
    wider = services.config.reviews.model_copy(update={"talk_window_days": 3})
    config = services.config.model_copy(update={"reviews": wider})
    services = dataclasses.replace(services, config=config)
    await publish(services, {ALICE: 1})
    clock.set(seoul(2025, 5, 2, 23, 0))
    target = await reviews.talk_target(services, 1)
    assert target.closes == date(2025, 5, 2)
    _, created = await review(services, CAROL, 1)
    assert created


async def test_nobody_reviews_their_own_talk(talks: Services) -> None:
    await papers.assign(talks, actor_id=STAFF, discord_id=DAVE, discord_name="dave", number=1)
    before = await snapshot(talks)
    for presenter in (ALICE, DAVE):  # both presenters of paper 1
        with pytest.raises(NotAllowed) as refused:
            await review(talks, presenter, 1)
        assert refused.value.message == "You cannot review your own talk."
    assert await snapshot(talks) == before


async def test_own_talk_is_refused_even_outside_the_window(talks: Services, clock: Clock) -> None:
    clock.set(seoul(2025, 4, 1, 12, 0))
    with pytest.raises(NotAllowed, match="your own talk"):
        await review(talks, ALICE, 1)


# ---- posters -------------------------------------------------------------------------------------
async def test_the_poster_session_is_on_2025_06_18(services: Services) -> None:
    assert reviews.poster_day(services) == date(2025, 6, 18)


async def test_a_poster_target(posters: Services) -> None:
    target = await reviews.poster_target(posters, "  sparse   SQUAD ")
    assert target.kind == "poster" and target.label == "group Sparse Squad" and target.week == 16
    assert (target.opens, target.closes) == (date(2025, 6, 18), date(2025, 6, 18))
    assert set(target.owners) == {ALICE, BOB}
    with pytest.raises(NotFound, match="There is no group called `Nobody`"):
        await reviews.poster_target(posters, "Nobody")


@pytest.mark.parametrize(
    ("now", "outcome"),
    [
        (seoul(2025, 6, 17, 23, 59), "open on Wed 2025-06-18"),
        (seoul(2025, 6, 18, 0, 0), None),
        (seoul(2025, 6, 18, 23, 59), None),
        (seoul(2025, 6, 19, 0, 0), "closed on Wed 2025-06-18"),
        (seoul(2025, 4, 30, 12, 0), "open on Wed 2025-06-18"),  # a talk day is not a poster day
    ],
)
async def test_posters_are_reviewed_only_on_the_poster_session_day(
    posters: Services, clock: Clock, now: Any, outcome: str | None
) -> None:
    clock.set(now)
    squad = await group_id(posters, "Sparse Squad")
    before = await snapshot(posters)
    if outcome is None:
        info, created = await review(posters, CAROL, squad, ("5", "4", "3"), "Nice plots.", kind="poster")
        assert created and info.kind == "poster" and info.target == squad
        [row] = await all_reviews(posters)
        assert row.week == 16
        return
    with pytest.raises(NotAllowed) as refused:
        await review(posters, CAROL, squad, kind="poster")
    assert refused.value.message == f"Reviews of group Sparse Squad {outcome}."
    assert await snapshot(posters) == before


async def test_nobody_reviews_their_own_groups_poster(posters: Services) -> None:
    squad = await group_id(posters, "Sparse Squad")
    before = await snapshot(posters)
    for member in (ALICE, BOB):
        with pytest.raises(NotAllowed) as refused:
            await review(posters, member, squad, kind="poster")
        assert refused.value.message == "You cannot review your own group's poster."
    assert await snapshot(posters) == before
    _, created = await review(posters, ALICE, await group_id(posters, "Dense Crew"), kind="poster")
    assert created


async def test_a_poster_of_a_group_that_is_gone(posters: Services) -> None:
    with pytest.raises(NotFound, match="no longer exists"):
        await review(posters, CAROL, 987654, kind="poster")


# ---- feedback for presenters (anonymous) ------------------------------------------------------------
async def three_reviews_of_paper_1(services: Services) -> None:
    await review(services, CAROL, 1, ("4", "5", "3"), "Clear question; the limitations needed more time.")
    await review(services, DAVE, 1, ("5", "4", "4"), "Great demo.")
    await review(services, ERIN, 1, ("2", "4", "4"))  # no comment


async def test_feedback_waits_until_the_window_closed(talks: Services, clock: Clock) -> None:
    await three_reviews_of_paper_1(talks)
    for now in (TALK_DAY, seoul(2025, 5, 1, 23, 59)):
        clock.set(now)
        with pytest.raises(NotFound) as refused:
            await reviews.my_feedback(talks, ALICE)
        assert refused.value.message == (
            "Feedback on paper 1 — Deduplicating Training Data Makes Language Models Better is shown "
            "after its review window closes (Thu 2025-05-01)."
        )


async def test_feedback_after_the_window_has_averages_count_and_comments(
    talks: Services, clock: Clock
) -> None:
    await three_reviews_of_paper_1(talks)
    await review(talks, CAROL, 2, ("1", "1", "1"), "Not about paper 1.")
    clock.set(seoul(2025, 5, 2, 0, 0))
    [feedback] = await reviews.my_feedback(talks, ALICE)
    assert feedback.target.target == 1 and feedback.count == 3
    assert feedback.averages == ((4 + 5 + 2) / 3, (5 + 4 + 4) / 3, (3 + 4 + 4) / 3)
    assert [f"{v:.2f}" for v in feedback.averages] == ["3.67", "4.33", "3.67"]
    assert feedback.comments == ("Clear question; the limitations needed more time.", "Great demo.")
    # nothing in it says who wrote what
    assert {f.name for f in dataclasses.fields(feedback)} == {"target", "count", "averages", "comments"}
    assert not {CAROL, DAVE, ERIN} & set(feedback.target.owners)


async def test_feedback_comments_do_not_follow_the_order_of_writing(talks: Services, clock: Clock) -> None:
    await review(talks, CAROL, 1, comment="zebra")
    await review(talks, DAVE, 1, comment="apple")
    await review(talks, ERIN, 1, comment="mango")
    clock.set(seoul(2025, 5, 3, 9, 0))
    [feedback] = await reviews.my_feedback(talks, ALICE)
    assert feedback.comments == ("apple", "mango", "zebra")


async def test_feedback_without_any_review(talks: Services, clock: Clock) -> None:
    clock.set(seoul(2025, 5, 2, 9, 0))
    [feedback] = await reviews.my_feedback(talks, BOB)
    assert (feedback.count, feedback.averages, feedback.comments) == (0, None, ())


async def test_no_feedback_for_someone_without_a_talk_or_group(talks: Services) -> None:
    with pytest.raises(NotFound, match=r"You have no talk or group poster with feedback\."):
        await reviews.my_feedback(talks, CAROL)


async def test_poster_feedback_after_the_session(posters: Services, clock: Clock) -> None:
    squad = await group_id(posters, "Sparse Squad")
    await review(posters, CAROL, squad, ("5", "4", "3"), "Nice plots.", kind="poster")
    await review(posters, DAVE, squad, ("4", "4", "4"), kind="poster")
    with pytest.raises(NotFound, match=r"group Sparse Squad is shown after .* \(Wed 2025-06-18\)"):
        await reviews.my_feedback(posters, BOB)
    clock.set(seoul(2025, 6, 19, 8, 0))
    for member in (ALICE, BOB):
        [feedback] = await reviews.my_feedback(posters, member)
        assert feedback.target.label == "group Sparse Squad" and feedback.count == 2
        assert feedback.averages == (4.5, 4.0, 3.5) and feedback.comments == ("Nice plots.",)


# ---- the staff's view and engagement ---------------------------------------------------------------
async def test_the_staff_see_names_averages_and_engagement(talks: Services) -> None:
    await three_reviews_of_paper_1(talks)
    await review(talks, CAROL, 2, ("3", "3", "3"), "ok")
    await review(talks, ALICE, 2, ("5", "5", "5"))
    view = await reviews.staff_view(talks, 9)
    summary = {f.target.target: (f.count, f.averages) for f in view.feedback}
    assert summary == {1: (3, (11 / 3, 13 / 3, 11 / 3)), 2: (2, (4.0, 4.0, 4.0))}
    assert [(t.target, info.reviewer_id, info.scores) for t, info in view.reviews] == [
        (1, CAROL, (4, 5, 3)),
        (1, DAVE, (5, 4, 4)),
        (1, ERIN, (2, 4, 4)),
        (2, CAROL, (3, 3, 3)),
        (2, ALICE, (5, 5, 5)),
    ]
    assert view.given == {CAROL: 2, DAVE: 1, ERIN: 1, ALICE: 1}
    assert (await reviews.staff_view(talks, 10)).feedback == ()


async def test_reviews_given_in_the_gradebook(talks: Services) -> None:
    await three_reviews_of_paper_1(talks)
    await review(talks, CAROL, 2)
    members = [GradebookMember(who, f"student{who}", None) for who in (ALICE, BOB, CAROL, DAVE, ERIN, FRANK)]
    rows = {int(r["discord_id"]): r for r in await gradebook_rows(talks, members)}
    assert {who: r["reviews_given"] for who, r in rows.items()} == {
        ALICE: "0",
        BOB: "0",
        CAROL: "2",
        DAVE: "1",
        ERIN: "1",
        FRANK: "0",
    }
    # the export carries counts only: no scores, no comments, no targets
    text = gradebook_csv(list(rows.values())).decode("utf-8-sig")
    table = list(csv.DictReader(io.StringIO(text)))
    assert list(table[0]) == list(COLUMNS) and "reviews_given" in COLUMNS
    assert not [c for c in COLUMNS if c.startswith("review") and c != "reviews_given"]
    assert "Great demo" not in text and "Clear question" not in text


# ---- one row per reviewer and target, under concurrency ---------------------------------------------
async def test_twenty_concurrent_submits_leave_exactly_one_row(talks: Services) -> None:
    outcomes = await asyncio.gather(
        *(review(talks, CAROL, 1, (str(1 + i % 5), "3", "3"), f"try {i}") for i in range(20))
    )
    assert sorted(created for _, created in outcomes) == [False] * 19 + [True]
    [row] = await all_reviews(talks)
    assert (row.reviewer_id, row.target) == (CAROL, 1)
    # the row holds one of the submitted versions, whole
    assert (row.score_1, row.comment) in {(1 + i % 5, f"try {i}") for i in range(20)}
    async with talks.db.read() as session:
        audited = await session.scalar(
            select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "review.talk")
        )
    assert audited == 20


async def test_concurrent_submits_from_two_processes_leave_one_row(
    talks: Services, database_url: str
) -> None:
    """Two bot processes (each with its own engine) racing on the same reviewer and target."""
    other_db = Database(database_url)
    other = dataclasses.replace(talks, db=other_db)
    try:
        outcomes = await asyncio.gather(
            *(review(talks if i % 2 else other, DAVE, 2, ("5", "5", "5"), str(i)) for i in range(20))
        )
    finally:
        await other_db.dispose()
    assert sum(created for _, created in outcomes) == 1
    assert [(r.reviewer_id, r.target) for r in await all_reviews(talks)] == [(DAVE, 2)]


async def test_concurrent_reviews_by_many_students_all_count(talks: Services) -> None:
    students = list(range(100, 130))
    await asyncio.gather(*(review(talks, who, 1 + who % 2) for who in students))
    assert len(await all_reviews(talks)) == len(students)
    assert (await reviews.staff_view(talks)).given == dict.fromkeys(students, 1)


# ---- the review reminder after each talk day ----------------------------------------------------------
async def reminder_rows(services: Services) -> dict[str, Notification]:
    async with services.db.read() as session:
        rows = await session.scalars(
            select(Notification).where(Notification.source_key.startswith("review-reminder:"))
        )
        return {row.source_key: row for row in rows.all()}


async def test_importing_papers_plans_a_review_reminder_per_talk_week(services: Services) -> None:
    await publish(services)
    rows = await reminder_rows(services)
    assert sorted(rows) == [f"review-reminder:{week}" for week in range(10, 16)] + ["review-reminder:9"]
    row = rows["review-reminder:9"]
    assert (row.kind, row.audience, row.category, row.status) == (
        "review_reminder",
        "dm_all",
        "presentation",
        "pending",
    )
    assert row.due_at == seoul(2025, 4, 30, 18, 0)  # after the talks, at [reviews] reminder_time
    assert row.event_at == seoul(2025, 5, 2, 0, 0)  # useless once the window has closed
    assert "`/review talk paper:NUMBER`" in row.text
    assert f"<t:{int(seoul(2025, 5, 2, 0, 0).timestamp())}:F>" in row.text


async def test_planning_is_idempotent_and_plan_all_keeps_it(services: Services) -> None:
    await publish(services)
    first = {key: row.id for key, row in (await reminder_rows(services)).items()}
    await reminder_kinds.plan_all(services)
    await reminder_kinds.plan_all(services)
    await papers.save_paper(
        services,
        actor_id=STAFF,
        fields=papers.PaperFields(number=1, title="Renamed", authors="", url="", week=9),
    )
    assert {key: row.id for key, row in (await reminder_rows(services)).items()} == first


async def test_plan_all_plans_the_reminder_when_papers_exist(services: Services) -> None:
    await publish(services)
    async with services.db.write() as session:
        for row in (
            await session.scalars(
                select(Notification).where(Notification.source_key.startswith("review-reminder:"))
            )
        ).all():
            await session.delete(row)
    assert await reminder_rows(services) == {}
    await reminder_kinds.plan_all(services)
    assert "review-reminder:9" in await reminder_rows(services)


async def test_no_reminder_for_a_talk_day_that_has_passed(services: Services, clock: Clock) -> None:
    clock.set(seoul(2025, 4, 30, 18, 1))
    await publish(services)
    rows = await reminder_rows(services)
    assert "review-reminder:9" not in rows and "review-reminder:10" in rows


async def test_no_reminder_when_the_config_turns_it_off(services: Services) -> None:
    off = services.config.reviews.model_copy(update={"reminder_time": ""})
    services = dataclasses.replace(services, config=services.config.model_copy(update={"reviews": off}))
    await publish(services)
    assert await reminder_rows(services) == {}


async def test_the_reminder_goes_only_to_students_without_a_review_that_week(
    talks: Services, clock: Clock
) -> None:
    await review(talks, CAROL, 1)  # reviewed a week-9 talk
    clock.set(seoul(2025, 5, 7, 12, 0))
    await papers.assign(talks, actor_id=STAFF, discord_id=FRANK, discord_name="frank", number=4)
    await review(talks, ERIN, 4)  # reviewed only a week-10 talk
    clock.set(POSTER_DAY)
    candidates = [ALICE, BOB, CAROL, DAVE, ERIN, FRANK, 99]
    # Alice and Bob present in week 9 and Carol reviewed a week-9 talk; the others did not
    assert await reviews.students_without_review(talks, 9, candidates) == [DAVE, ERIN, FRANK, 99]
    # week 10: Frank presents, Erin reviewed
    assert await reviews.students_without_review(talks, 10, candidates) == [ALICE, BOB, CAROL, DAVE, 99]
    assert await reviews.students_without_review(talks, 11, []) == []


async def test_a_poster_review_does_not_count_for_a_talk_week(posters: Services) -> None:
    await publish(posters)
    crew = await group_id(posters, "Dense Crew")
    await review(posters, DAVE, crew, kind="poster")
    assert await reviews.students_without_review(posters, 16, [DAVE, ERIN]) == [DAVE, ERIN]


# ---- autocomplete helpers -------------------------------------------------------------------------------
async def test_reviewable_talks_are_those_whose_window_is_open(talks: Services, clock: Clock) -> None:
    assert [t.target for t in await reviews.reviewable_talks(talks)] == [1, 2]  # 3 has no presenter
    clock.set(seoul(2025, 5, 2, 9, 0))
    assert await reviews.reviewable_talks(talks) == []
    clock.set(seoul(2025, 5, 7, 9, 0))
    await papers.assign(talks, actor_id=STAFF, discord_id=FRANK, discord_name="frank", number=5)
    assert [t.target for t in await reviews.reviewable_talks(talks)] == [5]
