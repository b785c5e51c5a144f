"""The three messages with buttons are outbox rows planned in the transaction of the change that
promises them: a swap offer's DM (`swap_offer`), a group invitation's DM (`group_invite`) and an
appointment request's post in ta-log (`appointment_request`). Each row names its offer, invitation
or appointment in its key, so the feature's delivery rebuilds the buttons from the state at the time
of sending; a change that is rolled back plans nothing, and a refused one plans nothing either.
Runs on SQLite, and on PostgreSQL too when COURSEBOT_TEST_POSTGRES is set.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.db.models import Appointment, GroupInvite, Notification, SwapOffer
from bot.errors import Conflict
from bot.notify import outbox
from bot.services import Services, appointments, groups, papers
from bot.services.reminder_kinds import course_kinds, plan_all
from tests.conftest import ROOT, audit_rows, seoul

SAMPLE = (ROOT / "data" / "papers.sample.csv").read_bytes()
STAFF = 1
ALICE, BOB, CAROL, ERIN = 11, 12, 13, 15
KINDS = (papers.OFFER_KIND, groups.INVITE_KIND, appointments.REQUEST_KIND)


async def rows(services: Services, kind: str | None = None) -> list[Notification]:
    """The outbox rows (of one kind), in the order planned."""
    query = select(Notification).order_by(Notification.id)
    if kind is not None:
        query = query.where(Notification.kind == kind)
    async with services.db.read() as session:
        return list((await session.scalars(query)).all())


async def count(services: Services, model: Any) -> int:
    async with services.db.read() as session:
        return await session.scalar(select(func.count()).select_from(model)) or 0


def fails_after_planning(real: Callable[..., Awaitable[bool]]) -> Callable[..., Awaitable[bool]]:
    """`enqueue` that stores the row, then fails the transaction it is in."""

    async def enqueue(session: Any, item: outbox.Planned) -> bool:
        await real(session, item)
        raise RuntimeError("the change fails after planning its message")

    return enqueue


@pytest.fixture
async def presenting(services: Services) -> Services:
    """The sample papers; Alice presents paper 4, Erin paper 5."""
    await papers.import_papers(services, actor_id=STAFF, data=SAMPLE)
    for who, number in ((ALICE, 4), (ERIN, 5)):
        await papers.sign_up(
            services, discord_id=who, discord_name=f"user{who}", joined_at=None, number=number
        )
    return services


async def sparse_squad(services: Services) -> groups.GroupInfo:
    return await groups.create(services, discord_id=ALICE, discord_name="alice", name="Sparse Squad")


# ---- the kinds ---------------------------------------------------------------------------------
async def test_the_kinds_are_registered_and_start_up_leaves_their_rows_alone(presenting: Services) -> None:
    kinds = course_kinds(presenting)
    assert all(kind in kinds for kind in KINDS)
    offer = await papers.offer_swap(presenting, from_id=ALICE, to_id=ERIN)
    await plan_all(presenting, kinds)
    await plan_all(presenting, kinds)
    [row] = await rows(presenting, papers.OFFER_KIND)
    assert (row.source_key, row.status) == (f"swap-offer:{offer.id}", "pending")


# ---- swap offers -------------------------------------------------------------------------------
async def test_a_swap_offer_plans_its_dm_in_its_transaction(presenting: Services) -> None:
    offer = await papers.offer_swap(presenting, from_id=ALICE, to_id=ERIN)
    [row] = await rows(presenting, papers.OFFER_KIND)
    assert (row.kind, row.audience, row.user_id, row.status, row.category) == (
        papers.OFFER_KIND,
        "dm",
        ERIN,
        "pending",
        None,
    )
    assert row.due_at == presenting.now() and row.event_at == offer.expires_at  # useless once expired
    assert papers.offer_id_of(row.source_key) == offer.id
    expires = int((presenting.now() + timedelta(hours=24)).timestamp())
    assert row.text == (
        f"<@{ALICE}> offers to swap papers: you would present paper 4 instead of paper 5. "
        f"The offer expires <t:{expires}:R>."
    )
    assert await papers.offer_to_deliver(presenting, offer.id) == offer


async def test_a_swap_offer_rolled_back_plans_nothing(
    presenting: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = len(await rows(presenting))
    monkeypatch.setattr(papers.swaps, "enqueue", fails_after_planning(outbox.enqueue))
    with pytest.raises(RuntimeError):
        await papers.offer_swap(presenting, from_id=ALICE, to_id=ERIN)
    assert await count(presenting, SwapOffer) == 0
    assert len(await rows(presenting)) == before
    monkeypatch.undo()
    await papers.offer_swap(presenting, from_id=ALICE, to_id=ERIN)
    assert len(await rows(presenting, papers.OFFER_KIND)) == 1


async def test_a_refused_swap_offer_plans_nothing(presenting: Services) -> None:
    await papers.offer_swap(presenting, from_id=ALICE, to_id=ERIN)
    before = len(await rows(presenting))
    for to_id, reason in ((ERIN, "already have an open swap offer"), (BOB, "They hold no paper")):
        with pytest.raises(Conflict, match=reason):
            await papers.offer_swap(presenting, from_id=ALICE, to_id=to_id)
    assert len(await rows(presenting)) == before


async def test_the_delivery_reads_the_offer_as_it_is_when_sending(presenting: Services) -> None:
    offer = await papers.offer_swap(presenting, from_id=ALICE, to_id=ERIN)
    await papers.answer_swap(presenting, offer_id=offer.id, discord_id=ERIN, accept=False)
    now = await papers.offer_to_deliver(presenting, offer.id)
    assert now is not None and now.status == "declined"
    assert await papers.offer_to_deliver(presenting, offer.id + 1) is None


async def test_an_offer_dm_not_sent_before_the_offer_expired_is_skipped(presenting: Services) -> None:
    """The bot was down for the whole life of the offer: at start-up its DM is not sent."""
    offer = await papers.offer_swap(presenting, from_id=ALICE, to_id=ERIN)
    expired: list[int] = []
    claimed = await outbox.claim_due(
        presenting.db, now=offer.expires_at, lease=timedelta(minutes=2), expired=expired
    )
    assert claimed == []
    [row] = await rows(presenting, papers.OFFER_KIND)
    assert expired == [row.id] and row.status == "skipped" and "the event had passed" in (row.error or "")


# ---- group invitations -------------------------------------------------------------------------
async def test_an_invitation_plans_its_dm_in_its_transaction(services: Services) -> None:
    await sparse_squad(services)
    invitation = await groups.invite(services, inviter_id=ALICE, invitee_id=BOB)
    [row] = await rows(services)
    assert (row.kind, row.audience, row.user_id, row.status) == (groups.INVITE_KIND, "dm", BOB, "pending")
    assert row.due_at == services.now() and row.event_at == invitation.expires_at
    assert groups.invite_id_of(row.source_key) == invitation.id
    expires = int((services.now() + timedelta(hours=48)).timestamp())
    assert row.text == (
        f"<@{ALICE}> invites you to project group Sparse Squad (<@{ALICE}>). "
        f"The invitation expires <t:{expires}:R>."
    )
    assert await groups.invite_to_deliver(services, invitation.id) == invitation


async def test_an_invitation_rolled_back_plans_nothing(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    await sparse_squad(services)
    monkeypatch.setattr(groups.invites, "enqueue", fails_after_planning(outbox.enqueue))
    with pytest.raises(RuntimeError):
        await groups.invite(services, inviter_id=ALICE, invitee_id=BOB)
    assert await count(services, GroupInvite) == 0
    assert await rows(services) == []


async def test_a_refused_invitation_plans_nothing(services: Services) -> None:
    await sparse_squad(services)
    await groups.create(services, discord_id=CAROL, discord_name="carol", name="Quant Crew")
    with pytest.raises(Conflict, match="already in a group"):
        await groups.invite(services, inviter_id=ALICE, invitee_id=CAROL)
    assert await rows(services) == []


async def test_an_undeliverable_invitation_is_withdrawn_once_and_the_inviter_told(services: Services) -> None:
    group = await sparse_squad(services)
    invitation = await groups.invite(services, inviter_id=ALICE, invitee_id=BOB)
    assert await groups.withdraw_invite(services, invite_id=invitation.id, reason="their DMs are closed")
    assert await groups.withdraw_invite(services, invite_id=invitation.id, reason="again") is False
    now = await groups.invite_to_deliver(services, invitation.id)
    assert now is not None and now.status == "cancelled"
    told = await rows(services, "direct_dm")
    assert [(row.user_id, row.text) for row in told] == [
        (
            ALICE,
            f"Your invitation to <@{BOB}> (group Sparse Squad) could not be delivered (their DMs are "
            f"closed), so it is withdrawn. Share your invite code instead: `{group.invite_code}` "
            f"(`/group join code:{group.invite_code}`).",
        )
    ]
    [entry] = await audit_rows(services, "group.invite_withdrawn")
    assert (entry.actor_id, entry.target_id) == (None, BOB)
    # the withdrawn invitation no longer blocks a new one
    await groups.invite(services, inviter_id=ALICE, invitee_id=BOB)


async def test_an_answered_invitation_is_not_withdrawn(services: Services) -> None:
    await sparse_squad(services)
    invitation = await groups.invite(services, inviter_id=ALICE, invitee_id=BOB)
    await groups.answer_invite(
        services, invite_id=invitation.id, discord_id=BOB, discord_name="bob", accept=True
    )
    before = len(await rows(services))
    assert (
        await groups.withdraw_invite(services, invite_id=invitation.id, reason="their DMs are closed")
        is False
    )
    assert len(await rows(services)) == before
    assert await audit_rows(services, "group.invite_withdrawn") == []


async def test_the_invitation_of_a_dissolved_group_is_gone(services: Services) -> None:
    await sparse_squad(services)
    invitation = await groups.invite(services, inviter_id=ALICE, invitee_id=BOB)
    await groups.leave(services, discord_id=ALICE)
    assert await groups.invite_to_deliver(services, invitation.id) is None
    assert (
        await groups.withdraw_invite(services, invite_id=invitation.id, reason="their DMs are closed")
        is False
    )


# ---- appointment requests ----------------------------------------------------------------------
async def ask(services: Services, when: str = "2025-03-11 14:00") -> appointments.AppointmentInfo:
    return await appointments.request_appointment(
        services, discord_id=ALICE, discord_name="alice", joined_at=None, when=when, topic="My project"
    )


async def test_a_request_plans_its_post_in_ta_log_in_its_transaction(services: Services) -> None:
    info = await ask(services)
    [row] = await rows(services)
    assert (row.kind, row.audience, row.user_id, row.status) == (
        appointments.REQUEST_KIND,
        "staff",
        None,
        "pending",
    )
    assert row.due_at == services.now() and row.event_at == info.ends_at
    assert appointments.request_id_of(row.source_key) == info.id
    start = int(seoul(2025, 3, 11, 14, 0).timestamp())
    assert row.text == (
        f"📅 Appointment request #{info.id} from <@{ALICE}>: <t:{start}:F> (<t:{start}:R>), 30 min — My project"
    )


async def test_a_request_rolled_back_plans_nothing(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(appointments.requests, "enqueue", fails_after_planning(outbox.enqueue))
    with pytest.raises(RuntimeError):
        await ask(services)
    assert await count(services, Appointment) == 0
    assert await rows(services) == []


async def test_a_refused_request_plans_nothing(services: Services) -> None:
    await ask(services)
    with pytest.raises(Conflict, match="overlaps"):
        await ask(services, when="2025-03-11 14:15")
    assert len(await rows(services)) == 1


async def test_the_post_recorded_first_is_kept(services: Services) -> None:
    info = await ask(services)
    first = await appointments.set_staff_message(services, appointment_id=info.id, message_id=501)
    again = await appointments.set_staff_message(services, appointment_id=info.id, message_id=502)
    assert first is not None and again is not None
    assert first.staff_message_id == again.staff_message_id == 501
    assert await appointments.set_staff_message(services, appointment_id=info.id + 1, message_id=503) is None
