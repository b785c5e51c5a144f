"""Fault injection, end to end: the real `python -m bot run` against the local fake Discord while the
fake misbehaves the way Discord and its network do.

- Gateway dropped (no close frame) in the middle of a 300-student check-in burst, once with the
  session kept (the bot RESUMEs and gets the events it missed) and once with it lost (op 9: the bot
  IDENTIFYs again; interactions sent meanwhile are gone, and their students press again, as a person
  would after "the application did not respond"): every student recorded exactly once.
- Gateway dropped twice (RESUME, then re-IDENTIFY) in the middle of a 300-DM fan-out: every DM
  delivered exactly once.
- Message sends answered 500/502/503, or hung past the dispatcher's timeout, for a share of a 300-DM
  fan-out: every DM delivered, none shown twice (a retried send that Discord had stored is dropped by
  its nonce, which the fake counts).
- SQLite locked for 10 s by another program (`BEGIN IMMEDIATE` on its own connection): check-ins and a
  TA's `/ta attendance mark` meanwhile get an answer within Discord's 3 s, either done or "the database
  is busy, try again", never "something went wrong" and never half-written; pressed again after the
  lock, they succeed.

Each run prints its seed; the fake refuses interaction answers after 3 s, like Discord.
"""

from __future__ import annotations

import asyncio
import random
import re
import sqlite3
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from bot_process import CourseRun, running_course
from fake_discord import FakeMember, InteractionResult, RestFaults

from bot.notify.dispatcher import SEND_TIMEOUT
from bot.tree import DATABASE_BUSY, SOMETHING_WENT_WRONG

LECTURE = "2025-03-12 11:00"  # a Wednesday lecture of week 2
CHECKED_IN = re.compile(r"^Checked in to the lecture of Wed 2025-03-12: present\.$")
ALREADY = re.compile(r"^You already checked in to the lecture of Wed 2025-03-12")
STUDENTS = 300
FAULTY_FAN_OUT_STUDENTS = 120  # every fault stalls the paced sender: seconds each, so fewer DMs here
PRESS_TIMEOUT = 4.0  # a person gives up on an interaction that shows nothing after Discord's 3 s
CourseFactory = Callable[..., AbstractAsyncContextManager[CourseRun]]


@pytest.fixture
def course(tmp_path: Path) -> CourseFactory:
    def make(**options: Any) -> AbstractAsyncContextManager[CourseRun]:
        return running_course(tmp_path, **options)

    return make


async def open_check_in(course: CourseRun) -> str:
    """The TA opens check-in for the lecture; the code from the reply."""
    opened = await course.slash(course.server.ta, "ta attendance open", {"minutes": 240})
    match = re.search(r"`([A-Z0-9]{4,})`", opened.content or "")
    assert match, opened.content
    return match.group(1)


class Presses:
    """Students pressing `/checkin` until they see it done, as people do: again after an interaction
    the fake could not deliver (gateway down), one never answered, one answered after 3 s (refused),
    or "the database is busy". Every answer each student saw, in order, is kept."""

    def __init__(self, course: CourseRun, code: str) -> None:
        self.course, self.code = course, code
        self.seen: dict[int, list[str]] = defaultdict(list)
        self.undelivered = 0  # presses refused because the bot was not connected
        self.unanswered = 0  # delivered (or lost with the connection), never answered
        self.late = 0  # answered after Discord's 3 s, so refused

    async def press(self, member: FakeMember, until: Callable[[str], bool], patience: float = 60.0) -> str:
        fd, server = self.course.fd, self.course.server
        given_up = time.monotonic() + patience
        while time.monotonic() < given_up:
            try:
                result: InteractionResult = await fd.invoke_slash(
                    server.guild,
                    server.general,
                    member,
                    "checkin",
                    {"code": self.code},
                    timeout=PRESS_TIMEOUT,
                )
            except RuntimeError:  # the gateway is down: Discord cannot deliver it
                self.undelivered += 1
                await asyncio.sleep(0.5)
                continue
            except TimeoutError:
                self.unanswered += 1
                continue
            if result.late:
                self.late += 1
                continue
            text = result.content or ""
            self.seen[member.id].append(text)
            if until(text):
                return text
            await asyncio.sleep(0.2)
        raise AssertionError(
            f"{member.user.username} pressed for {patience:.0f} s and saw {self.seen[member.id]}; in all, presses "
            f"refused {self.undelivered}, unanswered {self.unanswered}, late {self.late}"
        )


def done(text: str) -> bool:
    return bool(CHECKED_IN.match(text) or ALREADY.match(text))


async def records_per_student(course: CourseRun) -> Counter[int]:
    rows = await course.database.rows(
        "SELECT r.discord_id FROM attendance_records r JOIN attendance_sessions s ON s.id = r.session_id "
        "WHERE s.lecture_date = :day",
        day=date(2025, 3, 12),
    )
    return Counter(int(discord_id) for (discord_id,) in rows)


def assert_clean_log(course: CourseRun) -> None:
    log = course.bot.log_text()
    assert "Traceback" not in log and " ERROR " not in log, log[-6000:]
    assert course.fd.token is not None and course.fd.token not in log


# ---- 1. the gateway dropped in the middle of a check-in burst --------------------------------------
@pytest.mark.parametrize("resume", [True, False], ids=["resumed", "re-identified"])
async def test_gateway_dropped_mid_check_in_burst_every_student_recorded_once(
    course: CourseFactory, resume: bool
) -> None:
    seed = random.randrange(1 << 30)
    chance = random.Random(seed)
    async with course(students=STUDENTS, interaction_deadline=3.0) as run:
        fd, students = run.fd, run.server.students
        await run.bot.start(LECTURE)
        code = await open_check_in(run)
        presses = Presses(run, code)
        ready, resumes = fd.ready_count, fd.resumes

        async def student(member: FakeMember) -> str:
            await asyncio.sleep(chance.uniform(0.0, 2.5))  # a lecture hall typing the code
            return await presses.press(member, done)

        def answered() -> int:
            return sum(1 for texts in presses.seen.values() if texts)

        burst = [asyncio.create_task(student(member)) for member in students]
        await run.bot.wait_for(lambda: answered() >= STUDENTS // 4, 30, "a quarter of the check-ins")
        fd.drop_gateway(resume=resume)
        dropped_at = answered()
        await run.bot.wait_for(
            lambda: fd._conn is not None and (fd.resumes > resumes if resume else fd.ready_count > ready),
            30,
            "the bot to " + ("resume" if resume else "identify again"),
        )
        finals = await asyncio.wait_for(asyncio.gather(*burst), 120)

        assert dropped_at < STUDENTS, "the burst was over before the drop"
        assert fd.ready_count == ready + (0 if resume else 1)
        # everyone got a success reply in the end, and the database has each of them exactly once
        assert all(done(text) for text in finals)
        per_student = await records_per_student(run)
        assert set(per_student) == {s.id for s in students}
        assert set(per_student.values()) == {1}
        # "Checked in" was said at most once to anyone; a second press after a lost answer says "already"
        said = {s.id: sum(1 for t in presses.seen[s.id] if CHECKED_IN.match(t)) for s in students}
        assert max(said.values()) == 1
        assert all(SOMETHING_WENT_WRONG not in t for texts in presses.seen.values() for t in texts)
        await run.bot.stop()
        assert_clean_log(run)
        print(
            f"seed {seed}: dropped after {dropped_at} answers ({'RESUME' if resume else 're-IDENTIFY'}); "
            f"presses refused while down {presses.undelivered}, never answered {presses.unanswered}, "
            f"answered late {presses.late}; 'already' replies "
            f"{sum(1 for t in finals if ALREADY.match(t))}"
        )


# ---- 2 and 3. a 300-DM fan-out with the gateway dropped, and with REST failing --------------------------
# the ping falls due at 11:01, half an hour before the deadline: time enough for every retry
FAN_OUT = {"key": "fault_quiz", "title": "Fault quiz", "due": "2025-03-10 11:31", "remind": "30m"}


async def planned_fan_out(run: CourseRun) -> None:
    """A first run plans the deadline's ping (due 11:01) and is killed; the next start is at 11:01."""
    await run.bot.start("2025-03-10 11:00")
    rows = await run.database.rows(
        "SELECT status FROM notifications WHERE source_key = 'deadline:fault_quiz:30m:dm'"
    )
    assert rows == [("pending",)]
    await run.bot.kill()


def dm_counts(run: CourseRun) -> dict[int, int]:
    """The reminder's DMs each student has (costly: poll it every 0.5 s, not every 20 ms)."""
    return {s.id: sum(1 for m in run.fd.dms(s) if "Fault quiz" in m["content"]) for s in run.server.students}


async def wait_all_marked_sent(run: CourseRun, seconds: float) -> None:
    """Until the outbox has every row of the reminder sent (a DM Discord stored while its send failed
    is still due for a retry, which its nonce makes a no-op)."""
    deadline = time.monotonic() + seconds
    query = "SELECT count(*) FROM notifications WHERE source_key LIKE 'deadline:fault_quiz:%' AND status <> 'sent'"
    while (await run.database.rows(query))[0][0]:
        assert time.monotonic() < deadline, (
            f"rows still not sent after {seconds} s:\n{run.bot.log_text()[-6000:]}"
        )
        await asyncio.sleep(0.5)


async def assert_all_sent_once(run: CourseRun) -> None:
    counts = dm_counts(run)
    assert set(counts.values()) == {1}, {k: v for k, v in counts.items() if v != 1}
    announcements = run.server.guild.channel("announcements")
    assert sum(1 for m in run.fd.messages(announcements) if "Fault quiz" in m["content"]) == 1
    rows = await run.database.rows(
        "SELECT source_key, status, user_id FROM notifications WHERE source_key LIKE 'deadline:fault_quiz:%'"
    )
    children = [(status, user) for key, status, user in rows if "#" in key]
    assert sorted(int(user) for _, user in children) == sorted(s.id for s in run.server.students)
    assert {status for _, status, _ in rows} == {"sent"}


async def test_gateway_dropped_twice_mid_dm_fan_out_every_dm_delivered_once(course: CourseFactory) -> None:
    seed = random.randrange(1 << 30)
    chance = random.Random(seed)
    async with course(
        students=STUDENTS, dm_per_second=25, deadlines=[FAN_OUT], rate_limit_per_second=50
    ) as run:
        fd = run.fd
        await planned_fan_out(run)
        await run.bot.start("2025-03-10 11:01")

        def delivered() -> int:
            return sum(1 for n in dm_counts(run).values() if n)

        progress = []
        for resume in (True, False):
            before, ready, resumes = delivered(), fd.ready_count, fd.resumes
            await run.bot.wait_for(lambda b=before: delivered() > b + 20, 30, "the fan-out to go on", 0.2)  # type: ignore[misc]
            await asyncio.sleep(chance.uniform(0.0, 1.5))
            fd.drop_gateway(resume=resume)
            progress.append(delivered())
            await run.bot.wait_for(
                lambda r=ready, s=resumes, resume=resume: (  # type: ignore[misc]
                    fd._conn is not None and (fd.resumes > s if resume else fd.ready_count > r)
                ),
                30,
                "the bot to reconnect",
            )
        assert progress[-1] < STUDENTS, f"the fan-out was over before the last drop: {progress}"
        await run.bot.wait_for(lambda: delivered() == STUDENTS, 60, "every student's DM", 0.5)
        await wait_all_marked_sent(run, 60)
        await asyncio.sleep(1.0)  # a DM sent twice would show by now
        await run.bot.stop()
        await assert_all_sent_once(run)
        assert_clean_log(run)
        print(f"seed {seed}: delivered at the drops (RESUME, re-IDENTIFY) {progress}")


async def test_rest_failures_and_hangs_mid_fan_out_every_dm_delivered_once(course: CourseFactory) -> None:
    seed = random.randrange(1 << 30)
    started = time.monotonic()
    faults = RestFaults(
        share=0.1,
        statuses=(500, 502, 503),
        hang_share=0.05,
        hang_seconds=600,  # past any timeout: without its own, the dispatcher would wait for ever
        max_hangs=2,  # each stalls the paced sender for the whole timeout
        seed=seed,
    )
    async with course(
        students=FAULTY_FAN_OUT_STUDENTS, dm_per_second=25, deadlines=[FAN_OUT], rate_limit_per_second=50
    ) as run:
        fd = run.fd
        await planned_fan_out(run)
        fd.faults = faults
        await run.bot.start("2025-03-10 11:01")
        await run.bot.wait_for(
            lambda: all(dm_counts(run).values()), 150, f"every student's DM (faults {faults.injected})", 0.5
        )
        await wait_all_marked_sent(run, 90)
        await asyncio.sleep(1.0)
        faults.release()
        await run.bot.stop()

        await assert_all_sent_once(run)
        assert faults.total > 0
        # every send Discord stored before failing or hanging was retried, and dropped by its nonce
        stored_first = sum(n for kind, n in faults.injected.items() if kind.endswith(" stored"))
        assert fd.nonce_repeats >= stored_first
        # discord.py retries 500 and 502 itself; a 503 or a hang is the outbox's to retry, with backoff
        retried = await run.database.rows(
            "SELECT count(*) FROM notifications WHERE source_key LIKE 'deadline:fault_quiz:%' AND attempts > 1"
        )
        outbox_faults = faults.injected["503"] + faults.injected["503 stored"] + faults.injected["hang"]
        outbox_faults += faults.injected["hang stored"]
        assert retried[0][0] >= min(1, outbox_faults)
        if faults.injected["hang"] + faults.injected["hang stored"]:
            assert f"no answer from Discord within {SEND_TIMEOUT:.0f} s" in run.bot.log_text()
        assert_clean_log(run)
        print(
            f"seed {seed}: faults {dict(faults.injected)}; {fd.nonce_repeats} repeats dropped by their "
            f"nonce; {retried[0][0]} rows retried by the outbox; {time.monotonic() - started:.1f} s"
        )


# ---- 4. SQLite locked by another program ---------------------------------------------------------------
LOCK_SECONDS = 10.0


async def test_sqlite_locked_by_another_program_commands_answer_busy_or_done_in_time(
    course: CourseFactory,
) -> None:
    """Always on SQLite: the lock is SQLite's."""
    seed = random.randrange(1 << 30)
    chance = random.Random(seed)
    async with course(students=STUDENTS, backend="sqlite", interaction_deadline=3.0) as run:
        fd, server = run.fd, run.server
        await run.bot.start(LECTURE)
        code = await open_check_in(run)
        presses = Presses(run, code)
        early, during = server.students[:20], server.students[20:]
        await asyncio.gather(*(presses.press(m, done) for m in early))
        marked = early[0]
        mark = {"member": marked, "date": "2025-03-12", "status": "excused"}

        async def once(member: FakeMember, name: str, options: dict[str, Any]) -> InteractionResult:
            await asyncio.sleep(chance.uniform(0.0, 1.0))
            return await fd.invoke_slash(
                server.guild, server.general, member, name, options, timeout=PRESS_TIMEOUT
            )

        database = run.database.url.removeprefix("sqlite+aiosqlite:///")
        outside = sqlite3.connect(database, isolation_level=None, timeout=30)
        try:
            outside.execute("BEGIN IMMEDIATE")  # another program takes the write lock and holds it
            locked_at = time.monotonic()
            answers = await asyncio.gather(
                *(once(m, "checkin", {"code": code}) for m in during),
                once(server.ta, "ta attendance mark", mark),
            )
            in_lock = time.monotonic() - locked_at
            # nothing was written meanwhile, half or whole
            records = await records_per_student(run)
            marks = await run.database.rows("SELECT count(*) FROM audit_log WHERE action = 'attendance.mark'")
            await asyncio.sleep(max(0.0, locked_at + LOCK_SECONDS - time.monotonic()))
        finally:
            outside.execute("COMMIT")
            outside.close()

        assert in_lock < LOCK_SECONDS, f"the answers took {in_lock:.1f} s: the lock was over before them"
        # every press was answered within Discord's 3 s: done, or told to try again; never "went wrong"
        assert all(a.type is not None and not a.late for a in answers), [
            a.rejected for a in answers if a.late
        ]
        checkins, ta_answer = answers[:-1], answers[-1]
        assert all(CHECKED_IN.match(a.content or "") or a.content == DATABASE_BUSY for a in checkins), {
            a.content for a in checkins
        }
        busy = [m for m, a in zip(during, checkins, strict=True) if a.content == DATABASE_BUSY]
        assert busy, "no check-in met the lock"
        assert all(a.ephemeral for a in answers)
        assert set(records) == {m.id for m in early} | {
            m.id for m, a in zip(during, checkins, strict=True) if a.content != DATABASE_BUSY
        }
        assert (ta_answer.content == DATABASE_BUSY) == (marks == [(0,)]), (ta_answer.content, marks)

        # pressed again after the lock, everything goes through, once
        await asyncio.gather(*(presses.press(m, done) for m in busy))
        if ta_answer.content == DATABASE_BUSY:
            again = await run.slash(server.ta, "ta attendance mark", mark)
            assert (again.content or "").endswith("excused on Wed 2025-03-12 (was present).")
        per_student = await records_per_student(run)
        assert set(per_student) == {s.id for s in server.students} and set(per_student.values()) == {1}
        statuses = await run.database.rows(
            "SELECT status FROM attendance_records WHERE discord_id = :who", who=marked.id
        )
        assert statuses == [("excused",)]
        marks = await run.database.rows(
            "SELECT count(*) FROM audit_log WHERE action = 'attendance.mark' AND target_id = :who",
            who=marked.id,
        )
        assert marks == [(1,)]
        await run.bot.stop()
        assert_clean_log(run)
        print(
            f"seed {seed}: during the {LOCK_SECONDS:.0f} s lock {len(busy)} of {len(during)} check-ins were "
            f"told the database is busy (TA: {ta_answer.content!r}); answered within {in_lock:.1f} s"
        )
