"""Paper sign-ups in the service layer (bot/services/papers.py).

The rules under concurrency (capacity, one paper and one waitlist per student, first come first
served), refusals that change nothing, the sign-up window, promotion from the waitlist, swaps,
the staff's paper commands and the CSV import. Runs on SQLite, and on PostgreSQL too when
COURSEBOT_TEST_POSTGRES is set.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.calendar import CourseCalendar
from bot.clock import Clock
from bot.config import Environment, load_config
from bot.db.models import AuditEntry, Presenter, Student, SwapOffer
from bot.errors import Conflict, InvalidInput, NotAllowed, NotFound, UserFacingError
from bot.services import Services, papers
from bot.services.papers import PaperFields, PaperInfo, Promotion, SignupResult
from tests.conftest import ROOT, seoul

SAMPLE = (ROOT / "data" / "papers.sample.csv").read_bytes()
OPENS = seoul(2025, 3, 10, 9, 0)  # the `paper_list` deadline, W2 Mon 09:00
CLOSES = seoul(2025, 3, 23, 23, 59)  # the `signup` deadline, W3 Sun 23:59

STAFF = 1
ALICE, BOB, CAROL, DAVE, ERIN, FRANK = 11, 12, 13, 14, 15, 16


# ---- helpers ---------------------------------------------------------------------------------
async def sign(services: Services, who: int, number: int) -> SignupResult:
    return await papers.sign_up(
        services, discord_id=who, discord_name=f"student{who}", joined_at=None, number=number
    )


async def count(services: Services, model: Any) -> int:
    async with services.db.read() as session:
        return await session.scalar(select(func.count()).select_from(model)) or 0


async def actions(services: Services) -> list[str]:
    async with services.db.read() as session:
        return list((await session.scalars(select(AuditEntry.action).order_by(AuditEntry.id))).all())


async def snapshot(services: Services) -> tuple[Any, ...]:
    """Everything a refusal must leave alone."""
    async with services.db.read() as session:
        offers = (await session.execute(select(SwapOffer.id, SwapOffer.status).order_by(SwapOffer.id))).all()
    return (
        await papers.board(services),
        await count(services, AuditEntry),
        await count(services, Student),
        [tuple(offer) for offer in offers],
    )


async def check_rules(services: Services, *, exempt: frozenset[int] = frozenset()) -> dict[int, PaperInfo]:
    """Assert the data rules on the whole board; returns the board by paper number."""
    board = await papers.board(services)
    presenting = [who for info in board for who in info.presenters]
    waiting = [who for info in board for who in info.waitlist]
    for info in board:
        assert len(info.presenters) <= info.capacity, f"paper {info.number} over capacity"
    assert len(presenting) == len(set(presenting)), "a student holds two papers"
    assert len(waiting) == len(set(waiting)), "a student waits on two waitlists"
    assert not (set(presenting) & set(waiting)) - exempt, "a presenter is also waiting"
    return {info.number: info for info in board}


async def offer_status(services: Services, offer_id: int) -> str:
    async with services.db.read() as session:
        offer = await session.get(SwapOffer, offer_id)
        assert offer is not None
        return offer.status


@pytest.fixture
async def listed(services: Services) -> Services:
    """The services with the sample paper list imported: 21 papers, 3 a week in weeks 9–15."""
    result = await papers.import_papers(services, actor_id=STAFF, data=SAMPLE)
    assert (result.added, result.updated, result.errors) == (21, 0, ())
    return services


@pytest.fixture
async def crowded(listed: Services) -> Services:
    """Paper 4 full (Alice, Bob) with Carol waiting; paper 5 full (Erin, Frank); Dave is unknown."""
    for who, number in ((ALICE, 4), (BOB, 4), (CAROL, 4), (ERIN, 5), (FRANK, 5)):
        await sign(listed, who, number)
    return listed


# ---- races -----------------------------------------------------------------------------------
async def test_fifty_students_race_for_one_paper_and_fifty_more_for_two_others(listed: Services) -> None:
    services = listed
    wanted = {1000 + i: 4 for i in range(50)} | {2000 + i: 5 + i % 2 for i in range(50)}
    arrival = list(wanted)
    random.Random(695).shuffle(arrival)
    finished: list[int] = []

    async def one(who: int) -> tuple[int, SignupResult]:
        result = await sign(services, who, wanted[who])
        finished.append(who)
        return who, result

    # no return_exceptions: an exception from any request fails the test
    results = dict(await asyncio.gather(*(one(who) for who in arrival)))

    assert len(results) == 100
    board = await check_rules(services)
    for number in (4, 5, 6):
        applicants = [who for who in arrival if wanted[who] == number]
        info = board[number]
        slots = [who for who in applicants if not results[who].waitlisted]
        waiting = [who for who in applicants if results[who].waitlisted]
        assert len(info.presenters) == 2 and set(info.presenters) == set(slots)
        assert all(results[who].position is None for who in slots)
        # every waitlisted request got a distinct position, 1..n-2, and it is its place in the list
        assert sorted(results[who].position or 0 for who in waiting) == list(range(1, len(applicants) - 1))
        assert set(info.waitlist) == set(waiting)
        for who in waiting:
            assert info.waitlist[(results[who].position or 0) - 1] == who
            assert results[who].paper.number == number
        if services.db.is_sqlite:
            # SQLite writers run one at a time, so the list is exactly the order the calls finished
            assert info.presenters + info.waitlist == tuple(who for who in finished if wanted[who] == number)
    assert len(board[4].waitlist) == 48 and len(board[5].waitlist) == len(board[6].waitlist) == 23
    # nothing else: no other paper touched, one audit row and one student per request
    assert all(not info.presenters and not info.waitlist for n, info in board.items() if n not in (4, 5, 6))
    assert sorted(set(await actions(services))) == ["paper.import", "signup.take", "signup.waitlist"]
    assert await count(services, AuditEntry) == 1 + 100
    assert await count(services, Student) == 100


class TickingClock(Clock):
    """A running clock, reproducibly: every reading is one millisecond after the previous one."""

    def now(self) -> Any:
        at = super().now()
        self.advance(timedelta(milliseconds=1))
        return at


async def test_waitlist_positions_follow_the_order_of_commits_with_a_running_clock(
    listed: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first caller waits longer for its transaction (as for a pooled connection): both must still
    get distinct positions that match the list."""
    services = Services(
        listed.db, TickingClock.frozen(seoul(2025, 3, 10, 11, 0)), listed.config, listed.calendar
    )
    await sign(services, ALICE, 4)
    await sign(services, BOB, 4)
    write, delayed = services.db.write, []

    @asynccontextmanager
    async def slow_first_write(lock: str | None = None) -> AsyncIterator[AsyncSession]:
        if not delayed:
            delayed.append(True)
            await asyncio.sleep(0.05)
        async with write(lock) as session:
            yield session

    monkeypatch.setattr(services.db, "write", slow_first_write)
    carol, dave = await asyncio.gather(sign(services, CAROL, 4), sign(services, DAVE, 4))

    info = await papers.paper(services, 4)
    assert info.waitlist == (DAVE, CAROL)  # Dave's transaction committed first
    assert (dave.position, carol.position) == (1, 2)


async def test_withdrawals_racing_sign_ups_promote_the_first_waiting_student_without_a_paper(
    listed: Services,
) -> None:
    services = listed
    for who in (ALICE, BOB, CAROL, DAVE, ERIN):
        await sign(services, who, 4)  # Alice and Bob present; Carol, Dave, Erin wait in that order
    # Carol also presents paper 1 (a state no command makes today, e.g. data fixed by hand):
    # promotion must pass her over.
    async with services.db.write() as session:
        session.add(Presenter(paper_number=1, discord_id=CAROL, since=services.now()))
    newcomers = list(range(3000, 3020))
    calls: list[Awaitable[Any]] = [sign(services, who, 4) for who in newcomers]
    calls.insert(5, papers.withdraw(services, discord_id=ALICE))
    calls.insert(15, papers.withdraw(services, discord_id=BOB))
    seen: list[PaperInfo] = []
    done = asyncio.Event()

    async def watch() -> None:
        while not done.is_set():
            seen.append(await papers.paper(services, 4))
            await asyncio.sleep(0)

    watcher = asyncio.create_task(watch())
    try:
        outcomes = await asyncio.gather(*calls)
    finally:
        done.set()
        await watcher

    board = await check_rules(services, exempt=frozenset({CAROL}))
    info = board[4]
    assert info.presenters == (DAVE, ERIN)
    assert info.waitlist[0] == CAROL and set(info.waitlist[1:]) == set(newcomers)
    withdrawals = [o for o in outcomes if isinstance(o, papers.WithdrawResult)]
    assert [w.papers for w in withdrawals] == [(4,), (4,)]
    assert {p.discord_id for w in withdrawals for p in w.promotions} == {DAVE, ERIN}
    assert all(isinstance(o, SignupResult) and o.waitlisted for o in outcomes if o not in withdrawals)
    # the promotion is in the withdrawal's transaction: nobody ever saw a free slot on paper 4
    assert seen and all(len(s.presenters) == 2 for s in seen)
    assert board[1].presenters == (CAROL,)


@pytest.mark.parametrize("accept_first", [True, False], ids=["accept-first", "withdraw-first"])
async def test_a_swap_accepted_while_the_offerer_withdraws(listed: Services, accept_first: bool) -> None:
    services = listed
    for who, number in ((ALICE, 4), (DAVE, 4), (CAROL, 4), (BOB, 5), (ERIN, 5), (FRANK, 5)):
        await sign(services, who, number)  # Carol waits on 4, Frank on 5
    offer = await papers.offer_swap(services, from_id=ALICE, to_id=BOB)
    accept = papers.answer_swap(services, offer_id=offer.id, discord_id=BOB, accept=True)
    withdraw = papers.withdraw(services, discord_id=ALICE)
    if accept_first:
        answer, withdrawn = await asyncio.gather(accept, withdraw, return_exceptions=True)
    else:
        withdrawn, answer = await asyncio.gather(withdraw, accept, return_exceptions=True)

    board = await check_rules(services)
    assert isinstance(withdrawn, papers.WithdrawResult)
    assert ALICE not in board[4].presenters + board[5].presenters
    if isinstance(answer, papers.SwapInfo) and answer.status == "accepted":
        # the swap came first: Alice took paper 5, then gave it up to Frank
        assert withdrawn.papers == (5,)
        assert [p.discord_id for p in withdrawn.promotions] == [FRANK]
        assert board[4].presenters == (DAVE, BOB) and board[4].waitlist == (CAROL,)
        assert board[5].presenters == (ERIN, FRANK) and board[5].waitlist == ()
        assert await offer_status(services, offer.id) == "accepted"
    else:
        # the withdrawal came first and cancelled the offer
        assert isinstance(answer, Conflict) and "cancelled" in answer.message
        assert withdrawn.papers == (4,)
        assert board[4].presenters == (DAVE, CAROL)
        assert board[5].presenters == (BOB, ERIN) and board[5].waitlist == (FRANK,)
        assert await offer_status(services, offer.id) == "cancelled"
    if services.db.is_sqlite:  # writers take turns in call order there
        assert (await offer_status(services, offer.id) == "accepted") is accept_first


# ---- refusals change nothing -----------------------------------------------------------------
Action = Callable[[Services], Awaitable[Any]]


REFUSALS: list[tuple[str, Action, type[UserFacingError], str]] = [
    ("number 0", lambda s: sign(s, DAVE, 0), InvalidInput, "`0` is not a paper number"),
    ("negative number", lambda s: sign(s, DAVE, -3), InvalidInput, "`-3` is not a paper number"),
    ("huge number", lambda s: sign(s, DAVE, 10**6), InvalidInput, "`1000000` is not a paper number"),
    ("unknown paper", lambda s: sign(s, DAVE, 99), NotFound, "There is no paper 99"),
    ("same paper twice", lambda s: sign(s, ALICE, 4), Conflict, "You already present paper 4."),
    ("second paper", lambda s: sign(s, ALICE, 6), Conflict, "You already present paper 4;"),
    ("same waitlist twice", lambda s: sign(s, CAROL, 4), Conflict, "already on the waitlist of paper 4 (position 1)"),
    ("second waitlist", lambda s: sign(s, CAROL, 5), Conflict, "You are on the waitlist of paper 4"),
    ("swap with yourself", lambda s: papers.offer_swap(s, from_id=ALICE, to_id=ALICE), Conflict, "yourself"),
    ("swap with no-paper", lambda s: papers.offer_swap(s, from_id=ALICE, to_id=CAROL), Conflict, "They hold no paper"),
    ("swap holding none", lambda s: papers.offer_swap(s, from_id=DAVE, to_id=ALICE), Conflict, "You hold no paper"),
    ("swap co-presenter", lambda s: papers.offer_swap(s, from_id=ALICE, to_id=BOB), Conflict, "You both present paper 4"),
    ("withdraw nothing", lambda s: papers.withdraw(s, discord_id=DAVE), Conflict, "You hold no paper"),
    ("unknown offer", lambda s: papers.answer_swap(s, offer_id=999, discord_id=BOB, accept=True), NotFound, "not addressed to you"),
    ("assign to a full paper", lambda s: papers.assign(s, actor_id=STAFF, discord_id=DAVE, discord_name="d", number=4), Conflict, "Paper 4 is full"),
    ("assign a presenter", lambda s: papers.assign(s, actor_id=STAFF, discord_id=ALICE, discord_name="a", number=6), Conflict, "They already present paper 4"),
    ("unassign nobody", lambda s: papers.unassign(s, actor_id=STAFF, discord_id=CAROL), Conflict, "They do not present any paper"),
    ("remove unknown", lambda s: papers.remove_paper(s, actor_id=STAFF, number=99), NotFound, "There is no paper 99"),
    ("add to a full week", lambda s: papers.save_paper(s, actor_id=STAFF, fields=PaperFields(30, "New", "", "", 10)), Conflict, "Week 10 already has 3 papers"),
    ("add to no week, all full", lambda s: papers.save_paper(s, actor_id=STAFF, fields=PaperFields(30, "New", "", "", None)), Conflict, "Every talk week already has 3 papers"),
    ("move to a full week", lambda s: papers.save_paper(s, actor_id=STAFF, fields=PaperFields(4, "GPTQ", "", "", 9)), Conflict, "Week 9 already has 3 papers"),
    ("add outside talk weeks", lambda s: papers.save_paper(s, actor_id=STAFF, fields=PaperFields(30, "New", "", "", 3)), InvalidInput, "Week must be between 9 and 15"),
    ("add without title", lambda s: papers.save_paper(s, actor_id=STAFF, fields=PaperFields(30, "  ", "", "", 9)), InvalidInput, "A title must be"),
    ("add with a bad link", lambda s: papers.save_paper(s, actor_id=STAFF, fields=PaperFields(30, "New", "", "javascript:x", 9)), InvalidInput, "is not an http(s) link"),
    ("bad override", lambda s: papers.set_signup_override(s, actor_id=STAFF, state="maybe"), InvalidInput, "open, closed or schedule"),
]  # fmt: skip


@pytest.mark.parametrize(("action", "error", "text"), [r[1:] for r in REFUSALS], ids=[r[0] for r in REFUSALS])
async def test_refusals_have_one_line_and_change_nothing(
    crowded: Services, action: Action, error: type[UserFacingError], text: str
) -> None:
    before = await snapshot(crowded)
    with pytest.raises(error) as refused:
        await action(crowded)
    assert text in refused.value.message
    assert "\n" not in refused.value.message
    assert await snapshot(crowded) == before


async def test_a_second_offer_to_the_same_presenter_is_refused_and_changes_nothing(crowded: Services) -> None:
    await papers.offer_swap(crowded, from_id=ALICE, to_id=ERIN)
    before = await snapshot(crowded)
    with pytest.raises(Conflict, match="already have an open swap offer"):
        await papers.offer_swap(crowded, from_id=ALICE, to_id=ERIN)
    assert await snapshot(crowded) == before


# ---- the sign-up window ------------------------------------------------------------------------
CLOSED_WINDOWS = [
    ("before it opens", OPENS - timedelta(minutes=1), None, f"opens <t:{int(OPENS.timestamp())}:F>"),
    ("when it closes", CLOSES, None, f"closed <t:{int(CLOSES.timestamp())}:F>"),
    ("weeks later", seoul(2025, 5, 1, 12, 0), None, f"closed <t:{int(CLOSES.timestamp())}:F>"),
    ("staff closed it", seoul(2025, 3, 12, 12, 0), "closed", "closed by the staff"),
]


@pytest.mark.parametrize(
    ("at", "override", "text"), [w[1:] for w in CLOSED_WINDOWS], ids=[w[0] for w in CLOSED_WINDOWS]
)
async def test_a_closed_sign_up_refuses_and_says_why(
    crowded: Services, clock: Clock, at: Any, override: str | None, text: str
) -> None:
    if override:
        await papers.set_signup_override(crowded, actor_id=STAFF, state=override)
    clock.set(at)
    window = await papers.signup_window(crowded)
    assert not window.is_open
    before = await snapshot(crowded)
    for attempt in (
        lambda: sign(crowded, DAVE, 6),
        lambda: sign(crowded, CAROL, 6),
        lambda: papers.offer_swap(crowded, from_id=ALICE, to_id=ERIN),
    ):
        with pytest.raises(NotAllowed) as refused:
            await attempt()
        assert text in refused.value.message and "\n" not in refused.value.message
    assert await snapshot(crowded) == before


@pytest.mark.parametrize(
    "at", [OPENS, CLOSES - timedelta(minutes=1)], ids=["the minute it opens", "its last minute"]
)
async def test_sign_up_is_open_from_the_paper_list_until_the_deadline(
    listed: Services, clock: Clock, at: Any
) -> None:
    clock.set(at)
    assert (await sign(listed, DAVE, 6)).paper.presenters == (DAVE,)


async def test_staff_override_opens_a_closed_window_and_closes_an_open_one(
    listed: Services, clock: Clock
) -> None:
    clock.set(CLOSES + timedelta(days=2))
    with pytest.raises(NotAllowed):
        await sign(listed, ALICE, 4)
    window = await papers.set_signup_override(listed, actor_id=STAFF, state="open")
    assert window.is_open and window.override == "open"
    assert not (await sign(listed, ALICE, 4)).waitlisted

    clock.set(seoul(2025, 3, 12, 12, 0))  # inside the configured dates
    assert not (await papers.set_signup_override(listed, actor_id=STAFF, state="closed")).is_open
    with pytest.raises(NotAllowed, match="closed by the staff"):
        await sign(listed, BOB, 4)
    assert (await papers.set_signup_override(listed, actor_id=STAFF, state="schedule")).is_open
    assert not (await sign(listed, BOB, 4)).waitlisted
    assert [a for a in await actions(listed) if a.startswith("signups.")] == [
        "signups.open",
        "signups.closed",
        "signups.schedule",
    ]


# ---- sign-up, status, withdraw -------------------------------------------------------------------
async def test_sign_up_then_waitlist_then_status(crowded: Services) -> None:
    info = await papers.paper(crowded, 4)
    assert info.presenters == (ALICE, BOB) and info.waitlist == (CAROL,) and info.free == 0
    assert info.week == 10 and info.talk_order == 0 and info.talk_at == seoul(2025, 5, 7, 11, 0)
    dave = await sign(crowded, DAVE, 4)
    assert dave.waitlisted and dave.position == 2

    alice = await papers.status(crowded, ALICE)
    assert [p.number for p in alice.papers] == [4] and alice.waitlist_paper is None
    waiting = await papers.status(crowded, DAVE)
    assert waiting.papers == () and waiting.waitlist_paper is not None
    assert (waiting.waitlist_paper.number, waiting.waitlist_position) == (4, 2)


async def test_taking_a_free_slot_leaves_your_waitlist(crowded: Services) -> None:
    result = await sign(crowded, CAROL, 6)
    assert not result.waitlisted and result.left_waitlist_of == 4
    board = await check_rules(crowded)
    assert board[4].waitlist == () and board[6].presenters == (CAROL,)


async def test_withdraw_promotes_the_first_waiting_student_in_the_same_transaction(crowded: Services) -> None:
    await sign(crowded, DAVE, 4)  # Carol, then Dave, wait on paper 4
    result = await papers.withdraw(crowded, discord_id=ALICE)
    assert result.papers == (4,) and result.waitlist_paper is None
    [promotion] = result.promotions
    assert promotion == Promotion(CAROL, await papers.paper(crowded, 4))
    assert promotion.paper.presenters == (BOB, CAROL) and promotion.paper.waitlist == (DAVE,)
    assert (await papers.status(crowded, DAVE)).waitlist_position == 1
    assert (await actions(crowded))[-2:] == ["signup.withdraw", "signup.promote"]
    async with crowded.db.read() as session:
        last_two = (await session.scalars(select(AuditEntry).order_by(AuditEntry.id.desc()).limit(2))).all()
    assert last_two[0].at == last_two[1].at and last_two[0].target_id == CAROL


async def test_withdraw_from_a_waitlist_promotes_nobody(crowded: Services) -> None:
    result = await papers.withdraw(crowded, discord_id=CAROL)
    assert (result.papers, result.waitlist_paper, result.promotions) == ((), 4, ())
    assert (await papers.paper(crowded, 4)).waitlist == ()


async def test_withdraw_cancels_the_presenters_open_swap_offers(crowded: Services) -> None:
    offer = await papers.offer_swap(crowded, from_id=ALICE, to_id=ERIN)
    await papers.withdraw(crowded, discord_id=ERIN)
    assert await offer_status(crowded, offer.id) == "cancelled"
    assert (await papers.status(crowded, ALICE)).offers_sent == ()


# ---- swaps -----------------------------------------------------------------------------------------
async def test_swap_offer_and_accept_exchanges_the_papers(crowded: Services) -> None:
    offer = await papers.offer_swap(crowded, from_id=ALICE, to_id=ERIN)
    assert (offer.from_paper, offer.to_paper, offer.status) == (4, 5, "pending")
    assert offer.expires_at == crowded.now() + timedelta(hours=24)
    assert [o.id for o in (await papers.status(crowded, ERIN)).offers_received] == [offer.id]
    assert [o.id for o in (await papers.status(crowded, ALICE)).offers_sent] == [offer.id]

    answer = await papers.answer_swap(crowded, offer_id=offer.id, discord_id=ERIN, accept=True)
    assert answer.status == "accepted"
    board = await check_rules(crowded)
    assert set(board[4].presenters) == {BOB, ERIN} and set(board[5].presenters) == {ALICE, FRANK}
    assert board[4].waitlist == (CAROL,)
    with pytest.raises(Conflict, match="already accepted"):
        await papers.answer_swap(crowded, offer_id=offer.id, discord_id=ERIN, accept=True)


async def test_only_the_addressee_can_answer(crowded: Services) -> None:
    offer = await papers.offer_swap(crowded, from_id=ALICE, to_id=ERIN)
    with pytest.raises(NotFound):
        await papers.answer_swap(crowded, offer_id=offer.id, discord_id=ALICE, accept=True)
    assert await offer_status(crowded, offer.id) == "pending"


async def test_swap_decline_moves_nobody(crowded: Services) -> None:
    before = await papers.board(crowded)
    offer = await papers.offer_swap(crowded, from_id=ALICE, to_id=ERIN)
    answer = await papers.answer_swap(crowded, offer_id=offer.id, discord_id=ERIN, accept=False)
    assert answer.status == "declined"
    assert await papers.board(crowded) == before
    with pytest.raises(Conflict, match="already declined"):
        await papers.answer_swap(crowded, offer_id=offer.id, discord_id=ERIN, accept=True)


async def test_swap_offers_expire_after_24_hours(crowded: Services, clock: Clock) -> None:
    before = await papers.board(crowded)
    offer = await papers.offer_swap(crowded, from_id=ALICE, to_id=ERIN)
    clock.advance(timedelta(hours=23, minutes=59))
    assert (await papers.status(crowded, ERIN)).offers_received != ()
    clock.advance(timedelta(hours=1))
    assert (await papers.status(crowded, ERIN)).offers_received == ()
    answer = await papers.answer_swap(crowded, offer_id=offer.id, discord_id=ERIN, accept=True)
    assert answer.status == "expired"
    assert await papers.board(crowded) == before
    # an expired offer no longer blocks a new one
    assert (await papers.offer_swap(crowded, from_id=ALICE, to_id=ERIN)).status == "pending"


async def test_accept_rechecks_holdings_after_the_offerer_swapped_elsewhere(crowded: Services) -> None:
    await sign(crowded, DAVE, 6)
    to_erin = await papers.offer_swap(crowded, from_id=ALICE, to_id=ERIN)
    to_dave = await papers.offer_swap(crowded, from_id=ALICE, to_id=DAVE)
    assert (
        await papers.answer_swap(crowded, offer_id=to_dave.id, discord_id=DAVE, accept=True)
    ).status == "accepted"
    before = await papers.board(crowded)
    answer = await papers.answer_swap(crowded, offer_id=to_erin.id, discord_id=ERIN, accept=True)
    assert answer.status == "cancelled"  # Alice no longer holds paper 4
    assert await papers.board(crowded) == before
    board = await check_rules(crowded)
    assert ALICE in board[6].presenters and ERIN in board[5].presenters


async def test_accept_after_the_offerer_withdrew_is_cancelled(crowded: Services) -> None:
    offer = await papers.offer_swap(crowded, from_id=ALICE, to_id=ERIN)
    await papers.withdraw(crowded, discord_id=ALICE)
    before = await snapshot(crowded)
    with pytest.raises(Conflict, match="cancelled"):
        await papers.answer_swap(crowded, offer_id=offer.id, discord_id=ERIN, accept=True)
    assert await snapshot(crowded) == before
    assert await offer_status(crowded, offer.id) == "cancelled"
    board = await check_rules(crowded)
    assert board[5].presenters == (ERIN, FRANK) and board[4].presenters == (BOB, CAROL)


# ---- staff ---------------------------------------------------------------------------------------
async def test_add_and_edit_a_paper(services: Services) -> None:
    first, created = await papers.save_paper(
        services, actor_id=STAFF, fields=PaperFields(7, "  A   paper ", "Kim", "https://x.example/a", None)
    )
    assert created and (first.number, first.title, first.week) == (7, "A paper", 9)
    edited, created = await papers.save_paper(
        services, actor_id=STAFF, fields=PaperFields(7, "A better title", "Kim, Lee", "", 12)
    )
    assert not created and (edited.title, edited.authors, edited.url, edited.week) == (
        "A better title",
        "Kim, Lee",
        "",
        12,
    )
    assert await actions(services) == ["paper.add", "paper.edit"]


async def test_a_paper_without_a_week_goes_to_the_first_week_with_room(listed: Services) -> None:
    await papers.remove_paper(listed, actor_id=STAFF, number=14)  # week 13
    await papers.remove_paper(listed, actor_id=STAFF, number=8)  # week 11
    info, created = await papers.save_paper(
        listed, actor_id=STAFF, fields=PaperFields(22, "New", "", "", None)
    )
    assert created and info.week == 11
    info, _ = await papers.save_paper(listed, actor_id=STAFF, fields=PaperFields(23, "Newer", "", "", None))
    assert info.week == 13


async def test_editing_a_paper_keeps_its_presenters(crowded: Services) -> None:
    info, created = await papers.save_paper(
        crowded, actor_id=STAFF, fields=PaperFields(4, "GPTQ (v2)", "", "", None)
    )
    assert not created and info.week == 10 and info.presenters == (ALICE, BOB) and info.waitlist == (CAROL,)


async def test_remove_a_paper_returns_who_to_tell(crowded: Services) -> None:
    offer = await papers.offer_swap(crowded, from_id=ALICE, to_id=ERIN)
    info = await papers.remove_paper(crowded, actor_id=STAFF, number=4)
    assert (info.presenters, info.waitlist) == ((ALICE, BOB), (CAROL,))
    board = await check_rules(crowded)
    assert 4 not in board and len(board) == 20
    assert await offer_status(crowded, offer.id) == "cancelled"
    assert (await papers.status(crowded, ALICE)).papers == ()
    assert (await papers.status(crowded, CAROL)).waitlist_paper is None
    # Alice and Carol may sign up again
    assert not (await sign(crowded, ALICE, 6)).waitlisted


async def test_assign_ignores_the_window_and_takes_them_off_their_waitlist(
    crowded: Services, clock: Clock
) -> None:
    clock.set(CLOSES + timedelta(days=30))
    info = await papers.assign(crowded, actor_id=STAFF, discord_id=CAROL, discord_name="carol", number=6)
    assert info.presenters == (CAROL,)
    board = await check_rules(crowded)
    assert board[4].waitlist == ()
    assert (await actions(crowded))[-1] == "paper.assign"


async def test_unassign_promotes_from_the_waitlist(crowded: Services) -> None:
    result = await papers.unassign(crowded, actor_id=STAFF, discord_id=BOB)
    assert result.papers == (4,)
    assert [p.discord_id for p in result.promotions] == [CAROL]
    assert (await papers.paper(crowded, 4)).presenters == (ALICE, CAROL)
    async with crowded.db.read() as session:
        row = await session.scalar(select(AuditEntry).where(AuditEntry.action == "signup.withdraw"))
    assert row is not None and (row.actor_id, row.target_id) == (STAFF, BOB)


# ---- import ----------------------------------------------------------------------------------------
async def test_import_the_sample_list_then_again_updates(listed: Services) -> None:
    board = await papers.board(listed)
    assert len(board) == 21
    assert {w: sum(1 for i in board if i.week == w) for w in range(9, 16)} == dict.fromkeys(range(9, 16), 3)
    again = await papers.import_papers(listed, actor_id=STAFF, data=SAMPLE)
    assert (again.added, again.updated, again.errors) == (0, 21, ())
    assert await papers.board(listed) == board


BAD_CSV = """number,title,authors,url,week
1,A good paper,Kim,https://a.example/1,9
x,Bad number,,,9
3,,,,9
4,Bad week,,,20
5,Bad link,,ftp://example.org,10
1,Duplicate,,,10
6,Too,many,https://b.example,11,extra
7,Week in words,,,ten
0,Zero,,,9
8,Fine too,,,
"""

BAD_CSV_ERRORS = (
    "line 3: number `x` is not a whole number",
    "line 4: A title must be 1–300 characters.",
    "line 5: Week must be between 9 and 15 (the talk weeks).",
    "line 6: `ftp://example.org` is not an http(s) link.",
    "line 7: paper 1 is already on line 2",
    "line 8: 6 columns, expected 5",
    "line 9: week `ten` is not a whole number",
    "line 10: `0` is not a paper number; see `/papers`.",
)


@pytest.mark.parametrize("already_listed", [False, True], ids=["empty list", "on top of the list"])
async def test_a_bad_file_reports_every_bad_row_and_imports_nothing(
    services: Services, already_listed: bool
) -> None:
    if already_listed:
        await papers.import_papers(services, actor_id=STAFF, data=SAMPLE)
    before = await snapshot(services)
    result = await papers.import_papers(services, actor_id=STAFF, data=BAD_CSV.encode())
    assert (result.added, result.updated) == (0, 0)
    assert result.errors == BAD_CSV_ERRORS
    assert await snapshot(services) == before


BAD_FILES = [
    ("empty", b"", "line 1: the file is empty"),
    ("blank", b" \n\n", "line 1: the file is empty"),
    ("not UTF-8", "number,title\n1,Café\n".encode("latin-1"), "line 1: the file is not UTF-8 text"),
    ("binary", b"\x89PNG\r\n\x1a\n\x00\x00", "line 1: the file is not UTF-8 text"),
    ("wrong header", b"id,name\n1,x\n", "line 1: the header must be number,title,authors,url,week"),
    ("no header", b"1,A paper,Kim,,9\n", "line 1: the header must be"),
    ("header only", b"number,title,authors,url,week\n", "line 2: no papers in the file"),
    ("too big", b"number,title\n" + b"1,x\n" * 300_000, "line 1: the file is larger than 1000 kB"),
    ("huge field", b"number,title\n1," + b"x" * 200_000 + b"\n", "line 2: not a readable CSV file"),
    (
        "NUL in a title",
        b"number,title\n1,Bad\x00title\n",
        "line 2: Title, authors and link cannot contain control characters.",
    ),
    (
        "four in one week",
        b"number,title,week\n1,a,9\n2,b,9\n3,c,9\n4,d,9\n",
        "week 9: more than 3 papers after the import",
    ),
]


@pytest.mark.parametrize(("data", "message"), [f[1:] for f in BAD_FILES], ids=[f[0] for f in BAD_FILES])
async def test_unusable_files_are_refused_with_a_line_number(
    services: Services, data: bytes, message: str
) -> None:
    before = await snapshot(services)
    result = await papers.import_papers(services, actor_id=STAFF, data=data)
    assert (result.added, result.updated) == (0, 0)
    assert len(result.errors) == 1 and result.errors[0].startswith(message)
    assert await snapshot(services) == before


async def test_import_accepts_excel_and_old_mac_line_endings(services: Services) -> None:
    data = "\ufeffNumber, Title ,week\r1,First,9\r2,Second,9\r".encode()
    result = await papers.import_papers(services, actor_id=STAFF, data=data)
    assert (result.added, result.errors) == (2, ())
    assert [(i.number, i.title) for i in await papers.board(services)] == [(1, "First"), (2, "Second")]


async def test_import_rows_without_a_week_fill_the_first_weeks_with_room(services: Services) -> None:
    data = b"number,title,week\n1,a,9\n2,b\n3,c\n4,d\n5,e,9\n"
    result = await papers.import_papers(services, actor_id=STAFF, data=data)
    assert result.errors == () and result.added == 5
    assert {i.number: i.week for i in await papers.board(services)} == {1: 9, 5: 9, 2: 9, 3: 10, 4: 10}


FUZZ_CONFIG = load_config(
    ROOT / "config.toml", environment=Environment(discord_token=None, database_url=None)
)
FUZZ_SERVICES = Services(None, Clock(), FUZZ_CONFIG, CourseCalendar(FUZZ_CONFIG))  # type: ignore[arg-type]
CSV_ALPHABET = st.sampled_from([*'0123456789,"\n\r \t;abcxyz:/.-é\x00\ufeff', "https://", "number,title"])


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.binary(max_size=200), st.lists(CSV_ALPHABET, max_size=80).map("".join).map(str.encode)))
def test_parsing_any_bytes_gives_rows_or_line_numbered_errors(data: bytes) -> None:
    rows, errors = papers.parse_papers_csv(FUZZ_SERVICES, data)
    assert rows or errors
    assert all(error.startswith("line ") and "\n" not in error for error in errors)
    for row in rows:
        assert papers.clean_paper(FUZZ_SERVICES, row) == row
