"""Peer review through discord.py and simcord: `/review talk|poster` (a modal form, validated and
pre-filled by discord.py's real machinery), `/review mine` (anonymous, after the window),
`/ta reviews` (names and engagement, staff only), `/ta export` (counts only) and the review
reminder the dispatcher sends after a talk day to the students who reviewed nothing.

The clock stands on the talk day of week 9 (Wed 2025-04-30 12:30 KST) unless a test moves it.
"""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import timedelta
from typing import Any

import discord
import pytest
import simcord
from sqlalchemy import func, select

from bot.clock import Clock
from bot.db.models import AuditEntry, Notification, Review
from bot.services import groups, papers
from tests.cogs.conftest import Course, one_line, reply_of
from tests.conftest import ROOT, seoul

SAMPLE = (ROOT / "data" / "papers.sample.csv").read_bytes()
STAFF_ONLY = "Only the course staff (TA or instructor role) can do that."
TALK_DAY = seoul(2025, 4, 30, 12, 30)
POSTER_DAY = seoul(2025, 6, 18, 13, 0)
PAPER_1 = "paper 1 — Deduplicating Training Data Makes Language Models Better"
SAVED_1 = f"Review of {PAPER_1} saved. You can edit it until Thu 2025-05-01."
PAPER_2 = "paper 2 — Beyond neural scaling laws: beating power law scaling via data pruning"
TALK_LABELS = [
    "Clarity of the research question (1–5)",
    "Description of the solution (1–5)",
    "Limitations identified (1–5)",
    "Comment (anonymous to the presenters)",
]
POSTER_LABELS = ["Clarity (1–5)", "Soundness (1–5)", "Originality (1–5)", TALK_LABELS[3]]


# ---- helpers ---------------------------------------------------------------------------------
def controls(shown: simcord.InteractionResult) -> list[dict[str, Any]]:
    """The text inputs of the form shown, in order."""
    assert shown.modal is not None, "no form was shown"
    leaves = []
    for row in shown.modal["components"]:
        leaves += row["components"] if "components" in row else [row["component"]]
    assert all(leaf["type"] == discord.ComponentType.text_input.value for leaf in leaves)
    return leaves


def prefilled(shown: simcord.InteractionResult) -> dict[str, str | None]:
    return {c["label"]: c.get("value") for c in controls(shown)}


async def open_form(course: Course, who: str, paper: int) -> simcord.InteractionResult:
    return await course.members[who].slash(course.channel, "review talk", paper=paper)


async def send_form(
    course: Course, who: str, shown: simcord.InteractionResult, scores: tuple[str, ...], comment: str = ""
) -> simcord.InteractionResult:
    ids = [c["custom_id"] for c in controls(shown)]
    return await course.members[who].submit_modal(shown, dict(zip(ids, [*scores, comment], strict=True)))


async def review(
    course: Course, who: str, paper: int, scores: tuple[str, ...] = ("4", "4", "4"), comment: str = ""
) -> str:
    shown = await open_form(course, who, paper)
    return one_line(await send_form(course, who, shown, scores, comment))


async def review_rows(course: Course) -> list[tuple[Any, ...]]:
    async with course.bot.services.db.read() as session:
        rows = (await session.scalars(select(Review).order_by(Review.id))).all()
        return [(r.kind, r.target, r.reviewer_id, r.score_1, r.score_2, r.score_3, r.comment) for r in rows]


async def audit_count(course: Course) -> int:
    async with course.bot.services.db.read() as session:
        return await session.scalar(select(func.count()).select_from(AuditEntry)) or 0


def everything_shown(result: simcord.InteractionResult) -> str:
    """All a user can read in a reply: content, embeds (as sent), attachments' names."""
    messages = [m for m in [result.response, *result.followups] if m is not None]
    parts = []
    for message in messages:
        parts.append(message.content or "")
        parts += [json.dumps(e.to_dict(), ensure_ascii=False) for e in message.embeds]
        parts += [a.filename for a in message.attachments]
    return "\n".join(parts)


def embed_fields(embed: discord.Embed) -> list[tuple[str, str]]:
    return [(f.name or "", f.value or "") for f in embed.fields]


@pytest.fixture
async def talkday(course: Course, clock: Clock) -> Course:
    """Papers published; Alice presents paper 1, Bob paper 2 (paper 3 has nobody); week 9's talk day."""
    for name in ("dave", "erin"):
        course.add(name)
    services = course.bot.services
    await papers.import_papers(services, actor_id=None, data=SAMPLE)
    for name, number in (("alice", 1), ("bob", 2)):
        member = course.members[name]
        await papers.assign(services, actor_id=None, discord_id=member.id, discord_name=name, number=number)
    clock.set(TALK_DAY)
    return course


async def three_reviews(course: Course) -> None:
    """Carol 4/5/3, Dave 5/4/4, Erin 2/4/4 (no comment) on Alice's paper 1."""
    comment = "Clear question; the limitations needed more time."
    assert await review(course, "carol", 1, ("4", "5", "3"), comment) == SAVED_1
    assert await review(course, "dave", 1, ("5", "4", "4"), "Great demo.") == SAVED_1
    assert await review(course, "erin", 1, ("2", "4", "4")) == SAVED_1


# ---- the form ---------------------------------------------------------------------------------------
async def test_the_form_asks_three_scores_and_a_comment(talkday: Course) -> None:
    shown = await open_form(talkday, "carol", 1)
    assert shown.modal is not None and shown.modal["title"] == f"Review of {PAPER_1}"[:45]
    fields = controls(shown)
    assert [c["label"] for c in fields] == TALK_LABELS
    for score in fields[:3]:
        assert (score["required"], score["min_length"], score["max_length"]) == (True, 1, 1)
        assert "value" not in score  # a new review starts empty
    assert fields[3]["required"] is False and fields[3]["max_length"] == 1000
    assert fields[3]["style"] == discord.TextStyle.paragraph.value


async def test_a_review_is_saved_from_the_form(talkday: Course) -> None:
    before = await audit_count(talkday)
    shown = await open_form(talkday, "carol", 1)
    result = await send_form(talkday, "carol", shown, ("4", "5", "3"), "  Clear question.  ")
    assert one_line(result) == SAVED_1
    carol = talkday.members["carol"].id
    assert await review_rows(talkday) == [("talk", 1, carol, 4, 5, 3, "Clear question.")]
    assert await audit_count(talkday) == before + 1
    assert talkday.channel.history() == []  # nothing public


# ---- validation: bad input changes nothing ------------------------------------------------------------
@pytest.mark.parametrize("bad", ["0", "6", "a", "²", "٣"])
@pytest.mark.parametrize("position", [0, 2])
async def test_a_bad_score_gets_one_line_and_changes_nothing(
    talkday: Course, bad: str, position: int
) -> None:
    rows, audited = await review_rows(talkday), await audit_count(talkday)
    scores = ["3", "3", "3"]
    scores[position] = bad
    shown = await open_form(talkday, "carol", 1)
    result = await send_form(talkday, "carol", shown, tuple(scores), "fine")
    assert one_line(result) == f"`{bad}` is not a score: use a whole number from 1 to 5."
    assert await review_rows(talkday) == rows
    assert await audit_count(talkday) == audited
    # the form works again right after
    assert await review(talkday, "carol", 1, ("3", "3", "3")) == SAVED_1


@pytest.mark.parametrize("bad", ["4.5", "10", " 4", "44"])
async def test_a_score_of_more_than_one_character_cannot_be_sent(talkday: Course, bad: str) -> None:
    """Discord itself keeps a score field to one character: `4.5` cannot even be typed."""
    rows, audited = await review_rows(talkday), await audit_count(talkday)
    shown = await open_form(talkday, "carol", 1)
    with pytest.raises(simcord.SetupError, match="exceeds max_length=1"):
        await send_form(talkday, "carol", shown, ("3", bad, "3"))
    assert await review_rows(talkday) == rows
    assert await audit_count(talkday) == audited


async def test_an_empty_score_cannot_be_sent(talkday: Course) -> None:
    shown = await open_form(talkday, "carol", 1)
    with pytest.raises(simcord.SetupError, match="cannot be empty"):
        await send_form(talkday, "carol", shown, ("3", "", "3"))
    assert await review_rows(talkday) == []


async def test_the_comment_holds_up_to_1000_characters(talkday: Course) -> None:
    shown = await open_form(talkday, "carol", 1)
    with pytest.raises(simcord.SetupError, match="exceeds max_length=1000"):
        await send_form(talkday, "carol", shown, ("3", "3", "3"), "x" * 1001)
    assert await review_rows(talkday) == []
    # the refused submit did not use the form up
    assert one_line(await send_form(talkday, "carol", shown, ("3", "3", "3"), "é" * 1000)) == SAVED_1
    [row] = await review_rows(talkday)
    assert row[-1] == "é" * 1000


async def test_a_comment_pinging_everyone_is_refused(talkday: Course) -> None:
    audited = await audit_count(talkday)
    shown = await open_form(talkday, "carol", 1)
    result = await send_form(talkday, "carol", shown, ("3", "3", "3"), "@everyone come see")
    assert one_line(result) == "The comment cannot contain @everyone or @here."
    assert await review_rows(talkday) == []
    assert await audit_count(talkday) == audited


# ---- editing -------------------------------------------------------------------------------------
async def test_editing_prefills_the_form_and_updates_in_place(talkday: Course, clock: Clock) -> None:
    await review(talkday, "carol", 1, ("4", "5", "3"), "First thoughts.")
    clock.advance(timedelta(hours=20))  # Thu 08:30, the day after: still open
    shown = await open_form(talkday, "carol", 1)
    assert prefilled(shown) == dict(zip(TALK_LABELS, ["4", "5", "3", "First thoughts."], strict=True))
    # the student changes one score and the comment, keeping the rest as pre-filled
    kept = [c.get("value") for c in controls(shown)]
    result = await send_form(talkday, "carol", shown, (kept[0], "2", kept[2]), "Second thoughts.")
    assert one_line(result) == f"Review of {PAPER_1} updated. You can edit it until Thu 2025-05-01."
    carol = talkday.members["carol"].id
    assert await review_rows(talkday) == [("talk", 1, carol, 4, 2, 3, "Second thoughts.")]
    async with talkday.bot.services.db.read() as session:
        row = await session.scalar(select(Review))
    assert row is not None and row.created_at == TALK_DAY and row.updated_at == seoul(2025, 5, 1, 8, 30)
    # another student's form is not pre-filled with Carol's review
    assert set(prefilled(await open_form(talkday, "dave", 1)).values()) == {None}


async def test_a_bad_edit_keeps_the_previous_review(talkday: Course) -> None:
    await review(talkday, "carol", 1, ("4", "5", "3"), "Keep me.")
    rows, audited = await review_rows(talkday), await audit_count(talkday)
    shown = await open_form(talkday, "carol", 1)
    assert one_line(await send_form(talkday, "carol", shown, ("4", "0", "3"), "Lose me.")).startswith("`0`")
    assert await review_rows(talkday) == rows
    assert await audit_count(talkday) == audited


# ---- windows ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("now", "refusal"),
    [
        (seoul(2025, 4, 29, 23, 59), f"Reviews of {PAPER_1} open on Wed 2025-04-30."),
        (seoul(2025, 4, 30, 0, 0), None),
        (seoul(2025, 5, 1, 23, 59), None),  # the day after: still allowed
        (seoul(2025, 5, 2, 0, 0), f"Reviews of {PAPER_1} closed on Thu 2025-05-01."),  # two days after
    ],
    ids=["the day before", "the talk day", "the day after", "two days after"],
)
async def test_a_talk_is_reviewed_on_its_day_and_the_next(
    talkday: Course, clock: Clock, now: Any, refusal: str | None
) -> None:
    clock.set(now)
    shown = await open_form(talkday, "carol", 1)
    if refusal is None:
        assert shown.modal is not None
        assert one_line(await send_form(talkday, "carol", shown, ("5", "5", "5"))) == SAVED_1
        assert len(await review_rows(talkday)) == 1
    else:
        assert one_line(shown) == refusal
        assert await review_rows(talkday) == []


async def test_a_form_sent_after_the_window_closed_is_refused(talkday: Course, clock: Clock) -> None:
    clock.set(seoul(2025, 5, 1, 23, 58))
    shown = await open_form(talkday, "carol", 1)
    clock.set(seoul(2025, 5, 2, 0, 1))  # the student took a while
    result = await send_form(talkday, "carol", shown, ("5", "5", "5"))
    assert one_line(result) == f"Reviews of {PAPER_1} closed on Thu 2025-05-01."
    assert await review_rows(talkday) == []


async def test_nobody_reviews_their_own_talk(talkday: Course) -> None:
    audited = await audit_count(talkday)
    assert one_line(await open_form(talkday, "alice", 1)) == "You cannot review your own talk."
    assert one_line(await open_form(talkday, "bob", 2)) == "You cannot review your own talk."
    assert await review_rows(talkday) == [] and await audit_count(talkday) == audited
    # a presenter reviews the other talks
    assert (await review(talkday, "alice", 2)).startswith(f"Review of {PAPER_2} saved.")


async def test_unknown_papers_and_talks_without_a_presenter(talkday: Course) -> None:
    assert one_line(await open_form(talkday, "carol", 99)) == "There is no paper 99; see `/papers`."
    assert one_line(await open_form(talkday, "carol", 3)) == (
        "Nobody presents paper 3, so there is no talk to review."
    )


async def test_autocomplete_offers_the_talks_open_for_review(talkday: Course, clock: Clock) -> None:
    choices = await talkday.members["carol"].autocomplete(talkday.channel, "review talk", "paper", "")
    assert [(c["name"], c["value"]) for c in choices] == [(PAPER_1, 1), (PAPER_2, 2)]
    typed = await talkday.members["carol"].autocomplete(talkday.channel, "review talk", "paper", "scaling")
    assert [c["value"] for c in typed] == [2]
    clock.set(seoul(2025, 5, 2, 9, 0))
    assert await talkday.members["carol"].autocomplete(talkday.channel, "review talk", "paper", "") == []


# ---- posters --------------------------------------------------------------------------------------
@pytest.fixture
async def posterday(course: Course, clock: Clock) -> Course:
    """Groups formed in March (Alice and Bob in Sparse Squad; Carol in Dense Crew); the poster session."""
    services, members = course.bot.services, course.members
    squad = await groups.create(
        services, discord_id=members["alice"].id, discord_name="alice", name="Sparse Squad"
    )
    await groups.join(services, discord_id=members["bob"].id, discord_name="bob", code=squad.invite_code)
    await groups.create(services, discord_id=members["carol"].id, discord_name="carol", name="Dense Crew")
    clock.set(POSTER_DAY)
    return course


async def open_poster(course: Course, who: str, group: str) -> simcord.InteractionResult:
    return await course.members[who].slash(course.channel, "review poster", group=group)


async def test_a_poster_is_reviewed_on_the_poster_session_day(posterday: Course) -> None:
    shown = await open_poster(posterday, "carol", "sparse squad")
    assert shown.modal is not None and shown.modal["title"] == "Review of group Sparse Squad"
    assert [c["label"] for c in controls(shown)] == POSTER_LABELS
    result = await send_form(posterday, "carol", shown, ("5", "4", "3"), "Nice plots.")
    assert one_line(result) == "Review of group Sparse Squad saved. You can edit it until Wed 2025-06-18."
    [row] = await review_rows(posterday)
    assert row[0] == "poster" and row[2:] == (posterday.members["carol"].id, 5, 4, 3, "Nice plots.")


@pytest.mark.parametrize(
    ("now", "refusal"),
    [
        (seoul(2025, 6, 17, 23, 59), "Reviews of group Sparse Squad open on Wed 2025-06-18."),
        (seoul(2025, 6, 19, 0, 0), "Reviews of group Sparse Squad closed on Wed 2025-06-18."),
        (TALK_DAY, "Reviews of group Sparse Squad open on Wed 2025-06-18."),
    ],
    ids=["the day before", "the day after", "a talk day"],
)
async def test_posters_only_on_2025_06_18(posterday: Course, clock: Clock, now: Any, refusal: str) -> None:
    clock.set(now)
    assert one_line(await open_poster(posterday, "carol", "Sparse Squad")) == refusal
    assert await review_rows(posterday) == []


async def test_nobody_reviews_their_own_groups_poster(posterday: Course) -> None:
    for member in ("alice", "bob"):
        refusal = one_line(await open_poster(posterday, member, "Sparse Squad"))
        assert refusal == "You cannot review your own group's poster."
    assert await review_rows(posterday) == []
    shown = await open_poster(posterday, "alice", "Dense Crew")
    assert one_line(await send_form(posterday, "alice", shown, ("3", "3", "3"))).startswith(
        "Review of group Dense Crew saved."
    )
    assert one_line(await open_poster(posterday, "carol", "No Such Group")) == (
        "There is no group called `No Such Group`; see `/group list`."
    )


async def test_poster_autocomplete_leaves_out_your_own_group(posterday: Course) -> None:
    choices = await posterday.members["alice"].autocomplete(posterday.channel, "review poster", "group", "")
    assert [c["value"] for c in choices] == ["Dense Crew"]


# ---- /review mine: anonymous, after the window ------------------------------------------------------
async def test_review_mine_before_the_window_closed_says_when(talkday: Course, clock: Clock) -> None:
    await three_reviews(talkday)
    for now in (TALK_DAY, seoul(2025, 5, 1, 23, 59)):
        clock.set(now)
        result = await talkday.members["alice"].slash(talkday.channel, "review mine")
        assert one_line(result) == (
            f"Feedback on {PAPER_1} is shown after its review window closes (Thu 2025-05-01)."
        )


async def test_review_mine_after_the_window_shows_averages_and_comments_without_names(
    talkday: Course, clock: Clock
) -> None:
    await three_reviews(talkday)
    await review(talkday, "carol", 2, ("1", "1", "1"), "About paper 2 only.")
    clock.set(seoul(2025, 5, 2, 0, 0))
    result = await talkday.members["alice"].slash(talkday.channel, "review mine")
    assert result.ephemeral and result.response is not None and result.response.content in ("", None)
    [card] = result.response.embeds
    assert card.title == f"Feedback on {PAPER_1}"
    assert card.description == "3 reviews"
    assert embed_fields(card) == [
        ("Clarity of the research question", "3.67 / 5"),  # (4 + 5 + 2) / 3
        ("Description of the solution", "4.33 / 5"),  # (5 + 4 + 4) / 3
        ("Limitations identified", "3.67 / 5"),  # (3 + 4 + 4) / 3
        ("Comments", "• Clear question; the limitations needed more time.\n• Great demo."),
    ]
    # nothing a student can read says who wrote what
    shown = everything_shown(result)
    for name in ("carol", "dave", "erin"):
        member = talkday.members[name]
        assert str(member.id) not in shown
        assert re.search(rf"\b{name}\b", shown, re.IGNORECASE) is None
    assert "<@" not in shown and "@" not in shown
    # Bob's talk had one review: shown the same way
    bob = await talkday.members["bob"].slash(talkday.channel, "review mine")
    [card] = bob.response.embeds
    assert card.description == "1 review" and ("Comments", "• About paper 2 only.") in embed_fields(card)
    assert str(talkday.members["carol"].id) not in everything_shown(bob)


async def test_review_mine_without_a_talk_or_group(talkday: Course) -> None:
    result = await talkday.members["carol"].slash(talkday.channel, "review mine")
    assert one_line(result) == "You have no talk or group poster with feedback."


async def test_review_mine_for_a_poster_after_the_session(posterday: Course, clock: Clock) -> None:
    shown = await open_poster(posterday, "carol", "Sparse Squad")
    await send_form(posterday, "carol", shown, ("5", "4", "3"), "Nice plots.")
    clock.set(seoul(2025, 6, 19, 9, 0))
    result = await posterday.members["bob"].slash(posterday.channel, "review mine")
    [card] = result.response.embeds
    assert card.title == "Feedback on group Sparse Squad" and card.description == "1 review"
    assert embed_fields(card) == [
        ("Clarity", "5.00 / 5"),
        ("Soundness", "4.00 / 5"),
        ("Originality", "3.00 / 5"),
        ("Comments", "• Nice plots."),
    ]
    assert str(posterday.members["carol"].id) not in everything_shown(result)


# ---- /ta reviews: names and engagement, staff only ---------------------------------------------------
async def test_ta_reviews_shows_averages_reviewers_and_engagement(talkday: Course) -> None:
    await three_reviews(talkday)
    await review(talkday, "carol", 2, ("3", "3", "3"), "ok")
    await review(talkday, "alice", 2, ("5", "4", "3"))
    ids = {name: talkday.members[name].id for name in ("alice", "carol", "dave", "erin")}
    result = await talkday.members["ta"].slash(talkday.channel, "ta reviews", week=9)
    assert result.ephemeral
    [card] = reply_of(result).embeds
    assert card.title == "Peer reviews · week 9"
    assert card.description.splitlines() == [
        f"**{PAPER_1}** (talk, W9): 3 reviews · 3.7 · 4.3 · 3.7",
        f"**{PAPER_2}** (talk, W9): 2 reviews · 4.0 · 3.5 · 3.0",
    ]
    fields = dict(embed_fields(card))
    assert fields["Reviews (with reviewers)"].splitlines() == [
        f"<@{ids['carol']}> → {PAPER_1}: 4/5/3 — Clear question; the limitations needed more time.",
        f"<@{ids['dave']}> → {PAPER_1}: 5/4/4 — Great demo.",
        f"<@{ids['erin']}> → {PAPER_1}: 2/4/4",
        f"<@{ids['carol']}> → {PAPER_2}: 3/3/3 — ok",
        f"<@{ids['alice']}> → {PAPER_2}: 5/4/3",
    ]
    engagement = dict(item.split(" ") for item in fields["Engagement (reviews given)"].split(", "))
    assert engagement == {
        f"<@{ids['carol']}>": "2",
        f"<@{ids['dave']}>": "1",
        f"<@{ids['erin']}>": "1",
        f"<@{ids['alice']}>": "1",
    }
    assert fields["Engagement (reviews given)"].startswith(f"<@{ids['carol']}> 2")  # most engaged first


async def test_ta_reviews_of_a_week_without_reviews(talkday: Course) -> None:
    result = await talkday.members["prof"].slash(talkday.channel, "ta reviews", week=10)
    [card] = reply_of(result).embeds
    assert card.title == "Peer reviews · week 10" and card.description == "No reviews yet."


@pytest.mark.parametrize("command", ["ta reviews", "ta export"])
async def test_students_cannot_reach_the_names_even_with_manage_guild(talkday: Course, command: str) -> None:
    await three_reviews(talkday)
    mallory = talkday.add("mallory", permissions=discord.Permissions(manage_guild=True))
    assert command in mallory.available_commands(talkday.channel)  # Discord shows it to them...
    result = await mallory.slash(talkday.channel, command)
    assert one_line(result) == STAFF_ONLY  # ...and the bot refuses it
    assert str(talkday.members["carol"].id) not in everything_shown(result)


async def test_plain_students_do_not_even_see_ta_reviews(talkday: Course) -> None:
    visible = talkday.members["alice"].available_commands(talkday.channel)
    assert {"review talk", "review poster", "review mine"} <= set(visible)
    assert "ta reviews" not in visible
    assert "ta reviews" in talkday.members["ta"].available_commands(talkday.channel)


async def test_the_gradebook_export_has_review_counts_only(talkday: Course) -> None:
    await three_reviews(talkday)
    await review(talkday, "carol", 2, ("3", "3", "3"), "ok")
    result = await talkday.members["ta"].slash(talkday.channel, "ta export")
    [attachment] = result.response.attachments  # the reply with the file; the preview follows it
    text = (await attachment.read()).decode("utf-8-sig")
    table = {row["discord_id"]: row for row in csv.DictReader(io.StringIO(text))}
    counts = {
        name: table[str(talkday.members[name].id)]["reviews_given"]
        for name in talkday.members
        if str(talkday.members[name].id) in table
    }
    assert counts == {"alice": "0", "bob": "0", "carol": "2", "dave": "1", "erin": "1"}
    assert [c for c in next(iter(table.values())) if "review" in c] == ["reviews_given"]
    for comment in ("Clear question", "Great demo", "ok\r"):
        assert comment not in text


# ---- the reminder after the talk day -------------------------------------------------------------------
async def deliver(course: Course) -> None:
    """Send whatever is due now (the simulation drives the dispatcher by hand)."""
    dispatcher = course.bot.dispatcher
    async with dispatcher._lock:  # a run in progress finishes first
        pass
    await dispatcher.run()
    await course.env.settle()


def review_dms(course: Course, name: str) -> list[str]:
    return [m.content for m in course.users[name].dm_channel.history() if m.content.startswith("📝")]


async def test_the_reminder_goes_to_students_who_reviewed_nothing(talkday: Course, clock: Clock) -> None:
    async with talkday.bot.services.db.read() as session:
        planned = await session.scalar(
            select(Notification).where(Notification.source_key == "review-reminder:9")
        )
    assert planned is not None and planned.status == "pending"
    assert planned.due_at == seoul(2025, 4, 30, 18, 0)
    await review(talkday, "carol", 1)
    clock.set(seoul(2025, 4, 30, 18, 0))
    await deliver(talkday)
    closes = int(seoul(2025, 5, 2, 0, 0).timestamp())
    expected = [
        f"📝 Today's student talks can be peer-reviewed until <t:{closes}:F>: `/review talk paper:NUMBER` "
        "(clarity of the question, the solution, the limitations; 1–5 each)."
    ]
    assert {name: review_dms(talkday, name) for name in ("alice", "bob", "carol", "dave", "erin")} == {
        "alice": [],  # presents that week
        "bob": [],  # presents that week
        "carol": [],  # reviewed a talk
        "dave": expected,
        "erin": expected,
    }
    await deliver(talkday)  # once only
    assert review_dms(talkday, "dave") == expected
