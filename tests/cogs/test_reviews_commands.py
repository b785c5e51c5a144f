"""Peer review through discord.py and simcord: `/review talk|poster` (a modal form: three labelled
score menus and a comment, pre-selected and pre-filled by discord.py's real machinery, what comes
back checked by the service), `/review mine` (anonymous, after the window),
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
from tests.e2e.discord_schema import request_problems

SAMPLE = (ROOT / "data" / "papers.sample.csv").read_bytes()
STAFF_ONLY = "Only the course staff (TA or instructor role) can do that."
TALK_DAY = seoul(2025, 4, 30, 12, 30)
POSTER_DAY = seoul(2025, 6, 18, 13, 0)
PAPER_1 = "paper 1 — Deduplicating Training Data Makes Language Models Better"
SAVED_1 = f"Review of {PAPER_1} saved. You can edit it until Thu 2025-05-01."
PAPER_2 = "paper 2 — Beyond neural scaling laws: beating power law scaling via data pruning"
TALK_LABELS = [
    "Clarity of the research question",
    "Description of the solution",
    "Limitations identified",
    "Comment (anonymous to the presenters)",
]
POSTER_LABELS = ["Clarity", "Soundness", "Originality", TALK_LABELS[3]]
TALK_SCALES = [
    ["1 — unclear", "2 — vague", "3 — understandable", "4 — clear", "5 — very clear"],
    ["1 — missing", "2 — sketchy", "3 — adequate", "4 — thorough", "5 — excellent"],
    ["1 — none named", "2 — superficial", "3 — some", "4 — the main ones", "5 — thorough"],
]
POSTER_SCALES = [
    ["1 — unclear", "2 — hard to follow", "3 — understandable", "4 — clear", "5 — very clear"],
    ["1 — unsound", "2 — weak", "3 — plausible", "4 — solid", "5 — rigorous"],
    ["1 — derivative", "2 — a small twist", "3 — some novelty", "4 — original", "5 — highly original"],
]
LABEL, MENU = discord.ComponentType.label.value, discord.ComponentType.string_select.value
TEXT = discord.ComponentType.text_input.value


# ---- helpers ---------------------------------------------------------------------------------
def rows_of(shown: simcord.InteractionResult) -> list[dict[str, Any]]:
    """The form's rows: each a label (type 18) around one control."""
    assert shown.modal is not None, "no form was shown"
    rows = shown.modal["components"]
    assert [row["type"] for row in rows] == [LABEL] * 4
    return rows


def controls(shown: simcord.InteractionResult) -> list[dict[str, Any]]:
    """The form's controls, in order: three score menus and the comment."""
    leaves = [row["component"] for row in rows_of(shown)]
    assert [leaf["type"] for leaf in leaves] == [MENU, MENU, MENU, TEXT]
    return leaves


def labels(shown: simcord.InteractionResult) -> list[str]:
    return [row["label"] for row in rows_of(shown)]


def prefilled(shown: simcord.InteractionResult) -> dict[str, str | None]:
    """What each field shows before the student touches it: the pre-selected score, the comment."""
    shown_now: dict[str, str | None] = {}
    for row in rows_of(shown):
        control = row["component"]
        if control["type"] == MENU:
            picked = [o["value"] for o in control["options"] if o.get("default")]
            assert len(picked) <= 1, picked
            shown_now[row["label"]] = picked[0] if picked else None
        else:
            shown_now[row["label"]] = control.get("value")
    return shown_now


def forge(shown: simcord.InteractionResult, position: int, values: list[str]) -> None:
    """What a modified client could send: the form as simcord holds it gets its `position`-th menu
    offering (and allowing) exactly `values`. Discord's own client sends one of the options 1–5."""
    held = shown._interaction.modal
    assert held is not None, "no form was shown"
    menu = held["components"][position]["component"]
    if values:
        menu["options"] = [{"label": value, "value": value} for value in values]
    menu["min_values"], menu["max_values"], menu["required"] = 0, max(1, len(values)), False


async def open_form(course: Course, who: str, paper: int) -> simcord.InteractionResult:
    return await course.members[who].slash(course.channel, "review talk", paper=paper)


async def send_form(
    course: Course,
    who: str,
    shown: simcord.InteractionResult,
    scores: tuple[str | list[str], ...],
    comment: str = "",
) -> simcord.InteractionResult:
    """Pick `scores` in the three menus (a list: several picks, as only a forged form allows) and
    type `comment`."""
    *menus, text = controls(shown)
    values: dict[str, Any] = {
        menu["custom_id"]: score if isinstance(score, list) else [score]
        for menu, score in zip(menus, scores, strict=True)
    }
    values[text["custom_id"]] = comment
    return await course.members[who].submit_modal(shown, values)


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
async def test_the_form_has_a_score_menu_per_criterion_and_a_comment(talkday: Course) -> None:
    shown = await open_form(talkday, "carol", 1)
    assert shown.modal is not None and shown.modal["title"] == f"Review of {PAPER_1}"[:45]
    assert labels(shown) == TALK_LABELS
    *menus, comment = controls(shown)
    for menu, scale in zip(menus, TALK_SCALES, strict=True):
        assert [o["value"] for o in menu["options"]] == ["1", "2", "3", "4", "5"]
        assert [o["label"] for o in menu["options"]] == scale
        assert (menu["min_values"], menu["max_values"], menu["required"]) == (1, 1, True)
        assert menu["placeholder"] == "Pick a score from 1 to 5"
        assert not any(o.get("default") for o in menu["options"])  # a new review starts empty
    assert len({c["custom_id"] for c in controls(shown)}) == 4
    assert comment["required"] is False and comment["max_length"] == 1000
    assert comment["style"] == discord.TextStyle.paragraph.value
    assert comment.get("label") is None and comment.get("value") is None  # its label is the row's; empty


async def test_the_forms_pass_discords_own_schema(talkday: Course) -> None:
    """The modal callback as Discord's OpenAPI description has it: labels around a string select
    and a text input, new and pre-selected (the end-to-end tests check the bot's real requests)."""
    new = await open_form(talkday, "carol", 1)
    await send_form(talkday, "carol", new, ("4", "5", "3"), "Fine.")
    callback = "/interactions/1/token/callback"
    for shown in (new, await open_form(talkday, "carol", 1)):
        assert request_problems("POST", callback, {"type": 9, "data": shown.modal}) == []
    broken = new.modal
    assert broken is not None
    broken["components"][0]["component"]["options"] = []  # negative control: Discord wants 1 to 25
    assert request_problems("POST", callback, {"type": 9, "data": broken}) != []


async def test_a_review_is_saved_from_the_form(talkday: Course) -> None:
    before = await audit_count(talkday)
    shown = await open_form(talkday, "carol", 1)
    result = await send_form(talkday, "carol", shown, ("4", "5", "3"), "  Clear question.  ")
    assert one_line(result) == SAVED_1
    carol = talkday.members["carol"].id
    assert await review_rows(talkday) == [("talk", 1, carol, 4, 5, 3, "Clear question.")]
    assert await audit_count(talkday) == before + 1
    assert talkday.channel.history() == []  # nothing public


# ---- validation: the menus offer 1–5 only, and the service checks whatever comes back ---------------
@pytest.mark.parametrize("bad", ["0", "6", "9", "a", "²", "٣", "4.5", "10", "44"])
@pytest.mark.parametrize("position", [0, 2])
async def test_a_forged_score_gets_one_line_and_changes_nothing(
    talkday: Course, bad: str, position: int
) -> None:
    rows, audited = await review_rows(talkday), await audit_count(talkday)
    scores = ["3", "3", "3"]
    scores[position] = bad
    shown = await open_form(talkday, "carol", 1)
    forge(shown, position, [bad])
    result = await send_form(talkday, "carol", shown, tuple(scores), "fine")
    assert one_line(result) == f"`{bad}` is not a score: use a whole number from 1 to 5."
    assert await review_rows(talkday) == rows
    assert await audit_count(talkday) == audited
    # the form works again right after
    assert await review(talkday, "carol", 1, ("3", "3", "3")) == SAVED_1


@pytest.mark.parametrize(("picks", "seen"), [([], ""), (["4", "5"], "4,5")], ids=["no score", "two scores"])
async def test_a_forged_menu_with_no_score_or_two_is_refused(
    talkday: Course, picks: list[str], seen: str
) -> None:
    audited = await audit_count(talkday)
    shown = await open_form(talkday, "carol", 1)
    forge(shown, 1, picks)
    result = await send_form(talkday, "carol", shown, ("3", picks, "3"), "fine")
    expected = (
        f"`{seen}` is not a score: use a whole number from 1 to 5."
        if seen
        else "Give a score from 1 to 5 for every criterion."
    )
    assert one_line(result) == expected
    assert await review_rows(talkday) == []
    assert await audit_count(talkday) == audited


@pytest.mark.parametrize("bad", ["9", "0", "4.5", " 4", ""])
async def test_discords_own_client_sends_only_the_scores_offered(talkday: Course, bad: str) -> None:
    """A student picks one of 1–5 in Discord and nothing else: simcord refuses the rest as it does."""
    shown = await open_form(talkday, "carol", 1)
    with pytest.raises(simcord.SetupError, match=re.escape(f"Select option {bad!r} does not exist")):
        await send_form(talkday, "carol", shown, ("3", bad, "3"))
    assert await review_rows(talkday) == []


async def test_every_criterion_needs_exactly_one_score(talkday: Course) -> None:
    shown = await open_form(talkday, "carol", 1)
    with pytest.raises(simcord.SetupError, match="was not supplied"):
        await send_form(talkday, "carol", shown, ("3", [], "3"))
    with pytest.raises(simcord.SetupError, match="expects between 1 and 1 values"):
        await send_form(talkday, "carol", shown, ("3", ["3", "4"], "3"))
    assert await review_rows(talkday) == []
    # the refused sends did not use the form up
    assert one_line(await send_form(talkday, "carol", shown, ("3", "4", "3"))) == SAVED_1


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
    # the student changes one score and the comment; the other menus send what they show
    kept = [str(value) for value in prefilled(shown).values()]
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
    assert prefilled(shown)[TALK_LABELS[1]] == "5"
    forge(shown, 1, ["0"])
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
    assert labels(shown) == POSTER_LABELS
    *menus, _ = controls(shown)
    assert [[o["label"] for o in menu["options"]] for menu in menus] == POSTER_SCALES
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
    engaged = fields["Engagement (reviews + questions)"]
    engagement = dict(item.split(" ", 1) for item in engaged.split(", "))
    assert engagement == {
        f"<@{ids['carol']}>": "2 (2+0)",
        f"<@{ids['dave']}>": "1 (1+0)",
        f"<@{ids['erin']}>": "1 (1+0)",
        f"<@{ids['alice']}>": "1 (1+0)",
    }
    assert engaged.startswith(f"<@{ids['carol']}> 2")  # most engaged first


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
