"""End to end, with the process really killed: a promised message survives a SIGKILL right after the
change that promised it, because it was planned in the outbox in the transaction of that change.

1. `/ta attendance close`: the bot is killed the moment Discord has its reply (it never hears back),
   before any DM went out. After the restart the absent students get their warning DM, and ta-log
   the close report, exactly once each.
2. `/ta group autofill` Confirm: the bot is killed while the placements' DMs go out (Discord has
   stored one DM whose answer the bot never got). After the restart every placed student has been
   told exactly once (the row's nonce drops the repeat).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import pytest_asyncio
from bot_process import CourseRun, running_course
from fake_discord import FakeDiscord

START_TIMEOUT = 30.0
ANSWER_TIMEOUT = 10.0
OUTBOX_TIMEOUT = 20.0
JOINED = "2025-02-24T00:00:00+00:00"  # everyone joined the server before the term
WARNING = "Attendance notice: you have 1 absence in EECE695D."
PLACED = "The staff placed you in project group "


class GatedDiscord(FakeDiscord):
    """The fake, holding what the bot sends so a kill lands at a chosen moment.

    - `hold_reply`: the next interaction answer is stored (the user sees it), but its HTTP answer is
      held: the bot waits for it until it is killed.
    - `hold_dms`: DM sends are held before Discord stores them, and then refused.
    - `hold_dm_answer`: the next DM is stored, but its HTTP answer is held (Discord has it; the bot
      does not know).

    `release` lets whatever is held answer (a bot that is gone); `stop` releases first.
    """

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.hold_reply = self.hold_dms = self.hold_dm_answer = False
        self.reply_held = asyncio.Event()
        self.dm_stored = asyncio.Event()
        self.release = asyncio.Event()
        self.held_dms = 0

    def _is_dm(self, request: Any) -> bool:
        channel = self.channels.get(int(request.match_info["cid"]))
        return channel is not None and channel.type == 1

    async def _h_send(self, request: Any, body: Any) -> Any:
        if self.hold_dms and self._is_dm(request):
            self.held_dms += 1
            await self.release.wait()
            raise RuntimeError("held until the bot was killed")
        answer = await super()._h_send(request, body)
        if self.hold_dm_answer and self._is_dm(request):
            self.hold_dm_answer = False
            self.dm_stored.set()
            await self.release.wait()
        return answer

    async def _h_callback(self, request: Any, body: Any) -> Any:
        answer = await super()._h_callback(request, body)
        if self.hold_reply:
            self.hold_reply = False
            self.reply_held.set()
            await self.release.wait()
        return answer

    async def stop(self) -> None:
        self.release.set()
        await super().stop()


def gate(course: CourseRun) -> GatedDiscord:
    assert isinstance(course.fd, GatedDiscord)
    return course.fd


async def kill(course: CourseRun) -> None:
    """SIGKILL the bot; whatever was held then answers a bot that is gone."""
    await course.bot.kill()
    gate(course).release.set()


@pytest_asyncio.fixture
async def make_course(tmp_path: Path) -> AsyncIterator[Callable[[int], Awaitable[CourseRun]]]:
    async with AsyncExitStack() as stack:

        async def make(students: int) -> CourseRun:
            course = await stack.enter_async_context(
                running_course(
                    tmp_path,
                    students=students,
                    joined=JOINED,
                    fake=GatedDiscord,
                    rate_limit_per_second=50,
                    interaction_deadline=3.0,
                )
            )
            course.bot.ready_timeout = START_TIMEOUT
            return course

        yield make


async def test_killed_right_after_closing_check_in_the_warnings_still_arrive(make_course: Any) -> None:
    course: CourseRun = await make_course(3)
    gated, ta, ta_log = gate(course), course.server.ta, course.server.guild.channel("ta-log")
    present, *absent = course.server.students
    await course.bot.start("2025-03-10 11:00")
    opened = await course.slash(ta, "ta attendance open")
    code = re.search(r"Code: `([A-Z0-9]+)`", opened.content or "")
    assert code, opened.content
    checked = await course.slash(present, "checkin", {"code": code.group(1)})
    assert (checked.content or "").endswith("present."), checked.content

    gated.hold_reply = gated.hold_dms = True
    closed = await course.slash(ta, "ta attendance close")
    assert closed.content == "Check-in for Mon 2025-03-10 is closed.", closed.content
    assert gated.reply_held.is_set()
    await kill(course)  # the bot is still waiting for Discord's answer to its reply
    assert all(course.fd.dms(s) == [] for s in course.server.students)
    assert course.texts(ta_log, "closed:") == []
    pending = await course.database.rows(
        "SELECT user_id FROM notifications WHERE source_key LIKE 'attendance-warning:%' AND status != 'sent'"
    )
    assert sorted(user for (user,) in pending) == sorted(s.id for s in absent)

    gated.hold_dms = False
    await course.bot.start("2025-03-10 11:05")
    await course.bot.wait_for(
        lambda: (
            all(course.texts(s, WARNING) for s in absent)
            and course.texts(ta_log, "Check-in for Mon 2025-03-10 closed: 1 checked in.")
        ),
        OUTBOX_TIMEOUT,
        "the warnings and the close report",
    )
    await asyncio.sleep(1.0)  # anything sent twice would show up by now
    await course.bot.stop()
    assert [len(course.texts(s, WARNING)) for s in absent] == [1, 1]
    assert course.texts(present, "Attendance notice") == []
    assert len(course.texts(ta_log, "closed: 1 checked in.")) == 1
    statuses = await course.database.rows(
        "SELECT status FROM notifications WHERE source_key LIKE 'attendance-%'"
    )
    assert {status for (status,) in statuses} == {"sent"}
    [post] = [
        r
        for r in course.fd.requests
        if r.method == "POST"
        and r.path == f"/channels/{ta_log.id}/messages"
        and "closed: 1 checked in." in (r.json or {}).get("content", "")
    ]
    assert re.fullmatch(r"cb\d+", str(post.json.get("nonce"))), post.json  # a staff note is an outbox row
    assert post.json.get("allowed_mentions") == {"parse": []}, post.json  # and pings nobody
    assert "Traceback" not in course.bot.log_text().split("--- run 2 ---")[-1]


async def test_killed_while_autofill_tells_the_placed_students_each_is_told_once(make_course: Any) -> None:
    course: CourseRun = await make_course(10)
    students = course.server.students
    await course.bot.start("2025-03-10 11:00")
    shown = await course.slash(course.server.ta, "ta group autofill")
    [plan] = [m for m in shown.messages if m.get("components")]
    assert "10 students without a group would be placed" in plan["content"], plan["content"]
    [confirm] = [
        button["custom_id"]
        for row in plan["components"]
        for button in row.get("components", [])
        if re.fullmatch(r"gautofill:[0-9a-f]{16}", button.get("custom_id", ""))
    ]

    gate(course).hold_dm_answer = True
    clicked = await course.fd.invoke_component(
        plan, confirm, course.server.ta, timeout=ANSWER_TIMEOUT, wait_deferred=False
    )
    assert clicked.type == 5, clicked.rejected
    await course.bot.wait_for(
        gate(course).dm_stored.is_set, OUTBOX_TIMEOUT, "a placement DM stored with its answer held"
    )
    await kill(course)
    told_before = sum(1 for s in students if course.texts(s, PLACED))
    assert 1 <= told_before < len(students)
    rows = await course.database.rows("SELECT user_id, status FROM notifications WHERE kind = 'direct_dm'")
    assert sorted(user for user, _ in rows) == sorted(s.id for s in students)  # planned with it

    await course.bot.start("2025-03-10 11:01")
    await course.bot.wait_for(
        lambda: all(course.texts(s, PLACED) for s in students), OUTBOX_TIMEOUT, "every placed student's DM"
    )
    await asyncio.sleep(1.0)
    await course.bot.stop()
    copies = {s.user.username: len(course.texts(s, PLACED)) for s in students}
    assert set(copies.values()) == {1}, copies
    statuses = await course.database.rows("SELECT status FROM notifications WHERE kind = 'direct_dm'")
    assert [status for (status,) in statuses] == ["sent"] * len(students)
    groups = {
        text.split(PLACED, 1)[1].split(" with ")[0] for s in students for text in course.texts(s, PLACED)
    }
    assert len(groups) == 4  # ten students: groups of 3, 3, 2, 2
