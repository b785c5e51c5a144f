"""Every DM the product promises about a change is an outbox row planned in the transaction of that
change: a waitlist promotion, a swap's answer, the staff's paper assign, unassign and removal, an
invitation's answer, a staff move, an autofill placement, an excuse decision.

Each test makes the change, then reads the outbox: one pending `direct_dm` row per recipient, due at
once, whatever their reminder settings. Nothing is sent by a service (it has no Discord); the rows
are what the dispatcher delivers. A change whose planning fails is rolled back with its DMs, and a
DM is never planned for a change that did not happen.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.db.models import Notification
from bot.errors import Conflict
from bot.services import Services, attendance, groups, papers
from tests.conftest import ROOT, seoul

SAMPLE = (ROOT / "data" / "papers.sample.csv").read_bytes()
STAFF = 1
ALICE, BOB, CAROL, DAVE, ERIN, FRANK = 11, 12, 13, 14, 15, 16


async def told(services: Services) -> list[tuple[int, str]]:
    """(recipient, text) of every one-off DM in the outbox, in the order planned; each is pending,
    due by now and in no reminder category."""
    async with services.db.read() as session:
        rows = (
            await session.scalars(
                select(Notification).where(Notification.kind == "direct_dm").order_by(Notification.id)
            )
        ).all()
    for row in rows:
        assert (row.audience, row.status, row.category) == ("dm", "pending", None)
        assert row.due_at <= services.now() and row.event_at is None
    assert len({row.source_key for row in rows}) == len(rows)
    return [(row.user_id, row.text) for row in rows if row.user_id is not None]


async def outbox_size(services: Services) -> int:
    async with services.db.read() as session:
        return await session.scalar(select(func.count()).select_from(Notification)) or 0


def failing_enqueue(*_: Any, **__: Any) -> Any:
    raise RuntimeError("the outbox is unavailable")


async def sign(services: Services, who: int, number: int) -> None:
    await papers.sign_up(services, discord_id=who, discord_name=f"user{who}", joined_at=None, number=number)


@pytest.fixture
async def crowded(services: Services) -> Services:
    """The sample papers; paper 4 full (Alice, Bob) with Carol then Dave waiting; paper 5 full (Erin, Frank)."""
    await papers.import_papers(services, actor_id=STAFF, data=SAMPLE)
    for who, number in ((ALICE, 4), (BOB, 4), (CAROL, 4), (DAVE, 4), (ERIN, 5), (FRANK, 5)):
        await sign(services, who, number)
    assert await told(services) == []
    return services


# ---- papers -----------------------------------------------------------------------------------
async def test_a_promotion_from_the_waitlist_is_planned_with_the_withdrawal(crowded: Services) -> None:
    result = await papers.withdraw(crowded, discord_id=ALICE)
    [promotion] = result.promotions
    assert promotion.discord_id == CAROL
    [(who, text)] = await told(crowded)
    assert who == CAROL
    assert text == (
        "Good news: a slot opened and you moved up from the waitlist. "
        f"You now present {papers.talk_text(promotion.paper)}."
    )
    assert "paper 4 — " in text and "<t:" in text


async def test_a_withdrawal_whose_dm_cannot_be_planned_does_not_happen(
    crowded: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = await papers.board(crowded)
    monkeypatch.setattr(papers.core, "enqueue", failing_enqueue)  # every DM of a sign-up change
    with pytest.raises(RuntimeError):
        await papers.withdraw(crowded, discord_id=ALICE)
    assert await papers.board(crowded) == before  # Alice still presents, Carol still waits
    monkeypatch.undo()
    assert await told(crowded) == []


async def test_the_same_student_promoted_twice_is_told_twice(crowded: Services) -> None:
    await papers.withdraw(crowded, discord_id=ALICE)  # Carol promoted
    await papers.withdraw(crowded, discord_id=CAROL)  # Dave promoted
    await sign(crowded, CAROL, 4)  # Carol waits again
    await papers.withdraw(crowded, discord_id=BOB)  # Carol promoted again, at the same instant
    assert [who for who, _ in await told(crowded)] == [CAROL, DAVE, CAROL]


async def test_a_swap_answer_is_told_to_the_offerer(crowded: Services) -> None:
    accepted = await papers.offer_swap(crowded, from_id=ALICE, to_id=ERIN)
    declined = await papers.offer_swap(crowded, from_id=FRANK, to_id=BOB)
    assert await told(crowded) == []  # the offer itself is a `swap_offer` row (its DM has buttons)
    await papers.answer_swap(crowded, offer_id=accepted.id, discord_id=ERIN, accept=True)
    await papers.answer_swap(crowded, offer_id=declined.id, discord_id=BOB, accept=False)
    assert await told(crowded) == [
        (ALICE, f"<@{ERIN}> accepted your swap: you now present paper 5."),
        (FRANK, f"<@{BOB}> declined your swap offer."),
    ]
    with pytest.raises(Conflict):  # answering again changes nothing and tells nobody
        await papers.answer_swap(crowded, offer_id=accepted.id, discord_id=ERIN, accept=True)
    assert len(await told(crowded)) == 2


async def test_an_expired_swap_tells_nobody(crowded: Services) -> None:
    offer = await papers.offer_swap(crowded, from_id=ALICE, to_id=ERIN)
    crowded.clock.set(seoul(2025, 3, 11, 11, 1))
    assert (await papers.answer_swap(crowded, offer_id=offer.id, discord_id=ERIN, accept=True)).status == (
        "expired"
    )
    assert await told(crowded) == []


async def test_removing_a_paper_tells_each_presenter_and_waiting_student_once(crowded: Services) -> None:
    await papers.remove_paper(crowded, actor_id=STAFF, number=4)
    rows = await told(crowded)
    assert sorted(who for who, _ in rows) == [ALICE, BOB, CAROL, DAVE]
    title = next(line for line in SAMPLE.decode().splitlines() if line.startswith("4,")).split(",")[1]
    assert {text for _, text in rows} == {
        f"Paper 4 — {title} was removed from the list by the staff; please `/signup paper` again."
    }


async def test_assign_and_unassign_tell_the_student_and_the_promoted(crowded: Services) -> None:
    info = await papers.assign(crowded, actor_id=STAFF, discord_id=DAVE, discord_name="dave", number=6)
    assert await told(crowded) == [(DAVE, f"The staff assigned you to present {papers.talk_text(info)}.")]
    result = await papers.unassign(crowded, actor_id=STAFF, discord_id=BOB)
    assert [p.discord_id for p in result.promotions] == [CAROL]
    rows = (await told(crowded))[1:]
    assert rows[0] == (BOB, "The staff removed you from paper 4.")
    assert rows[1][0] == CAROL and rows[1][1].startswith("Good news: a slot opened")
    assert len(rows) == 2


async def test_a_students_own_withdrawal_does_not_tell_them(crowded: Services) -> None:
    await papers.withdraw(crowded, discord_id=ERIN)  # paper 5 has nobody waiting
    assert await told(crowded) == []


# ---- groups ------------------------------------------------------------------------------------
async def test_an_invitation_answer_is_told_to_the_inviter(services: Services) -> None:
    await groups.create(services, discord_id=ALICE, discord_name="alice", name="Sparse Squad")
    first = await groups.invite(services, inviter_id=ALICE, invitee_id=BOB)
    second = await groups.invite(services, inviter_id=ALICE, invitee_id=CAROL)
    assert await told(services) == []
    await groups.answer_invite(services, invite_id=first.id, discord_id=BOB, discord_name="bob", accept=True)
    await groups.answer_invite(
        services, invite_id=second.id, discord_id=CAROL, discord_name="carol", accept=False
    )
    assert await told(services) == [
        (ALICE, f"<@{BOB}> accepted your invitation to group Sparse Squad."),
        (ALICE, f"<@{CAROL}> declined your invitation to group Sparse Squad."),
    ]


async def test_an_acceptance_refused_by_the_rules_tells_nobody(services: Services) -> None:
    await groups.create(services, discord_id=ALICE, discord_name="alice", name="Sparse Squad")
    offer = await groups.invite(services, inviter_id=ALICE, invitee_id=BOB)
    await groups.create(services, discord_id=BOB, discord_name="bob", name="Quant Crew")
    before = await outbox_size(services)
    with pytest.raises(Conflict):  # Bob is in a group of his own now
        await groups.answer_invite(
            services, invite_id=offer.id, discord_id=BOB, discord_name="bob", accept=True
        )
    assert await outbox_size(services) == before


async def test_a_staff_move_tells_the_student(services: Services) -> None:
    await groups.create(services, discord_id=ALICE, discord_name="alice", name="Sparse Squad")
    await groups.create(services, discord_id=BOB, discord_name="bob", name="Quant Crew")
    await groups.move(services, actor_id=STAFF, discord_id=BOB, discord_name="bob", group_name="sparse squad")
    await groups.move(
        services, actor_id=STAFF, discord_id=CAROL, discord_name="carol", group_name="Sparse Squad"
    )
    await groups.move(services, actor_id=STAFF, discord_id=CAROL, discord_name="carol", group_name=None)
    assert await told(services) == [
        (BOB, "The staff moved you out of Quant Crew (now dissolved) and into Sparse Squad."),
        (CAROL, "The staff moved you into Sparse Squad."),
        (CAROL, "The staff moved you out of Sparse Squad."),
    ]


async def test_autofill_tells_each_placed_student_once_with_their_group(services: Services) -> None:
    await groups.create(services, discord_id=ALICE, discord_name="alice", name="Sparse Squad")
    students = [ALICE, BOB, CAROL, DAVE, ERIN, FRANK]
    plan = await groups.plan_autofill(services, student_ids=students)
    assert await told(services) == []  # a plan changes nothing and tells nobody
    applied = await groups.apply_autofill(services, actor_id=STAFF, student_ids=students, digest=plan.digest)
    rows = await told(services)
    placed = sorted(who for g in applied.groups for who in g.added)
    assert sorted(who for who, _ in rows) == placed == [BOB, CAROL, DAVE, ERIN, FRANK]
    by_name = {g.name: g for g in await groups.all_groups(services)}
    for who, text in rows:
        [group] = [g for g in by_name.values() if who in g.members]
        others = [m for m in group.members if m != who]
        assert text == (
            f"The staff placed you in project group {group.name} with {', '.join(f'<@{m}>' for m in others)}."
        )
    with pytest.raises(Conflict):  # the same plan again: refused, nobody told twice
        await groups.apply_autofill(services, actor_id=STAFF, student_ids=students, digest=plan.digest)
    assert len(await told(services)) == len(placed)


async def test_an_autofill_whose_dms_cannot_be_planned_places_nobody(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    students = [ALICE, BOB, CAROL, DAVE]
    plan = await groups.plan_autofill(services, student_ids=students)
    monkeypatch.setattr(groups.core, "enqueue", failing_enqueue)  # every DM of a group change
    with pytest.raises(RuntimeError):
        await groups.apply_autofill(services, actor_id=STAFF, student_ids=students, digest=plan.digest)
    assert await groups.all_groups(services) == []
    monkeypatch.undo()
    assert await told(services) == []


# ---- excuses -----------------------------------------------------------------------------------
async def test_an_excuse_decision_is_told_to_the_student(services: Services) -> None:
    joined = seoul(2025, 3, 1, 9, 0)
    asked = [
        await attendance.request_excuse(
            services, discord_id=who, discord_name=None, joined_at=joined, day=date(2025, 3, 5), reason="flu"
        )
        for who in (ALICE, BOB)
    ]
    assert await told(services) == []
    await attendance.decide_excuse(services, actor_id=STAFF, excuse_id=asked[0].id, approve=True)
    await attendance.decide_excuse(services, actor_id=STAFF, excuse_id=asked[1].id, approve=False)
    with pytest.raises(Conflict):
        await attendance.decide_excuse(services, actor_id=STAFF, excuse_id=asked[1].id, approve=True)
    assert await told(services) == [
        (ALICE, "Your excuse request for the lecture of Wed 2025-03-05 was approved by the staff."),
        (BOB, "Your excuse request for the lecture of Wed 2025-03-05 was denied by the staff."),
    ]
