"""Appointments ("by appointment" office hours) against a real database: the request's rules, the
staff's decisions (once, whoever is second is told by whom), proposals, cancelling from either side,
the DMs and reminders planned in the outbox in the transaction of each change, the audit, and the
free slots offered by autocomplete.

The clock stands at Mon 2025-03-10 11:00 KST (week 2); the term runs 2025-03-03 to 2025-06-22;
appointments are 30 minutes; the staff's hours are Tue 14:00–16:00 and Thu 15:00–17:00.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.db.models import Appointment, Notification
from bot.errors import Conflict, InvalidInput, NotFound
from bot.services import Services, appointments
from bot.services.reminder_kinds import plan_all
from tests.conftest import audit_rows, seoul

ALICE, BOB = 11, 12
TA, PROF = 1, 2


async def ask(
    services: Services, who: int = ALICE, when: str = "2025-03-11 14:00", topic: str = "My project"
) -> int:
    info = await appointments.request_appointment(
        services, discord_id=who, discord_name=f"user{who}", joined_at=None, when=when, topic=topic
    )
    return info.id


async def outbox(services: Services, prefix: str = "appointment") -> list[tuple[str, int | None, str, str]]:
    """(source key, recipient, status, text) of the appointment rows, in the order planned, but for
    the requests' posts in ta-log (tests/services/test_messages_with_buttons.py)."""
    async with services.db.read() as session:
        rows = (
            await session.scalars(
                select(Notification)
                .where(
                    Notification.source_key.startswith(prefix),
                    Notification.kind != appointments.REQUEST_KIND,
                )
                .order_by(Notification.id)
            )
        ).all()
    return [(row.source_key, row.user_id, row.status, row.text) for row in rows]


async def statuses(services: Services) -> list[str]:
    async with services.db.read() as session:
        return list((await session.scalars(select(Appointment.status).order_by(Appointment.id))).all())


def ts(*args: int) -> int:
    return int(seoul(*args).timestamp())


# ---- asking ------------------------------------------------------------------------------------
async def test_a_request_is_stored_and_audited(services: Services) -> None:
    number = await ask(services)
    [info] = await appointments.my_appointments(services, ALICE)
    assert (info.id, info.status, info.topic) == (number, "pending", "My project")
    assert (info.starts_at, info.ends_at) == (seoul(2025, 3, 11, 14, 0), seoul(2025, 3, 11, 14, 30))
    [entry] = await audit_rows(services, "appointment.request")
    assert (entry.actor_id, entry.target_id) == (ALICE, ALICE)
    assert await outbox(services) == []  # nobody is told by DM yet; ta-log gets the request's post
    async with services.db.read() as session:
        posts = (
            await session.scalars(
                select(Notification.source_key).where(Notification.kind == appointments.REQUEST_KIND)
            )
        ).all()
    assert posts == [f"appointment-request:{number}"]


@pytest.mark.parametrize(
    ("when", "reason"),
    [
        ("2025-03-10 10:00", "has already passed"),
        ("2025-03-01 10:00", "has already passed"),
        ("2025-07-01 10:00", r"is outside the term \(2025-03-03 to 2025-06-22\)"),
        ("2025-06-22 23:45", "is outside the term"),  # it would end on the 23rd
        ("tomorrow at 3", "is not a time like"),
        ("2025-02-30 10:00", "is not a time like"),
    ],
)
async def test_refused_times(services: Services, when: str, reason: str) -> None:
    with pytest.raises(InvalidInput, match=reason):
        await ask(services, when=when)
    assert await statuses(services) == []
    assert await audit_rows(services, "appointment.request") == []


async def test_iso_with_an_offset_is_accepted(services: Services) -> None:
    await ask(services, when="2025-03-11T05:00:00+00:00")
    [info] = await appointments.my_appointments(services, ALICE)
    assert info.starts_at == seoul(2025, 3, 11, 14, 0)


@pytest.mark.parametrize("topic", ["", "   ", "\u3164\u3164", "x" * 201, "hi @everyone"])
async def test_refused_topics(services: Services, topic: str) -> None:
    with pytest.raises(InvalidInput):
        await ask(services, topic=topic)
    assert await statuses(services) == []


async def test_an_overlap_with_the_students_own_is_refused(services: Services) -> None:
    first = await ask(services, when="2025-03-11 14:00")
    with pytest.raises(Conflict, match=f"overlaps your pending appointment #{first}"):
        await ask(services, when="2025-03-11 14:15")
    await ask(services, BOB, when="2025-03-11 14:15")  # another student's is no clash
    await ask(services, when="2025-03-11 14:30")  # back to back is fine
    assert await statuses(services) == ["pending", "pending", "pending"]


async def test_an_accepted_one_blocks_its_time_too_but_a_declined_one_not(services: Services) -> None:
    first = await ask(services, when="2025-03-11 14:00")
    await appointments.decide(services, actor_id=TA, appointment_id=first, accept=True)
    with pytest.raises(Conflict, match="overlaps your accepted appointment"):
        await ask(services, when="2025-03-11 14:10")
    second = await ask(services, when="2025-03-12 14:00")
    await appointments.decide(services, actor_id=TA, appointment_id=second, accept=False)
    await ask(services, when="2025-03-12 14:00")


async def test_at_most_max_pending_waiting(services: Services) -> None:
    await ask(services, when="2025-03-11 14:00")
    second = await ask(services, when="2025-03-12 14:00")
    with pytest.raises(Conflict, match=r"already have 2 requests waiting for an answer \(at most 2\)"):
        await ask(services, when="2025-03-13 14:00")
    await appointments.cancel(services, actor_id=ALICE, appointment_id=second, as_staff=False)
    await ask(services, when="2025-03-13 14:00")
    assert await statuses(services) == ["pending", "cancelled", "pending"]


async def test_racing_requests_keep_the_limit_and_never_overlap(services: Services) -> None:
    results = await asyncio.gather(
        *(ask(services, when=f"2025-03-{11 + i} 14:00") for i in range(6)),
        *(ask(services, BOB, when="2025-03-11 15:00") for _ in range(4)),
        return_exceptions=True,
    )
    alice, bob = results[:6], results[6:]
    assert sum(isinstance(r, int) for r in alice) == 2
    assert sum(isinstance(r, int) for r in bob) == 1
    assert all(isinstance(r, Conflict) for r in results if not isinstance(r, int))


# ---- the staff's decision ----------------------------------------------------------------------
async def test_accepting_tells_the_student_and_plans_both_reminders(services: Services) -> None:
    number = await ask(services)
    info = await appointments.decide(services, actor_id=TA, appointment_id=number, accept=True)
    assert (info.status, info.staff_id) == ("accepted", TA)
    start = ts(2025, 3, 11, 14, 0)
    rows = await outbox(services)
    assert [(key, user, status) for key, user, status, _ in rows] == [
        (f"appointment:{number}:decision", ALICE, "pending"),
        (f"appointment-remind:{number}:1h:student", ALICE, "pending"),
        (f"appointment-remind:{number}:1h:staff", TA, "pending"),
    ]
    assert rows[0][3].startswith(f"📅 Your appointment <t:{start}:F> (<t:{start}:R>) at Terarosa")
    assert f"accepted by <@{TA}>: My project" in rows[0][3]
    assert rows[2][3].startswith(f"⏰ Appointment #{number} with <@{ALICE}> <t:{start}:F>")
    async with services.db.read() as session:
        due = (
            await session.scalars(
                select(Notification.due_at).where(Notification.source_key.like("appointment-remind:%"))
            )
        ).all()
    assert set(due) == {seoul(2025, 3, 11, 13, 0)}  # one hour before
    [entry] = await audit_rows(services, "appointment.accepted")
    assert (entry.actor_id, entry.target_id) == (TA, ALICE)


async def test_declining_tells_the_student_and_plans_no_reminder(services: Services) -> None:
    number = await ask(services)
    await appointments.decide(services, actor_id=PROF, appointment_id=number, accept=False)
    [(key, user, _, text)] = await outbox(services)
    assert (key, user) == (f"appointment:{number}:decision", ALICE)
    assert f"was declined by <@{PROF}>" in text
    assert len(await audit_rows(services, "appointment.declined")) == 1


async def test_a_second_decision_says_who_decided(services: Services) -> None:
    number = await ask(services)
    await appointments.decide(services, actor_id=TA, appointment_id=number, accept=True)
    services.clock.advance(timedelta(minutes=5))
    for accept in (True, False):
        with pytest.raises(Conflict) as refused:
            await appointments.decide(services, actor_id=PROF, appointment_id=number, accept=accept)
        decided = ts(2025, 3, 10, 11, 0)
        assert (
            refused.value.message == f"Appointment #{number} was already accepted by <@{TA}> <t:{decided}:R>."
        )
    with pytest.raises(Conflict, match=f"already accepted by <@{TA}>"):
        await appointments.propose(
            services, actor_id=PROF, appointment_id=number, when="2025-03-12 15:00", note=None
        )
    with pytest.raises(NotFound):
        await appointments.decide(services, actor_id=TA, appointment_id=number + 1, accept=True)
    assert len(await outbox(services, "appointment:")) == 1  # one decision, one DM
    assert len(await audit_rows(services, "appointment.accepted")) == 1


async def test_racing_accept_and_decline_decide_once_with_one_dm(services: Services) -> None:
    number = await ask(services)
    results = await asyncio.gather(
        *(
            appointments.decide(
                services, actor_id=TA if i % 2 else PROF, appointment_id=number, accept=i % 2 == 0
            )
            for i in range(8)
        ),
        return_exceptions=True,
    )
    won = [r for r in results if not isinstance(r, Exception)]
    assert len(won) == 1
    assert all(
        isinstance(r, Conflict) and "was already" in r.message for r in results if isinstance(r, Exception)
    )
    decisions = [row for row in await outbox(services, "appointment:") if row[0].endswith(":decision")]
    assert len(decisions) == 1
    audits = await audit_rows(services)
    assert sum(e.action in ("appointment.accepted", "appointment.declined") for e in audits) == 1


async def test_a_passed_time_cannot_be_accepted(services: Services) -> None:
    number = await ask(services, when="2025-03-10 12:00")
    services.clock.set(seoul(2025, 3, 10, 12, 10))
    with pytest.raises(Conflict, match="has passed; decline it or propose another time"):
        await appointments.decide(services, actor_id=TA, appointment_id=number, accept=True)
    assert await statuses(services) == ["pending"]


# ---- proposals ---------------------------------------------------------------------------------
async def test_a_proposal_the_student_accepts(services: Services) -> None:
    number = await ask(services)
    info = await appointments.propose(
        services, actor_id=TA, appointment_id=number, when="2025-03-13 15:30", note="I teach at 14:00"
    )
    assert (info.status, info.starts_at, info.asked_start) == (
        "proposed",
        seoul(2025, 3, 13, 15, 30),
        seoul(2025, 3, 11, 14, 0),
    )
    [(key, user, _, text)] = await outbox(services)
    assert (key, user) == (f"appointment:{number}:proposal", ALICE)
    assert f"<t:{ts(2025, 3, 13, 15, 30)}:F>" in text and "(I teach at 14:00)" in text
    assert "`/appointment list`" in text
    with pytest.raises(NotFound):  # only the student answers
        await appointments.answer_proposal(services, discord_id=BOB, appointment_id=number, accept=True)
    accepted = await appointments.answer_proposal(
        services, discord_id=ALICE, appointment_id=number, accept=True
    )
    assert (accepted.status, accepted.staff_id) == ("accepted", TA)
    keys = [(key, user) for key, user, _, _ in await outbox(services)]
    assert (f"appointment:{number}:proposal-accepted", TA) in keys
    assert (f"appointment-remind:{number}:1h:staff", TA) in keys
    with pytest.raises(Conflict, match="already accepted"):
        await appointments.answer_proposal(services, discord_id=ALICE, appointment_id=number, accept=False)
    actions = [e.action for e in await audit_rows(services)]
    assert actions == ["appointment.request", "appointment.propose", "appointment.proposal_accept"]


async def test_a_proposal_the_student_declines(services: Services) -> None:
    number = await ask(services)
    await appointments.propose(
        services, actor_id=TA, appointment_id=number, when="2025-03-13 15:30", note=None
    )
    info = await appointments.answer_proposal(services, discord_id=ALICE, appointment_id=number, accept=False)
    assert info.status == "declined"
    assert not [row for row in await outbox(services) if row[0].startswith("appointment-remind")]
    assert (f"appointment:{number}:proposal-declined", TA) in [
        (k, u) for k, u, _, _ in await outbox(services)
    ]


async def test_a_proposal_is_checked_like_a_request(services: Services) -> None:
    number = await ask(services)
    for when, reason in (
        ("2025-03-09 15:00", "already passed"),
        ("2025-08-01 15:00", "outside the term"),
        ("2025-03-11 14:00", "the time the student asked for"),
        ("soon", "is not a time like"),
    ):
        with pytest.raises(InvalidInput, match=reason):
            await appointments.propose(services, actor_id=TA, appointment_id=number, when=when, note=None)
    assert await statuses(services) == ["pending"]
    assert await outbox(services) == []


# ---- cancelling --------------------------------------------------------------------------------
async def test_the_student_cancels_an_accepted_one(services: Services) -> None:
    number = await ask(services)
    await appointments.decide(services, actor_id=TA, appointment_id=number, accept=True)
    with pytest.raises(NotFound):  # not Bob's to cancel
        await appointments.cancel(services, actor_id=BOB, appointment_id=number, as_staff=False)
    await appointments.cancel(services, actor_id=ALICE, appointment_id=number, as_staff=False)
    rows = {key: (user, status) for key, user, status, _ in await outbox(services)}
    assert rows[f"appointment:{number}:cancel:{TA}"] == (TA, "pending")  # the staff member is told
    assert f"appointment:{number}:cancel:{ALICE}" not in rows  # the one who cancelled saw the reply
    assert rows[f"appointment:{number}:cancel:log"] == (None, "pending")  # and ta-log
    assert rows[f"appointment-remind:{number}:1h:student"][1] == "skipped"
    assert rows[f"appointment-remind:{number}:1h:staff"][1] == "skipped"
    with pytest.raises(Conflict, match=f"already cancelled by <@{ALICE}>"):
        await appointments.cancel(services, actor_id=ALICE, appointment_id=number, as_staff=False)
    [entry] = await audit_rows(services, "appointment.cancel")
    assert (entry.actor_id, entry.target_id) == (ALICE, ALICE)


async def test_another_staff_member_cancels_and_both_are_told(services: Services) -> None:
    number = await ask(services)
    await appointments.decide(services, actor_id=TA, appointment_id=number, accept=True)
    await appointments.cancel(services, actor_id=PROF, appointment_id=number, as_staff=True)
    told = {user for key, user, _, _ in await outbox(services) if ":cancel:" in key and user}
    assert told == {ALICE, TA}
    assert await appointments.my_appointments(services, ALICE) == []


async def test_reminders_are_replanned_at_start_up_and_not_duplicated(services: Services) -> None:
    number = await ask(services)
    await appointments.decide(services, actor_id=TA, appointment_id=number, accept=True)
    before = await outbox(services, "appointment-remind")
    await plan_all(services)
    await plan_all(services)
    assert await outbox(services, "appointment-remind") == before
    async with services.db.write() as session:  # a reminder row lost (e.g. an old backup): planned again
        row = await session.scalar(select(Notification).where(Notification.source_key.like("%:1h:staff")))
        assert row is not None
        await session.delete(row)
    await plan_all(services)
    assert [r[0] for r in await outbox(services, "appointment-remind")] == [r[0] for r in before]


# ---- free slots --------------------------------------------------------------------------------
async def test_free_slots_skip_taken_times_and_the_past(services: Services) -> None:
    services.clock.set(seoul(2025, 3, 11, 14, 10))  # Tue, inside the 14:00–16:00 window
    taken = await ask(services, when="2025-03-11 15:00")
    slots = await appointments.free_slots(services, limit=6)
    assert [appointments.slot_value(services, s) for s in slots] == [
        "2025-03-11 14:30",
        "2025-03-11 15:30",
        "2025-03-13 15:00",
        "2025-03-13 15:30",
        "2025-03-13 16:00",
        "2025-03-13 16:30",
    ]
    await appointments.cancel(services, actor_id=ALICE, appointment_id=taken, as_staff=False)
    slots = await appointments.free_slots(services, limit=2)
    assert [appointments.slot_value(services, s) for s in slots] == ["2025-03-11 14:30", "2025-03-11 15:00"]


async def test_no_slots_after_the_term(services: Services) -> None:
    services.clock.set(seoul(2025, 6, 20, 12, 0))
    assert await appointments.free_slots(services, limit=25) == []


# ---- the gradebook -----------------------------------------------------------------------------
async def test_the_gradebook_counts_appointments_and_excuses_with_evidence(services: Services) -> None:
    from datetime import date

    from bot.services import attendance, gradebook

    accepted = await ask(services, when="2025-03-11 14:00")
    await appointments.decide(services, actor_id=TA, appointment_id=accepted, accept=True)
    declined = await ask(services, when="2025-03-12 14:00")
    await appointments.decide(services, actor_id=TA, appointment_id=declined, accept=False)
    document = attendance.check_evidence("note.pdf", b"%PDF-1.7\n%%EOF\n")
    for day, evidence in ((date(2025, 3, 5), document), (date(2025, 3, 10), None)):
        await attendance.request_excuse(
            services,
            discord_id=ALICE,
            discord_name="alice",
            joined_at=None,
            day=day,
            reason="flu",
            evidence=evidence,
        )
    members = [gradebook.GradebookMember(ALICE, "alice", seoul(2025, 3, 1, 9, 0))]
    [row] = await gradebook.gradebook_rows(services, members)
    assert (row["appointments"], row["excuse_requests"], row["excuses_with_evidence"]) == ("1", "2", "1")
