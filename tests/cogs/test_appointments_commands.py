"""`/appointment request|list` and `/ta appointments` through discord.py and simcord: the request's
post in ta-log with the staff's buttons (through the outbox: once, not when decided first, at
start-up when the bot stopped before posting, not twice after a crash between the post and its
record; the buttons after a restart too), who may press them (a student's real or forged press
changes nothing), the proposal form, the student's answer and Cancel buttons, the DMs, and the free
slots offered while typing `when`. (Two staff pressing at once is in
tests/e2e/test_appointments_e2e.py: simcord runs one click at a time.)

The clock stands at Mon 2025-03-10 11:00 KST (week 2).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import discord
import simcord
from simcord.actors import _dispatch_actor_interaction, _visible_message
from simcord.backend import serializers
from sqlalchemy import select

from bot.db.models import Appointment, AuditEntry, Notification
from bot.services import appointments
from tests.cogs.conftest import card_of, dms, embed_text, one_line
from tests.conftest import seoul

if TYPE_CHECKING:
    from tests.cogs.conftest import Course

STAFF_ONLY = "Only the course staff (TA or instructor role) can do that."
TUE_14 = int(seoul(2025, 3, 11, 14, 0).timestamp())
THU_15 = int(seoul(2025, 3, 13, 15, 0).timestamp())


def stamp(ts: int) -> str:
    return f"<t:{ts}:F> (<t:{ts}:R>)"


async def ask(
    course: Course, who: str = "alice", when: str = "2025-03-11 14:00", topic: str = "Project scope"
) -> str:
    return one_line(
        await course.members[who].slash(course.channel, "appointment request", when=when, topic=topic)
    )


def post(course: Course) -> discord.Message:
    """The last request posted in ta-log."""
    posts = [m for m in course.channels["ta-log"].history() if m.content.startswith("📅 Appointment request")]
    return posts[-1]


def button_ids(message: Any) -> list[str]:
    """The custom ids of a message's buttons (a channel message, or an interaction's reply)."""
    ids = []
    for row in message.components:
        children = row["components"] if isinstance(row, dict) else row.children
        ids += [child["custom_id"] if isinstance(child, dict) else child.custom_id for child in children]
    return ids


async def rows(course: Course) -> list[tuple[str, int | None]]:
    async with course.bot.services.db.read() as session:
        found = await session.execute(
            select(Appointment.status, Appointment.staff_id).order_by(Appointment.id)
        )
        return [tuple(r) for r in found.all()]  # type: ignore[misc]


async def audit_actions(course: Course) -> list[str]:
    async with course.bot.services.db.read() as session:
        return list(
            (
                await session.scalars(
                    select(AuditEntry.action)
                    .where(AuditEntry.action.like("appointment.%"))
                    .order_by(AuditEntry.id)
                )
            ).all()
        )


async def press(course: Course, who: str, message: Any, custom_id: str) -> simcord.InteractionResult:
    """A press of a button with `custom_id` on a message `who` can see, as a tampered client would
    send it: the message in the interaction carries that button whether or not the real one does
    (a forged id, or a stale copy of a decided request)."""
    actor = course.members[who]
    stored = _visible_message(actor, message)
    payload = dict(serializers.message_payload(course.env.backend, stored))
    button = {"type": 2, "style": 1, "label": "x", "custom_id": custom_id}
    payload["components"] = [{"type": 1, "components": [button]}]
    channel = simcord.ChannelHandle(
        course.env, actor.guild, course.env.backend.get_channel(stored.channel_id)
    )
    data = {"custom_id": custom_id, "component_type": discord.ComponentType.button.value}
    course.env._begin_operation("click")  # what simcord's own click does around the same call
    try:
        return await _dispatch_actor_interaction(
            actor,
            discord.InteractionType.component.value,
            channel,
            data,
            extra={"message": payload},
            source_message_id=stored.id,
        )
    finally:
        course.env._end_operation()


async def restart(course: Course) -> None:
    await course.restart()
    guild = course.bot.course_guild
    assert guild is not None
    if not guild.chunked:
        await guild.chunk()


async def settle(course: Course) -> None:
    await course.env.settle()
    await asyncio.sleep(0)
    await course.env.settle()


def requests_posted(course: Course) -> list[discord.Message]:
    return [m for m in course.channels["ta-log"].history() if m.content.startswith("📅 Appointment request")]


async def post_row(course: Course) -> tuple[str, str | None, int]:
    """(status, note, attempts) of the request's outbox row."""
    async with course.bot.services.db.read() as session:
        [row] = (
            await session.scalars(select(Notification).where(Notification.kind == appointments.REQUEST_KIND))
        ).all()
        return row.status, row.error, row.attempts


async def recorded_post(course: Course) -> int | None:
    async with course.bot.services.db.read() as session:
        return await session.scalar(select(Appointment.staff_message_id).where(Appointment.id == 1))


def hold_the_outbox(course: Course) -> list[float]:
    """The dispatcher runs only when the test says so; returns the wake-ups asked for."""
    woken: list[float] = []
    course.bot.dispatcher.wake = lambda delay=0.0: woken.append(delay)  # type: ignore[method-assign]
    return woken


# ---- asking ------------------------------------------------------------------------------------
async def test_a_request_is_posted_in_ta_log_with_the_staff_buttons(course: Course) -> None:
    reply = await ask(course)
    assert reply == (
        f"Your appointment request #1 for {stamp(TUE_14)} is with the staff; you will get a DM when they "
        "answer. `/appointment list` shows it."
    )
    message = post(course)
    assert message.content == (
        f"📅 Appointment request #1 from {course.members['alice'].mention}: {stamp(TUE_14)}, 30 min — Project scope"
    )
    assert button_ids(message) == ["appt:1:accept", "appt:1:decline", "apptpropose:1"]
    listed = await course.members["alice"].slash(course.channel, "appointment list")
    assert f"**#1** {stamp(TUE_14)} · Project scope · waiting for the staff" in embed_text(card_of(listed))
    simcord.assert_responded(listed, component_custom_id="apptcancel:1")


async def test_refusals_are_one_line_and_change_nothing(course: Course) -> None:
    for when, needle in (
        ("2025-03-09 10:00", "has already passed"),
        ("2025-09-01 10:00", "is outside the term"),
        ("next tuesday", "is not a time like"),
    ):
        assert needle in await ask(course, when=when)
    await ask(course)
    assert "overlaps your pending appointment #1" in await ask(course, when="2025-03-11 14:20")
    assert await rows(course) == [("pending", None)]
    assert len([m for m in course.channels["ta-log"].history() if m.content.startswith("📅")]) == 1


async def test_when_offers_the_next_free_slots(course: Course) -> None:
    await ask(course, "bob", when="2025-03-11 14:30")
    offered = await course.members["alice"].autocomplete(course.channel, "appointment request", "when", "")
    values = [choice["value"] for choice in offered]
    assert values[:4] == ["2025-03-11 14:00", "2025-03-11 15:00", "2025-03-11 15:30", "2025-03-13 15:00"]
    assert offered[0]["name"] == "Tue Mar 11 14:00 (Asia/Seoul), free"
    thursday = await course.members["alice"].autocomplete(
        course.channel, "appointment request", "when", "2025-03-13"
    )
    assert [c["value"] for c in thursday] == [
        "2025-03-13 15:00",
        "2025-03-13 15:30",
        "2025-03-13 16:00",
        "2025-03-13 16:30",
    ]


# ---- the staff's buttons -----------------------------------------------------------------------
async def test_accept_after_a_restart_tells_the_student_and_updates_the_post(course: Course) -> None:
    await ask(course)
    message = post(course)
    await restart(course)
    accepted = await course.members["ta"].click(message, label="Accept #1")
    assert one_line(accepted) == (
        f"Appointment #1 of {course.members['alice'].mention} {stamp(TUE_14)}: accepted; the student is told by DM."
    )
    await settle(course)
    ta = course.members["ta"].mention
    assert dms(course, "alice") == [
        f"📅 Your appointment {stamp(TUE_14)} at Terarosa Coffee or the TA's desk was accepted by {ta}: "
        "Project scope. Cancel it in `/appointment list` if you cannot come."
    ]
    edited = post(course)
    assert edited.content.endswith(f"\n→ accepted by {ta}: {stamp(TUE_14)}")
    assert button_ids(edited) == []
    # A copy of the buttons elsewhere (e.g. an earlier `/ta appointments`) can still be pressed.
    again = await press(course, "prof", edited, "appt:1:decline")
    decided = int(seoul(2025, 3, 10, 11, 0).timestamp())
    assert one_line(again) == f"Appointment #1 was already accepted by {ta} <t:{decided}:R>."
    assert await rows(course) == [("accepted", course.members["ta"].id)]
    assert len(dms(course, "alice")) == 1
    assert await audit_actions(course) == ["appointment.request", "appointment.accepted"]


async def test_a_student_pressing_a_staff_button_is_refused(course: Course) -> None:
    await ask(course)
    message = post(course)
    alice = course.members["alice"]
    for label in ("Accept #1", "Decline #1", "Propose another time #1"):
        assert one_line(await course.members["bob"].click(message, label=label)) == STAFF_ONLY
    # A forged custom id, pressed from a message the student can see (their own list).
    listed = await alice.slash(course.channel, "appointment list")
    for forged in ("appt:1:accept", "appt:1:decline", "apptpropose:1"):
        assert one_line(await press(course, "alice", listed.response, forged)) == STAFF_ONLY
    # ... and Bob cancelling Alice's with a forged Cancel
    bob_list = await course.members["bob"].slash(course.channel, "appointment list")
    result = await press(course, "bob", bob_list.response, "apptcancel:1")
    assert one_line(result) == "You have no such appointment."
    await settle(course)
    assert await rows(course) == [("pending", None)]
    assert dms(course, "alice") == []
    assert await audit_actions(course) == ["appointment.request"]
    assert button_ids(post(course)) == ["appt:1:accept", "appt:1:decline", "apptpropose:1"]


async def test_propose_another_time_and_the_student_accepts_it(course: Course) -> None:
    await ask(course)
    shown = await course.members["ta"].click(post(course), label="Propose another time #1")
    assert shown.modal is not None
    inputs = [
        leaf for row in shown.modal["components"] for leaf in row.get("components", [row.get("component")])
    ]
    when_id, note_id = (leaf["custom_id"] for leaf in inputs)
    refused = await course.members["ta"].submit_modal(shown, {when_id: "2025-03-01 15:00", note_id: ""})
    assert "has already passed" in one_line(refused)
    shown = await course.members["ta"].click(post(course), label="Propose another time #1")
    sent = await course.members["ta"].submit_modal(
        shown, {when_id: "2025-03-13 15:00", note_id: "I teach then"}
    )
    assert one_line(sent) == (
        f"Proposed {stamp(THU_15)} to {course.members['alice'].mention} for appointment #1; "
        "they answer in `/appointment list`."
    )
    await settle(course)
    ta = course.members["ta"].mention
    assert dms(course, "alice") == [
        f"📅 {ta} proposes {stamp(THU_15)} instead of {stamp(TUE_14)} for your appointment (Project scope) "
        "(I teach then). Accept or decline it in `/appointment list`."
    ]
    assert button_ids(post(course)) == []
    listed = await course.members["alice"].slash(course.channel, "appointment list")
    assert "another time proposed, waiting for the student" in embed_text(card_of(listed))
    assert button_ids(listed.response) == ["apptans:1:accept", "apptans:1:decline", "apptcancel:1"]
    assert one_line(await press(course, "bob", post(course), "apptans:1:accept")) == (
        "You have no such appointment."
    )
    answered = await course.members["alice"].click(listed.response, label="Accept #1")
    assert one_line(answered) == f"Appointment #1 is set for {stamp(THU_15)}; you will be reminded."
    await settle(course)
    assert dms(course, "ta") == [
        f"📅 {course.members['alice'].mention} accepted the time you proposed for appointment #1, {stamp(THU_15)}: "
        "Project scope"
    ]
    assert await audit_actions(course) == [
        "appointment.request",
        "appointment.propose",
        "appointment.proposal_accept",
    ]


async def test_cancel_from_either_side_tells_the_other(course: Course) -> None:
    await ask(course)
    await ask(course, when="2025-03-12 10:00", topic="Paper choice")
    await course.members["ta"].click(post(course), label="Accept #2")
    first = [m for m in course.channels["ta-log"].history() if "request #1" in m.content][-1]
    await course.members["ta"].click(first, label="Accept #1")
    await settle(course)
    listed = await course.members["alice"].slash(course.channel, "appointment list")
    cancelled = await course.members["alice"].click(listed.response, label="Cancel #1")
    assert one_line(cancelled).startswith("Appointment #1 <t:")
    overview = await course.members["prof"].slash(course.channel, "ta appointments")
    text = embed_text(card_of(overview))
    assert "Appointments · 0 waiting · 1 ahead" in text and "**#2**" in text and "**#1**" not in text
    await course.members["prof"].click(overview.response, label="Cancel #2")
    await settle(course)
    cancelled_dms = [t for t in dms(course, "alice") if "cancelled" in t]
    assert cancelled_dms == [
        f"📅 {course.members['prof'].mention} cancelled your appointment #2 <t:{int(seoul(2025, 3, 12, 10, 0).timestamp())}:F> (<t:{int(seoul(2025, 3, 12, 10, 0).timestamp())}:R>) (Paper choice)."
    ]
    ta_dms = [t for t in dms(course, "ta") if "cancelled" in t]
    assert len(ta_dms) == 2 and all(t.startswith("📅 <@") for t in ta_dms)
    assert await rows(course) == [
        ("cancelled", course.members["ta"].id),
        ("cancelled", course.members["ta"].id),
    ]
    assert one_line(await course.members["alice"].slash(course.channel, "appointment list")).startswith(
        "You have no appointment requests"
    )


async def test_ta_appointments_is_staff_only_and_lists_the_waiting(course: Course) -> None:
    assert one_line(await course.members["ta"].slash(course.channel, "ta appointments")) == (
        "No appointment requests waiting and no appointments ahead."
    )
    await ask(course)
    overview = await course.members["ta"].slash(course.channel, "ta appointments")
    assert "Appointments · 1 waiting · 0 ahead" in embed_text(card_of(overview))
    assert button_ids(overview.response) == ["appt:1:accept", "appt:1:decline", "apptpropose:1"]
    mallory = course.add("mallory", permissions=discord.Permissions(manage_guild=True))
    assert one_line(await mallory.slash(course.channel, "ta appointments")) == STAFF_ONLY


async def test_the_post_is_planned_with_the_request_and_posted_once(course: Course) -> None:
    woken = hold_the_outbox(course)
    await ask(course)
    await course.env.settle()
    assert woken == [0.0] and requests_posted(course) == []  # planned, not posted by the command
    assert await post_row(course) == ("pending", None, 0)
    await course.bot.dispatcher.run()
    await course.bot.dispatcher.run()  # again: nothing twice
    [message] = requests_posted(course)
    assert button_ids(message) == ["appt:1:accept", "appt:1:decline", "apptpropose:1"]
    assert await recorded_post(course) == message.id
    assert await post_row(course) == ("sent", None, 1)
    accepted = await course.members["ta"].click(message, label="Accept #1")
    assert one_line(accepted).endswith("accepted; the student is told by DM.")
    await settle(course)
    assert button_ids(post(course)) == []  # the recorded post is the one refreshed


async def test_a_request_decided_before_its_post_went_out_is_not_posted(course: Course) -> None:
    hold_the_outbox(course)
    await ask(course)
    overview = await course.members["ta"].slash(course.channel, "ta appointments")
    await course.members["ta"].click(overview.response, label="Decline #1")
    await course.bot.dispatcher.run()
    assert requests_posted(course) == []
    assert await post_row(course) == ("skipped", "the request was declined before it could be posted", 1)
    assert await recorded_post(course) is None


async def test_a_request_the_bot_stopped_before_posting_is_posted_at_start_up(course: Course) -> None:
    hold_the_outbox(course)  # the bot stops before its dispatcher ran
    await ask(course)
    await restart(course)  # the new bot's dispatcher runs at start
    await settle(course)
    [message] = requests_posted(course)
    assert button_ids(message) == ["appt:1:accept", "appt:1:decline", "apptpropose:1"]
    assert await recorded_post(course) == message.id


async def test_a_crash_between_the_post_and_its_record_does_not_post_twice(course: Course) -> None:
    """The bot died after Discord stored the post and before the id was recorded: at start-up the
    row is claimed again, and the retry finds the post in ta-log instead of posting a second one
    (simcord keeps no nonces, so this is the path of a retry later than Discord would keep one)."""
    await ask(course)
    await settle(course)
    [message] = requests_posted(course)
    async with course.bot.services.db.write() as session:  # the state the crash left
        row = await session.get(Appointment, 1)
        assert row is not None
        row.staff_message_id = None
        [notification] = (
            await session.scalars(select(Notification).where(Notification.kind == appointments.REQUEST_KIND))
        ).all()
        notification.status, notification.sent_at = "claimed", None
    await restart(course)  # recovers the claimed row, then runs the dispatcher
    await settle(course)
    assert [m.id for m in requests_posted(course)] == [message.id]
    assert await recorded_post(course) == message.id
    assert await post_row(course) == ("sent", None, 2)


async def test_ta_student_shows_appointments_and_excuses(course: Course) -> None:
    await ask(course)
    await course.members["ta"].click(post(course), label="Accept #1")
    await course.members["alice"].slash(course.channel, "excuse", date="2025-03-05", reason="bus")
    card = card_of(
        await course.members["ta"].slash(course.channel, "ta student", member=course.members["alice"])
    )
    assert (
        "Appointments and excuses\n1 appointment accepted of 1 asked · 1 excuse request (0 approved, 0 with evidence)"
        in embed_text(card)
    )
