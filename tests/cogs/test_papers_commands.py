"""Paper sign-up through discord.py and simcord: `/papers`, `/signup paper|status|withdraw|swap`,
`/schedule` with presenters, `/ta paper add|import|remove|assign|unassign` and `/ta signups`."""

from __future__ import annotations

import re
from datetime import timedelta

import discord
import pytest
import simcord
from sqlalchemy import select

from bot.clock import Clock
from bot.db.models import Notification
from bot.services import papers
from tests.cogs.conftest import (
    Course,
    audit_count,
    close_dms,
    dm_messages,
    embed_text,
    one_line,
    reply_text,
)
from tests.conftest import ROOT, seoul

SAMPLE = (ROOT / "data" / "papers.sample.csv").read_bytes()
STAFF_ONLY = "Only the course staff (TA or instructor role) can do that."
OPENS = seoul(2025, 3, 10, 9, 0)
CLOSES = seoul(2025, 3, 23, 23, 59)


# ---- helpers ---------------------------------------------------------------------------------
def stamp(*args: int, style: str = "F") -> str:
    return f"<t:{int(seoul(*args).timestamp())}:{style}>"


def buttons(message: discord.Message) -> list[str]:
    return [child.label for row in message.components for child in getattr(row, "children", [])]


async def publish(course: Course) -> None:
    result = await papers.import_papers(course.bot.services, actor_id=None, data=SAMPLE)
    assert result.added == 21


async def signup(course: Course, name: str, number: int) -> str:
    return one_line(await course.members[name].slash(course.channel, "signup paper", number=number))


@pytest.fixture
async def listed(course: Course) -> Course:
    await publish(course)
    for name in ("dave", "erin"):
        course.add(name)
    return course


# ---- /ta paper import ------------------------------------------------------------------------------
async def test_ta_imports_the_sample_list_from_an_attachment(course: Course) -> None:
    result = await course.members["ta"].slash(course.channel, "ta paper import", file=("papers.csv", SAMPLE))
    assert one_line(result) == "Imported: 21 added, 0 updated."
    assert len(await papers.board(course.bot.services)) == 21
    log = course.channels["ta-log"].last_message
    assert log is not None and "imported papers (21 added, 0 updated)" in log.content
    again = await course.members["prof"].slash(course.channel, "ta paper import", file=("papers.csv", SAMPLE))
    assert one_line(again) == "Imported: 0 added, 21 updated."


BAD_UPLOADS = [
    (
        "bad rows",
        b"number,title,authors,url,week\n1,Good,,,9\nx,Bad number,,,9\n3,,,,9\n4,Bad week,,,20\n1,Again,,,10\n",
        [
            "line 3: number `x` is not a whole number",
            "line 4: A title must be 1–300 characters.",
            "line 5: Week must be between 9 and 15 (the talk weeks).",
            "line 6: paper 1 is already on line 2",
        ],
    ),
    ("empty", b"", ["line 1: the file is empty"]),
    ("not UTF-8", "number,title\n1,Résumé\n".encode("cp1252"), ["line 1: the file is not UTF-8 text"]),
    (
        "wrong header",
        b"paper,name\n1,x\n",
        ["line 1: the header must be number,title,authors,url,week (authors, url and week may be left out)"],
    ),
    ("duplicates", b"number,title\n5,a\n6,b\n5,c\n6,d\n", ["line 4: paper 5 is already on line 2", "line 5: paper 6 is already on line 3"]),
]  # fmt: skip


@pytest.mark.parametrize(("data", "problems"), [u[1:] for u in BAD_UPLOADS], ids=[u[0] for u in BAD_UPLOADS])
async def test_ta_import_of_a_bad_file_lists_every_problem_and_imports_nothing(
    course: Course, data: bytes, problems: list[str]
) -> None:
    before = await audit_count(course)
    result = await course.members["ta"].slash(course.channel, "ta paper import", file=("papers.csv", data))
    assert reply_text(result).splitlines() == ["Nothing was imported; fix these rows:", *problems]
    assert await papers.board(course.bot.services) == []
    assert await audit_count(course) == before


# ---- staff only -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("command", "options"),
    [
        ("ta paper add", {"number": 22, "title": "Sneaky"}),
        ("ta paper remove", {"number": 4}),
        ("ta signups open", {}),
        ("ta paper import", {"file": ("papers.csv", b"number,title\n22,Sneaky\n")}),
    ],
)
async def test_a_student_with_manage_guild_is_refused_staff_commands(
    listed: Course, command: str, options: dict[str, object]
) -> None:
    mallory = listed.add("mallory", permissions=discord.Permissions(manage_guild=True))
    board, rows = await papers.board(listed.bot.services), await audit_count(listed)
    result = await mallory.slash(listed.channel, command, **options)
    assert one_line(result) == STAFF_ONLY
    assert await papers.board(listed.bot.services) == board
    assert await audit_count(listed) == rows


async def test_plain_students_do_not_even_see_ta_commands(listed: Course) -> None:
    visible = listed.members["alice"].available_commands(listed.channel)
    assert "signup paper" in visible and "papers" in visible
    assert not [c for c in visible if c.startswith("ta ")]
    assert "ta paper add" in listed.members["ta"].available_commands(listed.channel)


# ---- /ta paper add | remove | assign | unassign ---------------------------------------------------------
async def test_ta_paper_add_and_edit(course: Course) -> None:
    ta = course.members["ta"]
    added = one_line(await ta.slash(course.channel, "ta paper add", number=7, title="Dataset Distillation"))
    assert added.startswith("Added paper 7 — Dataset Distillation: talk #1 of week 9, ")
    assert stamp(2025, 4, 30, 11, 0) in added
    edited = await ta.slash(
        course.channel,
        "ta paper add",
        number=7,
        title="Dataset  Distillation",
        authors="Wang et al.",
        week=11,
    )
    assert one_line(edited).startswith("Updated paper 7 — Dataset Distillation: talk #1 of week 11, ")
    info = await papers.paper(course.bot.services, 7)
    assert (info.authors, info.week) == ("Wang et al.", 11)


async def test_ta_paper_add_to_a_full_week_is_refused_and_without_a_week_finds_room(listed: Course) -> None:
    ta = listed.members["ta"]
    full = await ta.slash(listed.channel, "ta paper add", number=22, title="One too many", week=10)
    assert one_line(full) == "Week 10 already has 3 papers; choose another week."
    everywhere = await ta.slash(listed.channel, "ta paper add", number=22, title="One too many")
    assert one_line(everywhere) == "Every talk week already has 3 papers."
    assert len(await papers.board(listed.bot.services)) == 21
    await ta.slash(listed.channel, "ta paper remove", number=11)  # week 12
    placed = await ta.slash(listed.channel, "ta paper add", number=22, title="In the gap")
    assert "talk #3 of week 12" in one_line(placed)


async def test_ta_paper_remove_tells_presenters_and_waitlist(listed: Course) -> None:
    for name in ("alice", "bob", "carol"):
        await signup(listed, name, 4)
    result = await listed.members["ta"].slash(listed.channel, "ta paper remove", number=4)
    alice, bob, carol = (listed.members[n].mention for n in ("alice", "bob", "carol"))
    assert one_line(result) == (
        f"Removed paper 4 — GPTQ: Accurate Post-Training Quantization for Generative Pre-trained Transformers. "
        f"Told: {alice}, {bob}, {carol}."
    )
    for name in ("alice", "bob", "carol"):
        assert "Paper 4 — GPTQ" in dm_messages(listed, name)[-1].content
        assert "removed from the list by the staff" in dm_messages(listed, name)[-1].content
    assert 4 not in {i.number for i in await papers.board(listed.bot.services)}


async def test_ta_paper_assign_and_unassign_with_promotion(listed: Course) -> None:
    ta = listed.members["ta"]
    for name in ("alice", "bob", "carol"):
        await signup(listed, name, 4)  # carol waits
    assigned = await ta.slash(listed.channel, "ta paper assign", member=listed.members["dave"], number=5)
    assert one_line(assigned).startswith(f"{listed.members['dave'].mention} now presents paper 5 — SparseGPT")
    assert dm_messages(listed, "dave")[-1].content.startswith(
        "The staff assigned you to present paper 5 — SparseGPT"
    )

    full = await ta.slash(listed.channel, "ta paper assign", member=listed.members["erin"], number=4)
    assert one_line(full) == "Paper 4 is full; unassign someone first."

    unassigned = await ta.slash(listed.channel, "ta paper unassign", member=listed.members["alice"])
    carol = listed.members["carol"].mention
    assert one_line(unassigned) == (
        f"{listed.members['alice'].mention} no longer presents paper 4. Promoted from the waitlist: {carol} (paper 4)."
    )
    assert dm_messages(listed, "alice")[-1].content == "The staff removed you from paper 4."
    assert dm_messages(listed, "carol")[-1].content.startswith("Good news: a slot opened")
    info = await papers.paper(listed.bot.services, 4)
    assert info.presenters == (listed.members["bob"].id, listed.members["carol"].id)

    nobody = await ta.slash(listed.channel, "ta paper unassign", member=listed.members["erin"])
    assert one_line(nobody) == "They do not present any paper."


# ---- /ta signups and the window -------------------------------------------------------------------
async def test_ta_signups_close_overrides_an_open_window(listed: Course) -> None:
    closed = await listed.members["ta"].slash(listed.channel, "ta signups close")
    assert one_line(closed) == "Paper sign-up is now closed (until you open it)."
    assert await signup(listed, "alice", 4) == "Paper sign-up has been closed by the staff."
    assert (await papers.paper(listed.bot.services, 4)).presenters == ()
    opened = await listed.members["prof"].slash(listed.channel, "ta signups open")
    assert one_line(opened) == "Paper sign-up is now open (until you close it)."
    assert (await signup(listed, "alice", 4)).startswith("You present paper 4")


async def test_before_it_opens_sign_up_says_when_and_staff_can_open_it(listed: Course, clock: Clock) -> None:
    clock.set(OPENS - timedelta(hours=1))
    refused = await signup(listed, "alice", 4)
    assert refused == f"Paper sign-up opens <t:{int(OPENS.timestamp())}:F>."
    await listed.members["ta"].slash(listed.channel, "ta signups open")
    assert (await signup(listed, "alice", 4)).startswith("You present paper 4")


async def test_after_it_closes_sign_up_says_so(listed: Course, clock: Clock) -> None:
    clock.set(CLOSES + timedelta(minutes=1))
    assert await signup(listed, "alice", 4) == f"Paper sign-up closed <t:{int(CLOSES.timestamp())}:F>."
    await listed.members["ta"].slash(listed.channel, "ta signups open")
    assert (await signup(listed, "alice", 4)).startswith("You present paper 4")


# ---- /papers --------------------------------------------------------------------------------------
async def test_papers_board_shows_presenters_and_free_slots(listed: Course) -> None:
    await signup(listed, "alice", 4)
    await signup(listed, "bob", 5)
    await signup(listed, "carol", 5)
    await signup(listed, "dave", 5)  # waits
    result = await listed.members["erin"].slash(listed.channel, "papers")
    assert result.ephemeral
    [card] = result.response.embeds
    text = embed_text(card)
    alice, bob, carol = (listed.members[n].mention for n in ("alice", "bob", "carol"))
    assert card.title == "Paper board"
    assert (
        f"` 4` [GPTQ: Accurate Post-Training Quantization for Generative Pre-trained Transformers](https://arxiv.org/abs/2210.17323) — {alice} · 1 slot left"
        in text
    )
    assert f"— {bob}, {carol} · full · 1 waiting" in text
    assert "` 6` [AWQ" in text and "no presenter yet · 2 slots left" in text
    assert f"**Week 10 · {stamp(2025, 5, 7, 11, 0, style='D')}** · LLM Compression" in text
    assert all(f"`{n:>2}`" in text for n in range(1, 22))
    assert card.footer.text == "Page 1/1 · 2 presenters per paper · /signup paper NUMBER"
    assert result.response.components == []  # one page: no buttons


async def test_papers_of_one_week(listed: Course) -> None:
    result = await listed.members["alice"].slash(listed.channel, "papers", week=10)
    [card] = result.response.embeds
    assert card.title == "Paper board · week 10"
    numbers = re.findall(r"`\s*(\d+)`", card.description or "")
    assert numbers == ["4", "5", "6"]
    empty = await listed.members["alice"].slash(listed.channel, "papers", week=3)
    assert "No papers yet" in (empty.response.embeds[0].description or "")


async def test_a_full_board_pages_with_buttons_that_survive_a_restart(listed: Course) -> None:
    services = listed.bot.services
    for number in range(1, 22):  # every slot taken and a waitlist everywhere: long lines
        for k in range(3):
            student = 10**17 + number * 10 + k
            await papers.sign_up(
                services, discord_id=student, discord_name=None, joined_at=None, number=number
            )
    first = await listed.members["alice"].slash(listed.channel, "papers")
    [card] = first.response.embeds
    pages = int(re.search(r"Page 1/(\d+)", card.footer.text or "")[1])  # type: ignore[index]
    assert pages >= 2  # 21 papers with 42 presenters do not fit one embed
    assert buttons(first.response.message) == ["◀ Previous", "Next ▶"]
    shown = set(re.findall(r"`\s*(\d+)`", card.description or ""))

    await listed.restart()  # the buttons are DynamicItems: they work for the new process too
    message = first.response
    for page in range(2, pages + 1):
        result = await listed.members["alice"].click(message, label="Next ▶")
        assert result.response is not None and result.response.id == message.id  # edited in place
        message = result.response
        [card] = message.embeds
        assert (card.footer.text or "").startswith(f"Page {page}/{pages}")
        assert len(card.description or "") <= 4096
        shown |= set(re.findall(r"`\s*(\d+)`", card.description or ""))
    assert shown == {str(n) for n in range(1, 22)}  # every paper on some page
    with pytest.raises(simcord.SetupError, match="disabled"):
        await listed.members["alice"].click(message, label="Next ▶")
    back = await listed.members["alice"].click(message, label="◀ Previous")
    assert back.response is not None
    assert (back.response.embeds[0].footer.text or "").startswith(f"Page {pages - 1}/{pages}")


# ---- /signup paper, status, withdraw ---------------------------------------------------------------
async def test_signup_autocomplete_offers_papers_with_free_slots(listed: Course) -> None:
    alice = listed.members["alice"]
    everything = await alice.autocomplete(listed.channel, "signup paper", "number", "")
    assert 0 < len(everything) <= 25 and [c["value"] for c in everything] == list(range(1, 22))
    assert everything[11]["name"] == "12 — QLoRA: Efficient Finetuning of Quantized LLMs (2 slots left)"
    assert all(len(c["name"]) <= 100 for c in everything)
    long = everything[12]["name"]
    assert long.startswith("13 — Scaling LLM Test-Time Compute") and long.endswith("… (2 slots left)")

    await signup(listed, "bob", 4)
    await signup(listed, "carol", 6)
    await signup(listed, "dave", 6)
    await signup(listed, "erin", 6)
    quantization = await alice.autocomplete(listed.channel, "signup paper", "number", "quant")
    assert [c["name"] for c in quantization] == [
        "4 — GPTQ: Accurate Post-Training Quantization for Generative Pre-trained Transformers (1 slot left)",
        "6 — AWQ: Activation-aware Weight Quantization for LLM Compression and Acceleration (full, 1 waiting)",
        "12 — QLoRA: Efficient Finetuning of Quantized LLMs (2 slots left)",
    ]
    by_number = await alice.autocomplete(listed.channel, "signup paper", "number", "2")
    assert [c["value"] for c in by_number] == [2, 20, 21]
    nothing = await alice.autocomplete(listed.channel, "signup paper", "number", "no such paper")
    assert nothing == []


async def test_signup_paper_and_status_show_the_talk_date(listed: Course) -> None:
    taken = await signup(listed, "alice", 12)
    talk = stamp(2025, 5, 21, 11, 50)  # week 12, third talk of the Wednesday
    assert taken == (
        f"You present paper 12 — QLoRA: Efficient Finetuning of Quantized LLMs: talk #3 of week 12, "
        f"{talk} ({stamp(2025, 5, 21, 11, 50, style='R')})."
    )
    result = await listed.members["alice"].slash(listed.channel, "signup status")
    assert result.ephemeral
    fields = {f.name: f.value for f in result.response.embeds[0].fields}
    assert talk in fields["Presenting"] and "paper 12 — QLoRA" in fields["Presenting"]
    assert fields["Presenters of paper 12"] == listed.members["alice"].mention
    assert "Waitlist" not in fields


async def test_signup_on_a_full_paper_waitlists_and_status_shows_the_position(listed: Course) -> None:
    await signup(listed, "alice", 4)
    await signup(listed, "bob", 4)
    assert await signup(listed, "carol", 4) == (
        "Paper 4 is full, so you are on its waitlist at position 1. You will get a DM if a slot opens."
    )
    assert "position 2" in await signup(listed, "dave", 4)
    result = await listed.members["dave"].slash(listed.channel, "signup status")
    fields = {f.name: f.value for f in result.response.embeds[0].fields}
    assert fields["Presenting"] == "No paper yet: `/signup paper`."
    assert fields["Waitlist"].startswith("Position 2 for paper 4 — GPTQ")


@pytest.mark.parametrize(
    ("number", "message"),
    [
        (0, "`0` is not a paper number; see `/papers`."),
        (-5, "`-5` is not a paper number; see `/papers`."),
        (10**6, "`1000000` is not a paper number; see `/papers`."),
        (99, "There is no paper 99; see `/papers`."),
    ],
)
async def test_signup_with_a_bad_number_gets_one_line_and_changes_nothing(
    listed: Course, number: int, message: str
) -> None:
    board, rows = await papers.board(listed.bot.services), await audit_count(listed)
    assert await signup(listed, "alice", number) == message
    assert await papers.board(listed.bot.services) == board
    assert await audit_count(listed) == rows


async def test_signing_up_twice_or_for_a_second_paper_is_refused(listed: Course) -> None:
    await signup(listed, "alice", 4)
    rows = await audit_count(listed)
    assert await signup(listed, "alice", 4) == "You already present paper 4."
    assert (await signup(listed, "alice", 5)).startswith(
        "You already present paper 4; `/signup withdraw` first"
    )
    assert await audit_count(listed) == rows


async def test_withdraw_promotes_the_first_waiting_student_who_gets_a_dm(listed: Course) -> None:
    for name in ("alice", "bob", "carol", "dave"):
        await signup(listed, name, 4)  # carol, then dave wait
    result = await listed.members["alice"].slash(listed.channel, "signup withdraw")
    assert one_line(result) == "You no longer present paper 4."
    [dm] = dm_messages(listed, "carol")
    assert dm.content == (
        "Good news: a slot opened and you moved up from the waitlist. You now present paper 4 — GPTQ: Accurate "
        f"Post-Training Quantization for Generative Pre-trained Transformers: talk #1 of week 10, "
        f"{stamp(2025, 5, 7, 11, 0)} ({stamp(2025, 5, 7, 11, 0, style='R')})."
    )
    assert dm_messages(listed, "dave") == []
    status = await listed.members["dave"].slash(listed.channel, "signup status")
    assert "Position 1 for paper 4" in embed_text(status.response.embeds[0])
    left = await listed.members["dave"].slash(listed.channel, "signup withdraw")
    assert one_line(left) == "You left the waitlist of paper 4."
    nothing = await listed.members["dave"].slash(listed.channel, "signup withdraw")
    assert one_line(nothing) == "You hold no paper and are on no waitlist."


# ---- /signup swap --------------------------------------------------------------------------------
async def make_offer(listed: Course) -> None:
    """Alice (paper 4) offers Bob (paper 12) a swap."""
    await signup(listed, "alice", 4)
    await signup(listed, "bob", 12)
    result = await listed.members["alice"].slash(listed.channel, "signup swap", member=listed.members["bob"])
    expires = listed.bot.services.now() + timedelta(hours=24)
    assert one_line(result) == (
        f"Swap offered to {listed.members['bob'].mention}: your paper 4 for their paper 12. "
        f"They get it by DM and in `/signup status`, and can accept until <t:{int(expires.timestamp())}:F>."
    )


async def offer(listed: Course) -> discord.Message:
    """Alice (paper 4) offers Bob (paper 12) a swap; returns the DM Bob got (through the outbox)."""
    await make_offer(listed)
    [dm] = dm_messages(listed, "bob")
    assert dm.content.startswith(
        f"{listed.members['alice'].mention} offers to swap papers: you would present paper 4"
    )
    assert buttons(dm) == ["Accept", "Decline"]
    return dm


async def holders(listed: Course) -> tuple[tuple[int, ...], tuple[int, ...]]:
    return (
        (await papers.paper(listed.bot.services, 4)).presenters,
        (await papers.paper(listed.bot.services, 12)).presenters,
    )


async def test_swap_accepted_with_the_dm_button(listed: Course) -> None:
    dm = await offer(listed)
    status = await listed.members["bob"].slash(listed.channel, "signup status")
    assert "offers paper 4 for your 12" in embed_text(status.response.embeds[0])

    answer = await listed.users["bob"].click(dm, label="Accept")
    assert one_line(answer) == "Swapped: you now present paper 4."
    alice, bob = listed.members["alice"], listed.members["bob"]
    assert await holders(listed) == ((bob.id,), (alice.id,))
    assert (
        dm_messages(listed, "alice")[-1].content
        == f"{bob.mention} accepted your swap: you now present paper 12."
    )
    assert buttons(dm_messages(listed, "bob")[0]) == []  # the answered offer loses its buttons


async def test_swap_accepted_from_the_status_message(listed: Course) -> None:
    await offer(listed)
    status = await listed.members["bob"].slash(listed.channel, "signup status")
    assert status.ephemeral and buttons(status.response.message) == ["Accept", "Decline"]
    answer = await listed.members["bob"].click(status.response, label="Accept")
    assert one_line(answer) == "Swapped: you now present paper 4."
    assert await holders(listed) == ((listed.members["bob"].id,), (listed.members["alice"].id,))
    again = await listed.users["bob"].click(dm_messages(listed, "bob")[0], label="Accept")
    assert one_line(again) == "That swap offer was already accepted."


async def test_swap_accept_button_still_works_after_a_restart(listed: Course) -> None:
    await offer(listed)
    await listed.restart()
    [dm] = dm_messages(listed, "bob")
    answer = await listed.users["bob"].click(dm, label="Accept")
    assert one_line(answer) == "Swapped: you now present paper 4."
    assert await holders(listed) == ((listed.members["bob"].id,), (listed.members["alice"].id,))


async def test_swap_declined(listed: Course) -> None:
    dm = await offer(listed)
    before = await holders(listed)
    answer = await listed.users["bob"].click(dm, label="Decline")
    assert one_line(answer) == "Swap declined."
    assert await holders(listed) == before
    assert (
        dm_messages(listed, "alice")[-1].content
        == f"{listed.members['bob'].mention} declined your swap offer."
    )


async def test_swap_offer_expires_after_24_hours(listed: Course, clock: Clock) -> None:
    dm = await offer(listed)
    before = await holders(listed)
    clock.advance(timedelta(hours=25))
    answer = await listed.users["bob"].click(dm, label="Accept")
    assert one_line(answer) == "That offer has expired (offers last 24 hours)."
    assert await holders(listed) == before
    assert buttons(dm_messages(listed, "bob")[0]) == []


async def test_swap_accept_after_the_offerer_withdrew_is_cancelled(listed: Course) -> None:
    dm = await offer(listed)
    await listed.members["alice"].slash(listed.channel, "signup withdraw")
    answer = await listed.users["bob"].click(dm, label="Accept")
    assert "cancelled" in one_line(answer)
    assert await holders(listed) == ((), (listed.members["bob"].id,))


async def offer_row(listed: Course) -> tuple[str, str | None]:
    """(status, note) of the swap offer's outbox row."""
    async with listed.bot.services.db.read() as session:
        [row] = (
            await session.scalars(select(Notification).where(Notification.kind == papers.OFFER_KIND))
        ).all()
        return row.status, row.error


def hold_the_outbox(listed: Course) -> list[float]:
    """The dispatcher runs only when the test says so; returns the wake-ups asked for."""
    woken: list[float] = []
    listed.bot.dispatcher.wake = lambda delay=0.0: woken.append(delay)  # type: ignore[method-assign]
    return woken


async def test_the_offer_dm_is_planned_with_the_offer_and_sent_once(listed: Course) -> None:
    woken = hold_the_outbox(listed)
    await make_offer(listed)
    await listed.env.settle()
    assert woken[-1:] == [0.0] and dm_messages(listed, "bob") == []  # planned, not sent by the command
    assert await offer_row(listed) == ("pending", None)
    await listed.bot.dispatcher.run()
    await listed.bot.dispatcher.run()  # again: nothing twice
    [dm] = dm_messages(listed, "bob")
    assert buttons(dm) == ["Accept", "Decline"]
    assert await offer_row(listed) == ("sent", None)
    answer = await listed.users["bob"].click(dm, label="Accept")
    assert one_line(answer) == "Swapped: you now present paper 4."


@pytest.mark.parametrize("before", ["answered", "withdrawn"])
async def test_an_offer_no_longer_open_when_its_dm_goes_out_is_skipped(listed: Course, before: str) -> None:
    hold_the_outbox(listed)
    await make_offer(listed)
    if before == "answered":  # from `/signup status`, before the DM went out
        status = await listed.members["bob"].slash(listed.channel, "signup status")
        await listed.members["bob"].click(status.response, label="Decline")
    else:
        await listed.members["alice"].slash(listed.channel, "signup withdraw")
    await listed.bot.dispatcher.run()
    assert not any("offers to swap" in m.content for m in dm_messages(listed, "bob"))
    status_word = "declined" if before == "answered" else "cancelled"
    assert await offer_row(listed) == (
        "skipped",
        f"the swap offer was {status_word} before it could be delivered",
    )


async def test_a_refused_offer_dm_goes_to_the_fallback_channel_where_only_they_can_answer(
    listed: Course,
) -> None:
    """Discord's 50007 on Bob's DM: the offer is posted in bot-notices, mentioning him, with the
    buttons; Carol's press there is refused and changes nothing, Bob's swaps."""
    close_dms(listed, "bob")
    await make_offer(listed)
    assert dm_messages(listed, "bob") == []
    [post] = listed.channels["bot-notices"].history()
    bob, alice = listed.members["bob"], listed.members["alice"]
    assert post.content.startswith(
        f"{bob.mention} (your DMs are closed) {alice.mention} offers to swap papers"
    )
    assert buttons(post) == ["Accept", "Decline"]
    assert await offer_row(listed) == (
        "sent",
        "DMs closed: posted in the fallback channel (only the addressee can answer)",
    )
    before = await holders(listed)
    refused = await listed.members["carol"].click(post, label="Accept")
    assert one_line(refused) == "That swap offer is not addressed to you."
    assert await holders(listed) == before
    [post] = listed.channels["bot-notices"].history()
    assert buttons(post) == ["Accept", "Decline"]  # still there for Bob
    answer = await bob.click(post, label="Accept")
    assert one_line(answer) == "Swapped: you now present paper 4."
    assert await holders(listed) == ((bob.id,), (alice.id,))
    [post] = listed.channels["bot-notices"].history()
    assert buttons(post) == []


async def test_swap_with_yourself_or_someone_without_a_paper_is_refused(listed: Course) -> None:
    await signup(listed, "alice", 4)
    alice = listed.members["alice"]
    itself = await alice.slash(listed.channel, "signup swap", member=alice)
    assert one_line(itself) == "You cannot swap with yourself."
    nobody = await alice.slash(listed.channel, "signup swap", member=listed.members["carol"])
    assert one_line(nobody) == "They hold no paper, so there is nothing to swap."
    assert dm_messages(listed, "carol") == []


# ---- /schedule ---------------------------------------------------------------------------------------
async def test_schedule_of_a_talk_week_lists_the_talks_in_order_with_presenters(listed: Course) -> None:
    await signup(listed, "bob", 6)
    await signup(listed, "alice", 4)
    await signup(listed, "carol", 4)
    result = await listed.members["dave"].slash(listed.channel, "schedule", week=10)
    fields = {f.name: f.value for f in result.response.embeds[0].fields}
    alice, bob, carol = (listed.members[n].mention for n in ("alice", "bob", "carol"))
    assert fields["Student talks on Wed May 7"].splitlines() == [
        f"1. {stamp(2025, 5, 7, 11, 0, style='t')} · paper 4 — GPTQ: Accurate Post-Training Quantization for "
        f"Generative Pre-trained Transformers · {alice}, {carol}",
        f"2. {stamp(2025, 5, 7, 11, 25, style='t')} · paper 5 — SparseGPT: Massive Language Models Can Be "
        "Accurately Pruned in One-Shot · no presenter yet",
        f"3. {stamp(2025, 5, 7, 11, 50, style='t')} · paper 6 — AWQ: Activation-aware Weight Quantization for "
        f"LLM Compression and Acceleration · {bob}",
    ]


async def test_the_promotion_dm_goes_through_the_outbox(listed: Course) -> None:
    for name in ("alice", "bob", "carol"):
        await signup(listed, name, 4)  # carol waits
    woken: list[float] = []
    listed.bot.dispatcher.wake = lambda delay=0.0: woken.append(delay)  # type: ignore[method-assign]
    await listed.members["alice"].slash(listed.channel, "signup withdraw")
    await listed.env.settle()
    assert (
        woken == [0.0] and dm_messages(listed, "carol") == []
    )  # planned with the withdrawal, not sent by it
    await listed.bot.dispatcher.run()
    await listed.bot.dispatcher.run()
    [dm] = dm_messages(listed, "carol")
    assert dm.content.startswith("Good news: a slot opened and you moved up from the waitlist.")
