"""The registry of reminder kinds (bot/notify/kinds.py) and the course's kinds
(bot/services/reminder_kinds.py): every kind a feature plans is registered, plans run at start-up
in one transaction, and a kind's recipient filter narrows a `dm_all` fan-out."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import Notification
from bot.notify.kinds import ReminderKind, ReminderKinds
from bot.notify.outbox import Claimed, enqueue, staff_note
from bot.services import Services, papers, reminder_kinds, reviews
from tests.conftest import ROOT, seoul

SAMPLE = (ROOT / "data" / "papers.sample.csv").read_bytes()
TA, ALICE, BOB, CAROL = 9000, 1001, 1002, 1003


def claimed(kind: str, source_key: str) -> Claimed:
    return Claimed(1, kind, "dm_all", "presentation", None, "text", 1, source_key)


def test_every_kind_the_features_plan_is_registered(services: Services) -> None:
    kinds = reminder_kinds.course_kinds(services)
    names = [kind.name for kind in kinds]
    assert names == [
        "deadline",
        "office_hours",
        "office_hours_notice",
        "talk",
        "review_reminder",
        "talk_thread",
        "talk_thread_edit",
        "talk_thread_archive",
        "talk_question",
        "engagement_reminder",
        "attendance_warning",
        "welcome",
        "appointment_reminder",
        "appointment_request",
        "swap_offer",
        "group_invite",
    ]
    assert [kind.name for kind in kinds if kind.plan is not None] == [
        "deadline",
        "office_hours",
        "talk",
        "review_reminder",
        "talk_thread",
        "appointment_reminder",
    ]
    assert "direct_dm" not in kinds  # the outbox's own generic kinds need no registration


def test_a_kind_registered_twice_is_refused() -> None:
    kinds = ReminderKinds()
    kinds.register(ReminderKind("talk"))
    with pytest.raises(ValueError, match="'talk' is registered twice"):
        kinds.register(ReminderKind("talk"))


async def test_a_delivery_is_attached_only_to_a_registered_kind() -> None:
    kinds = ReminderKinds()
    kinds.register(ReminderKind("talk_thread"))

    async def deliver(row: Claimed) -> str | None:
        return f"delivered {row.source_key}"

    assert kinds.delivery("talk_thread") is None
    kinds.attach_delivery("talk_thread", deliver)
    attached = kinds.delivery("talk_thread")
    assert attached is not None and await attached(claimed("talk_thread", "talk-thread:1")) == (
        "delivered talk-thread:1"
    )
    with pytest.raises(KeyError, match="'nobody' is not registered"):
        kinds.attach_delivery("nobody", deliver)


async def test_buttons_are_attached_only_to_a_registered_kind() -> None:
    kinds = ReminderKinds()
    kinds.register(ReminderKind("swap_offer"))

    async def buttons(row: Claimed) -> Any:
        return f"buttons of {row.source_key}"

    assert kinds.buttons("swap_offer") is None
    kinds.attach_buttons("swap_offer", buttons)
    attached = kinds.buttons("swap_offer")
    assert attached is not None and attached.refused is None
    assert await attached.buttons(claimed("swap_offer", "swap-offer:1")) == "buttons of swap-offer:1"
    with pytest.raises(KeyError, match="'nobody' is not registered"):
        kinds.attach_buttons("nobody", buttons)


async def test_without_a_filter_every_candidate_gets_the_row() -> None:
    kinds = ReminderKinds()
    kinds.register(ReminderKind("deadline"))
    assert await kinds.recipients(claimed("deadline", "deadline:x:1d:dm"), [3, 1, 2]) == [3, 1, 2]
    assert await kinds.recipients(claimed("left_by_an_old_version", "old:1"), [1]) == [1]


async def test_plans_run_in_order_in_one_transaction_and_an_error_keeps_none(services: Services) -> None:
    ran: list[str] = []

    async def first(session: AsyncSession) -> None:
        ran.append("first")
        await enqueue(session, staff_note("planned-first", "a row", services.now()))

    async def broken(session: AsyncSession) -> None:
        ran.append("broken")
        raise RuntimeError("the plan failed")

    kinds = ReminderKinds()
    kinds.register(ReminderKind("a", plan=first))
    kinds.register(ReminderKind("b"))
    kinds.register(ReminderKind("c", plan=broken))
    with pytest.raises(RuntimeError, match="the plan failed"):
        await kinds.plan_all(services.db)
    assert ran == ["first", "broken"]
    async with services.db.read() as session:
        assert await session.scalar(select(func.count()).select_from(Notification)) == 0


async def test_the_review_reminder_goes_only_to_who_has_not_reviewed(services: Services) -> None:
    await papers.import_papers(services, actor_id=TA, data=SAMPLE)
    board = await papers.board(services, 9)
    talk = board[0]
    services.clock.set(seoul(2025, 4, 1, 9, 0))
    await papers.assign(services, actor_id=TA, discord_id=ALICE, discord_name="alice", number=talk.number)
    day = services.calendar.talk_date(9)
    services.clock.set(seoul(day.year, day.month, day.day, 18, 0))
    await reviews.submit(
        services,
        kind="talk",
        target_id=talk.number,
        reviewer_id=BOB,
        reviewer_name="bob",
        scores=("4", "4", "4"),
        comment="",
    )
    kinds = reminder_kinds.course_kinds(services)
    row = claimed("review_reminder", "review-reminder:9")
    # Alice presents that week and Bob reviewed: only Carol is reminded.
    assert await kinds.recipients(row, [ALICE, BOB, CAROL]) == [CAROL]
    assert await kinds.recipients(claimed("review_reminder", "review-reminder:10"), [ALICE, BOB]) == [
        ALICE,
        BOB,
    ]
