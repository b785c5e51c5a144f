"""Appointments end to end: `coursebot run` as a process against the local fake Discord.

1. Two staff members press Accept and Decline on the request's ta-log post at the same moment: one
   decision stands, the other is told who decided, and the student gets exactly one DM.
2. The bot is SIGKILLed the moment Discord has the answer to the TA's Accept (before the student's
   DM went out): after the restart the student gets the decision DM exactly once.
3. The bot is SIGKILLed while Discord has stored the request's post in ta-log but not answered it
   (the post's id was never recorded), and restarts later than Discord keeps a nonce: the post is
   found in ta-log and recorded, not posted a second time, and its buttons work.
"""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any

from bot_process import CourseRun
from fake_discord import RestFaults
from test_crash_promises_e2e import ANSWER_TIMEOUT, OUTBOX_TIMEOUT, gate, kill, make_course

__all__ = ["make_course"]  # the fixture, shared with the crash tests

ACCEPTED = "📅 Your appointment <t:"
DECIDED = re.compile(r"^Appointment #1 was already (accepted|declined) by <@(\d+)> <t:\d+:R>\.$")
POST_ROW = "SELECT status, attempts FROM notifications WHERE source_key = 'appointment-request:1'"


def request_posts(course: CourseRun) -> list[dict[str, Any]]:
    """Request #1's posts in ta-log."""
    ta_log = course.server.guild.channel("ta-log")
    return [m for m in course.fd.messages(ta_log) if m["content"].startswith("📅 Appointment request #1 ")]


async def ask_and_find_post(course: CourseRun) -> dict[str, Any]:
    """The first student asks for Tue 2025-03-11 14:00; returns the request's post in ta-log (with
    its buttons)."""
    asked = await course.slash(
        course.server.students[0],
        "appointment request",
        {"when": "2025-03-11 14:00", "topic": "Project scope"},
    )
    assert (asked.content or "").startswith("Your appointment request #1 for <t:"), asked.content
    await course.bot.wait_for(
        lambda: any(m.get("components") for m in request_posts(course)),
        ANSWER_TIMEOUT,
        "the request's post in ta-log",
    )
    [post] = request_posts(course)
    ids = [b["custom_id"] for row in post["components"] for b in row["components"]]
    assert ids == ["appt:1:accept", "appt:1:decline", "apptpropose:1"], ids
    return post


async def wait_rows(course: CourseRun, sql: str, expected: list[tuple[Any, ...]], seconds: float) -> None:
    """Poll the database until `sql` returns `expected`; raises AssertionError (with the bot's
    output) after `seconds`."""
    deadline = time.monotonic() + seconds
    while (found := await course.database.rows(sql)) != expected:
        assert time.monotonic() < deadline, f"{sql}: {found}, not {expected}\n{course.bot.log_text()[-6000:]}"
        await asyncio.sleep(0.1)


async def test_two_staff_pressing_at_once_make_one_decision_and_one_dm(make_course: Any) -> None:
    course: CourseRun = await make_course(2)
    ta = course.server.ta
    prof = course.fd.add_member(course.server.guild, "prof2", roles=["Instructor"])
    await course.bot.start("2025-03-10 11:00")
    post = await ask_and_find_post(course)
    accept, decline = await asyncio.gather(
        course.fd.invoke_component(post, "appt:1:accept", ta, timeout=ANSWER_TIMEOUT),
        course.fd.invoke_component(post, "appt:1:decline", prof, timeout=ANSWER_TIMEOUT),
    )
    answers = [accept.content or "", decline.content or ""]
    won = [a for a in answers if a.endswith("the student is told by DM.")]
    lost = [m for a in answers if (m := DECIDED.match(a))]
    assert len(won) == 1 and len(lost) == 1, answers
    winner = ta if "accepted" in won[0] else prof
    assert lost[0].group(2) == str(winner.id)  # the second is told who decided
    alice = course.server.students[0]
    await course.bot.wait_for(lambda: course.texts(alice, "📅"), OUTBOX_TIMEOUT, "the decision DM")
    await asyncio.sleep(1.0)  # a second DM would show up by now
    await course.bot.stop()
    assert len(course.texts(alice, "📅")) == 1
    decisions = await course.database.rows(
        "SELECT count(*) FROM audit_log WHERE action IN ('appointment.accepted', 'appointment.declined')"
    )
    assert decisions == [(1,)]
    assert await course.database.rows("SELECT status FROM appointments") in (
        [("accepted",)],
        [("declined",)],
    )
    assert "Traceback" not in course.bot.log_text()


async def test_killed_between_the_accept_and_the_dm_the_student_is_told_once(make_course: Any) -> None:
    course: CourseRun = await make_course(1)
    gated, ta, alice = gate(course), course.server.ta, course.server.students[0]
    await course.bot.start("2025-03-10 11:00")
    post = await ask_and_find_post(course)

    gated.hold_reply = gated.hold_dms = True
    clicked = await course.fd.invoke_component(post, "appt:1:accept", ta, timeout=ANSWER_TIMEOUT)
    assert (clicked.content or "").endswith("accepted; the student is told by DM."), clicked.content
    assert gated.reply_held.is_set()
    await kill(course)  # the bot is still waiting for Discord's answer to its reply
    assert course.texts(alice, ACCEPTED) == []
    pending = await course.database.rows(
        "SELECT user_id, status FROM notifications WHERE source_key = 'appointment:1:decision'"
    )
    # planned with the decision, not sent yet (the dispatcher, busy with the request's post when the
    # TA pressed, may have claimed it and be held on its send)
    assert pending in ([(alice.id, "pending")], [(alice.id, "claimed")]), pending
    assert await course.database.rows("SELECT status FROM appointments") == [("accepted",)]

    gated.hold_dms = False
    await course.bot.start("2025-03-10 11:02")
    await course.bot.wait_for(lambda: course.texts(alice, ACCEPTED), OUTBOX_TIMEOUT, "the decision DM")
    await asyncio.sleep(1.0)
    await course.bot.stop()
    assert len(course.texts(alice, ACCEPTED)) == 1
    assert await course.database.rows(
        "SELECT status FROM notifications WHERE source_key = 'appointment:1:decision'"
    ) == [("sent",)]
    reminders = await course.database.rows(
        "SELECT user_id, status FROM notifications WHERE source_key LIKE 'appointment-remind:1:%' ORDER BY id"
    )
    assert reminders == [(alice.id, "pending"), (ta.id, "pending")]  # still ahead, planned once
    assert "Traceback" not in course.bot.log_text().split("--- run 2 ---")[-1]


async def test_killed_before_the_post_was_recorded_it_is_posted_once(make_course: Any) -> None:
    course: CourseRun = await make_course(1)
    fd = course.fd
    await course.bot.start("2025-03-10 11:00")
    faults = fd.faults = RestFaults(hang_share=1.0, stored_share=1.0, hang_seconds=60.0, max_hangs=1)
    asked = await course.slash(
        course.server.students[0],
        "appointment request",
        {"when": "2025-03-11 14:00", "topic": "Project scope"},
    )
    assert (asked.content or "").startswith("Your appointment request #1 for <t:"), asked.content
    await course.bot.wait_for(
        lambda: bool(request_posts(course)), ANSWER_TIMEOUT, "the post stored while its answer hangs"
    )
    fd.faults = None  # nothing after it is held
    await kill(course)
    faults.release()  # the hung answer goes to a bot that is gone
    assert await course.database.rows("SELECT staff_message_id FROM appointments") == [(None,)]
    assert await course.database.rows(POST_ROW) == [("claimed", 1)]

    fd.nonce_window = 0.0  # restarted later than Discord remembers the first try's nonce
    await course.bot.start("2025-03-10 11:10")
    await wait_rows(course, POST_ROW, [("sent", 2)], OUTBOX_TIMEOUT)
    [post] = request_posts(course)
    assert await course.database.rows("SELECT staff_message_id FROM appointments") == [(int(post["id"]),)]
    accepted = await course.click(post, "appt:1:accept", course.server.ta)
    assert (accepted.content or "").endswith("accepted; the student is told by DM."), accepted.content
    await course.bot.wait_for(
        lambda: not request_posts(course)[0].get("components"), ANSWER_TIMEOUT, "the post refreshed"
    )
    await course.bot.stop()
    assert len(request_posts(course)) == 1
    assert "Traceback" not in course.bot.log_text()
