"""Appointments end to end: `coursebot run` as a process against the local fake Discord.

1. Two staff members press Accept and Decline on the request's ta-log post at the same moment: one
   decision stands, the other is told who decided, and the student gets exactly one DM.
2. The bot is SIGKILLed the moment Discord has the answer to the TA's Accept (before the student's
   DM went out): after the restart the student gets the decision DM exactly once.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

from test_crash_promises_e2e import ANSWER_TIMEOUT, OUTBOX_TIMEOUT, Course, make_course

__all__ = ["make_course"]  # the fixture, shared with the crash tests

ACCEPTED = "📅 Your appointment <t:"
DECIDED = re.compile(r"^Appointment #1 was already (accepted|declined) by <@(\d+)> <t:\d+:R>\.$")


async def ask_and_find_post(course: Course) -> dict[str, Any]:
    """Alice asks for Tue 2025-03-11 14:00; returns the request's post in ta-log (with its buttons)."""
    asked = await course.slash(
        course.students[0], "appointment request", {"when": "2025-03-11 14:00", "topic": "Project scope"}
    )
    assert (asked.content or "").startswith("Your appointment request #1 for <t:"), asked.content
    await course.wait_for(
        "the request's post in ta-log",
        lambda: any(m.get("components") for m in course.fd.messages(course.ta_log)),
    )
    [post] = [m for m in course.fd.messages(course.ta_log) if m.get("components")]
    ids = [b["custom_id"] for row in post["components"] for b in row["components"]]
    assert ids == ["appt:1:accept", "appt:1:decline", "apptpropose:1"], ids
    return post


async def test_two_staff_pressing_at_once_make_one_decision_and_one_dm(make_course: Any) -> None:
    course: Course = await make_course(2)
    prof = course.fd.add_member(course.guild, "prof2", roles=["Instructor"])
    await course.start("2025-03-10 11:00")
    post = await ask_and_find_post(course)
    accept, decline = await asyncio.gather(
        course.fd.invoke_component(post, "appt:1:accept", course.ta, timeout=ANSWER_TIMEOUT),
        course.fd.invoke_component(post, "appt:1:decline", prof, timeout=ANSWER_TIMEOUT),
    )
    answers = [accept.content or "", decline.content or ""]
    won = [a for a in answers if a.endswith("the student is told by DM.")]
    lost = [m for a in answers if (m := DECIDED.match(a))]
    assert len(won) == 1 and len(lost) == 1, answers
    winner = course.ta if "accepted" in won[0] else prof
    assert lost[0].group(2) == str(winner.id)  # the second is told who decided
    alice = course.students[0]
    await course.wait_for("the decision DM", lambda: course.texts(alice, "📅"), OUTBOX_TIMEOUT)
    await asyncio.sleep(1.0)  # a second DM would show up by now
    await course.stop()
    assert len(course.texts(alice, "📅")) == 1
    decisions = course.query(
        "SELECT count(*) FROM audit_log WHERE action IN ('appointment.accepted', 'appointment.declined')"
    )
    assert decisions == [(1,)]
    assert course.query("SELECT status FROM appointments") in ([("accepted",)], [("declined",)])
    assert "Traceback" not in course.log_text()


async def test_killed_between_the_accept_and_the_dm_the_student_is_told_once(make_course: Any) -> None:
    course: Course = await make_course(1)
    await course.start("2025-03-10 11:00")
    post = await ask_and_find_post(course)
    alice = course.students[0]

    course.gate.hold_reply = course.gate.hold_dms = True
    clicked = await course.fd.invoke_component(post, "appt:1:accept", course.ta, timeout=ANSWER_TIMEOUT)
    assert (clicked.content or "").endswith("accepted; the student is told by DM."), clicked.content
    assert course.gate.reply_held.is_set()
    await course.kill()  # the bot is still waiting for Discord's answer to its reply
    assert course.texts(alice, ACCEPTED) == []
    pending = course.query(
        "SELECT user_id, status FROM notifications WHERE source_key = 'appointment:1:decision'"
    )
    assert pending == [(alice.id, "pending")]  # planned with the decision, not sent yet
    assert course.query("SELECT status FROM appointments") == [("accepted",)]

    course.gate.hold_dms = False
    await course.start("2025-03-10 11:02")
    await course.wait_for("the decision DM", lambda: course.texts(alice, ACCEPTED), OUTBOX_TIMEOUT)
    await asyncio.sleep(1.0)
    await course.stop()
    assert len(course.texts(alice, ACCEPTED)) == 1
    assert course.query("SELECT status FROM notifications WHERE source_key = 'appointment:1:decision'") == [
        ("sent",)
    ]
    reminders = course.query(
        "SELECT user_id, status FROM notifications WHERE source_key LIKE 'appointment-remind:1:%' ORDER BY id"
    )
    assert reminders == [(alice.id, "pending"), (course.ta.id, "pending")]  # still ahead, planned once
    assert "Traceback" not in course.log_text().split("--- run 2 ---")[-1]
