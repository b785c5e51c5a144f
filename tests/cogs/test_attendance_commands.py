"""`/checkin`, `/attendance`, `/excuse`, `/ta attendance …` and `/ta excuse review` through
discord.py and simcord: replies, ta-log lines, DMs, the report files, restart-proof buttons, and
the session lifecycle (auto-close, rotation, start-up resume).

The clock stands at Mon 2025-03-10 11:00 KST, the start of the Monday lecture of week 2.
"""

from __future__ import annotations

import asyncio
import csv
import io
import re
import time
from datetime import timedelta
from typing import TYPE_CHECKING

import discord
import pytest
import simcord
from sqlalchemy import delete, func, select

from bot.db.models import AbsenceWarning, AttendanceRecord, AuditEntry, ExcuseRequest, Notification
from bot.services import attendance
from cogs.attendance._lifecycle import SessionLifecycle
from tests.cogs.conftest import dms, one_line
from tests.conftest import seoul

if TYPE_CHECKING:
    from tests.cogs.conftest import Course

CODE = re.compile(r"`([A-Z2-9]{6})`")
STAFF_ONLY = "Only the course staff (TA or instructor role) can do that."


# ---- helpers -----------------------------------------------------------------------------------
def card_text(result: simcord.InteractionResult) -> str:
    assert result.ephemeral
    [card] = result.response.embeds
    return "\n".join(
        [card.title or "", card.description or ""] + [f"{f.name}: {f.value}" for f in card.fields]
    )


def ta_log(course: Course) -> list[str]:
    return [m.content for m in course.channels["ta-log"].history()]


async def restart(course: Course) -> None:
    """Restart the bot and load the member list (simcord answers the start-up member chunking only
    after discord.py stopped waiting for it, so the new bot would otherwise see no members)."""
    await course.restart()
    guild = course.bot.course_guild
    assert guild is not None
    if not guild.chunked:
        await guild.chunk()


async def open_checkin(course: Course, **options: object) -> str:
    """`/ta attendance open` as the TA; returns the code it shows (with rotation, the code on the
    live message: the reply shows none)."""
    result = await course.members["ta"].slash(course.channel, "ta attendance open", **options)
    reply = one_line(result)
    assert reply.startswith("Check-in is open for ")
    if options.get("rotate"):
        assert CODE.findall(reply) == []
        [code] = CODE.findall(course.channel.history()[-1].content)
        return code
    [code] = CODE.findall(reply)
    return code


async def checkin(course: Course, name: str, code: str) -> str:
    return one_line(await course.members[name].slash(course.channel, "checkin", code=code))


async def session_id(course: Course) -> int:
    opened = await attendance.open_now(course.bot.services)
    assert opened is not None
    return opened[0].id


async def records(course: Course) -> list[tuple[int, str]]:
    async with course.bot.services.db.read() as session:
        rows = await session.execute(
            select(AttendanceRecord.discord_id, AttendanceRecord.status).order_by(AttendanceRecord.id)
        )
        return [tuple(row) for row in rows.all()]  # type: ignore[misc]


async def audit_count(course: Course) -> int:
    async with course.bot.services.db.read() as session:
        return await session.scalar(select(func.count()).select_from(AuditEntry)) or 0


async def wait_for_ta_log(course: Course, needle: str) -> list[str]:
    """The ta-log lines once one contains `needle` (staff notes go out through the outbox)."""
    deadline = time.perf_counter() + 5
    while not any(needle in line for line in ta_log(course)) and time.perf_counter() < deadline:
        await course.env.settle()
        await asyncio.sleep(0.02)
    return ta_log(course)


async def wait_for_dms(course: Course, name: str, count: int) -> list[str]:
    """The student's DMs once there are `count` of them (warnings go out through the outbox, whose
    dispatcher runs in the background)."""
    deadline = time.perf_counter() + 5
    while len(dms(course, name)) < count and time.perf_counter() < deadline:
        await course.env.settle()
        await asyncio.sleep(0.02)
    return dms(course, name)


async def register_early(course: Course, *names: str) -> None:
    """Register before the lecture, so the bot knows these students joined before it started.
    (simcord's members joined Discord in 2026, after the course clock.)"""
    course.bot.clock.set(seoul(2025, 3, 10, 10, 50))
    for number, name in enumerate(names, start=1):
        await course.members[name].slash(
            course.channel, "register", student_id=f"2025{number:04d}", name=name.title()
        )
    course.bot.clock.set(seoul(2025, 3, 10, 11, 0))


# ---- check-in ----------------------------------------------------------------------------------
async def test_open_and_check_in(course: Course) -> None:
    code = await open_checkin(course)
    closes = int(seoul(2025, 3, 10, 11, 10).timestamp())
    assert f"opened check-in for the lecture of Mon 2025-03-10 until <t:{closes}:t>" in ta_log(course)[-1]
    assert await checkin(course, "alice", code) == "Checked in to the lecture of Mon 2025-03-10: present."
    again = await checkin(course, "alice", code.lower())
    assert again.startswith("You already checked in to the lecture of Mon 2025-03-10 at <t:")
    assert await records(course) == [(course.members["alice"].id, "present")]
    assert course.bot.scheduler.get_job(f"attendance:close:{await session_id(course)}") is not None


async def test_check_in_after_ten_minutes_is_late(course: Course) -> None:
    code = await open_checkin(course, minutes=30)
    course.bot.clock.advance(timedelta(minutes=10))
    assert await checkin(course, "alice", code) == "Checked in to the lecture of Mon 2025-03-10: present."
    course.bot.clock.advance(timedelta(seconds=1))
    assert await checkin(course, "bob", code) == (
        "Checked in to the lecture of Mon 2025-03-10: late (more than 10 minutes after the start)."
    )


async def test_three_wrong_codes_lock_out_and_tell_the_staff(course: Course) -> None:
    code = await open_checkin(course)
    wrong = "AAAAAA" if code != "AAAAAA" else "BBBBBB"
    assert await checkin(course, "bob", wrong) == "Wrong code; 2 tries left."
    assert await checkin(course, "bob", wrong) == "Wrong code; 1 try left."
    third = await checkin(course, "bob", wrong)
    assert "that was your last try: you are locked out" in third
    bob = course.members["bob"]
    locked = [line for line in ta_log(course) if "locked out" in line]
    assert locked == [f"🔒 {bob.mention} is locked out of check-in for 2025-03-10 after too many wrong codes"]

    assert "You are locked out of this check-in" in await checkin(course, "bob", code)
    assert await checkin(course, "alice", code) == "Checked in to the lecture of Mon 2025-03-10: present."
    assert await records(course) == [(course.members["alice"].id, "present")]
    assert len([line for line in ta_log(course) if "locked out" in line]) == 1


# ---- bad input: a one-line reason, nothing changed ---------------------------------------------
async def test_check_in_refusals(course: Course) -> None:
    assert await checkin(course, "alice", "K7QX2M") == "No check-in is open right now."
    code = await open_checkin(course)
    for staff in ("ta", "prof"):
        assert await checkin(course, staff, code) == "Only members with the student role check in."
    outsider = course.add("dave", role=None)
    assert await checkin(course, "dave", code) == "Only members with the student role check in."
    assert outsider.id not in [r[0] for r in await records(course)]
    assert await records(course) == []


@pytest.mark.parametrize(
    ("date", "reason"),
    [
        ("2025-13-01", "`2025-13-01` is not a date like 2025-03-12."),
        ("yesterday", "`yesterday` is not a date like 2025-03-12."),
        ("2025-03-12", "The lecture of 2025-03-12 has not happened yet."),
        ("2025-03-11", "There was no lecture on Tue 2025-03-11."),
        ("2025-04-14", "There was no lecture on Mon 2025-04-14."),
        ("2025-05-05", "There was no lecture on Mon 2025-05-05."),
    ],
)
async def test_mark_refusals(course: Course, date: str, reason: str) -> None:
    before = await audit_count(course)
    result = await course.members["ta"].slash(
        course.channel, "ta attendance mark", member=course.members["alice"], date=date, status="absent"
    )
    assert one_line(result) == reason
    assert await attendance.held_lectures(course.bot.services) == []
    assert await audit_count(course) == before
    assert ta_log(course) == []


async def test_open_refusals(course: Course) -> None:
    with pytest.raises(simcord.OptionError):  # minutes is a Range of 1–240: Discord refuses 0
        await course.members["ta"].slash(course.channel, "ta attendance open", minutes=0)
    assert await attendance.open_now(course.bot.services) is None

    code = await open_checkin(course, minutes=15)
    again = await course.members["ta"].slash(course.channel, "ta attendance open")
    assert one_line(again).startswith("Check-in is already open until <t:")
    assert (await attendance.open_now(course.bot.services))[1] == code  # type: ignore[index]
    assert len(await attendance.held_lectures(course.bot.services)) == 1
    assert len([line for line in ta_log(course) if "opened check-in" in line]) == 1


async def test_close_when_nothing_is_open(course: Course) -> None:
    result = await course.members["ta"].slash(course.channel, "ta attendance close")
    assert one_line(result) == "No check-in is open."


async def test_staff_commands_are_refused_to_students(course: Course) -> None:
    mallory = course.add("mallory", permissions=discord.Permissions(manage_guild=True))
    for command, options in (
        ("ta attendance open", {}),
        ("ta attendance mark", {"member": mallory, "date": "2025-03-10", "status": "present"}),
        ("ta attendance close", {}),
    ):
        result = await mallory.slash(course.channel, command, **options)
        assert one_line(result) == STAFF_ONLY
    assert await attendance.held_lectures(course.bot.services) == []
    # without manage_guild, Discord does not even show /ta
    with pytest.raises(simcord.SetupError, match="not visible"):
        await course.members["alice"].slash(course.channel, "ta attendance open")


# ---- /attendance and the report ----------------------------------------------------------------
async def mark(course: Course, name: str, date: str, status: str) -> str:
    result = await course.members["ta"].slash(
        course.channel, "ta attendance mark", member=course.members[name], date=date, status=status
    )
    return one_line(result)


async def test_mark_by_hand(course: Course) -> None:
    alice = course.members["alice"]
    assert await mark(course, "alice", "2025-03-05", "late") == f"{alice.mention}: late on Wed 2025-03-05."
    assert await mark(course, "alice", "2025-03-05", "present") == (
        f"{alice.mention}: present on Wed 2025-03-05 (was late)."
    )
    ta = course.members["ta"]
    assert ta_log(course)[-1] == f"{ta.mention} marked {alice.mention} present on 2025-03-05 (was late)"


async def test_attendance_shows_only_the_callers_record(course: Course) -> None:
    await mark(course, "alice", "2025-03-05", "present")
    await mark(course, "alice", "2025-03-10", "present")
    await mark(course, "bob", "2025-03-05", "absent")
    await mark(course, "bob", "2025-03-10", "late")
    alice, bob = course.members["alice"], course.members["bob"]

    mine = card_text(await alice.slash(course.channel, "attendance"))
    assert "2 lectures held since you joined." in mine
    assert "Present: 2" in mine and "Late: 0" in mine and "Absent: 0" in mine
    assert "You can miss 2 more lectures; 3 absences mean an F." in mine
    assert mine.endswith("Lectures: Wed 03-05: present\nMon 03-10: present")
    assert str(bob.id) not in mine and bob.mention not in mine and "bob" not in mine

    theirs = card_text(await bob.slash(course.channel, "attendance"))
    assert "Present: 0" in theirs and "Absent: 1" in theirs and "Late: 1" in theirs
    assert "You can miss 1 more lecture; 3 absences mean an F." in theirs
    assert theirs.endswith("Lectures: Wed 03-05: absent\nMon 03-10: late")
    assert "alice" not in theirs and alice.mention not in theirs


async def test_attendance_at_the_fail_line(course: Course) -> None:
    course.bot.clock.set(seoul(2025, 3, 17, 12, 30))
    for date in ("2025-03-05", "2025-03-10", "2025-03-12"):
        await mark(course, "carol", date, "absent")
    text = card_text(await course.members["carol"].slash(course.channel, "attendance"))
    assert "Absent: 3" in text
    assert "You have reached the fail line (3 absences mean an F). Talk to the staff." in text


async def report(course: Course, who: str, **options: object) -> tuple[simcord.InteractionResult, list[str]]:
    """`/ta attendance report`; also how the bot answered: "deferred", then "followup", or "reply"."""
    start = len(course.env.http_requests)
    result = await course.members[who].slash(course.channel, "ta attendance report", **options)
    steps = []
    for call in course.env.http_requests[start:]:
        if call.method == "POST" and call.path.endswith("/callback"):
            steps.append("deferred" if call.json["type"] == 5 else "reply")
        elif call.method == "POST" and call.path.startswith("/webhooks/"):
            steps.append("followup")
    return result, steps


async def report_files(result: simcord.InteractionResult) -> dict[str, bytes]:
    """The files of the report (the first followup after a defer fills the original reply)."""
    assert result.ephemeral and result.response is not None
    return {a.filename: await a.read() for a in result.response.attachments}


async def test_report_is_refused_to_a_student_even_with_manage_guild(course: Course) -> None:
    mallory = course.add("mallory", permissions=discord.Permissions(manage_guild=True))
    for options in ({}, {"member": course.members["alice"]}, {"member": mallory}):
        result, steps = await report(course, "mallory", **options)
        assert one_line(result) == STAFF_ONLY
        assert steps == ["reply"] and result.response.attachments == []
    with pytest.raises(simcord.SetupError, match="not visible"):
        await report(course, "alice")


async def test_report_for_the_staff(course: Course) -> None:
    await course.members["carol"].slash(course.channel, "register", student_id="20251234", name="김민지")
    code = await open_checkin(course)
    await checkin(course, "alice", code)
    await course.members["ta"].slash(course.channel, "ta attendance close")
    await mark(course, "bob", "2025-03-05", "late")

    result, steps = await report(course, "prof")
    assert steps == ["deferred", "followup"]
    [card] = result.response.embeds
    assert card.title == "Attendance · 2 lectures held"
    assert card.image.url == "attachment://attendance.png"
    files = await report_files(result)
    assert set(files) == {"attendance.png", "attendance.csv"}

    png = files["attendance.png"]
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    from matplotlib import image

    pixels = image.imread(io.BytesIO(png), format="png")
    assert pixels.ndim == 3 and pixels.shape[0] > 100 and pixels.shape[1] > 100

    assert files["attendance.csv"].startswith(b"\xef\xbb\xbf")
    header, *rows = list(csv.reader(io.StringIO(files["attendance.csv"].decode("utf-8-sig"))))
    assert header[-2:] == ["2025-03-05", "2025-03-10"]
    by_name = {row[2]: dict(zip(header, row, strict=True)) for row in rows}
    assert set(by_name) == {"alice", "bob", "carol"}  # students only, no staff
    assert (by_name["carol"]["student_id"], by_name["carol"]["name"]) == ("20251234", "김민지")
    assert by_name["alice"]["2025-03-10"] == "present"
    assert by_name["bob"]["2025-03-05"] == "late"


async def test_report_for_one_student(course: Course) -> None:
    await mark(course, "bob", "2025-03-05", "absent")
    result, _ = await report(course, "ta", member=course.members["bob"])
    files = await report_files(result)
    header, *rows = list(csv.reader(io.StringIO(files["attendance.csv"].decode("utf-8-sig"))))
    assert [row[2] for row in rows] == ["bob"]
    assert rows[0][header.index("absent")] == "1"


# ---- excuses -----------------------------------------------------------------------------------
async def review(course: Course, name: str = "ta") -> simcord.InteractionResult:
    return await course.members[name].slash(course.channel, "ta excuse review")


async def excuse_statuses(course: Course) -> list[str]:
    async with course.bot.services.db.read() as session:
        return list((await session.scalars(select(ExcuseRequest.status).order_by(ExcuseRequest.id))).all())


async def test_excuse_review_and_approve(course: Course) -> None:
    code = await open_checkin(course)
    await checkin(course, "bob", code)
    await course.members["ta"].slash(course.channel, "ta attendance close")
    alice = course.members["alice"]

    asked = one_line(await alice.slash(course.channel, "excuse", date="2025-03-10", reason="I had a fever"))
    assert asked == (
        "Your request #1 to excuse Mon 2025-03-10 is with the staff; you will get a DM when they decide."
    )
    assert ta_log(course)[-1] == f"📝 {alice.mention} asks to excuse 2025-03-10 (#1); `/ta excuse review`"

    shown = await review(course)
    assert "**#1** " + alice.mention + " · Mon 2025-03-10 · I had a fever" in card_text(shown)
    simcord.assert_responded(shown, component_custom_id="excuse:1:approve")
    simcord.assert_responded(shown, component_custom_id="excuse:1:deny")

    decided = await course.members["ta"].click(shown.response, label="Approve #1")
    assert one_line(decided) == f"Excuse #1 of {alice.mention} for 2025-03-10: approved."
    assert dms(course, "alice")[-1] == (
        "Your excuse request for the lecture of Mon 2025-03-10 was approved by the staff."
    )
    text = card_text(await alice.slash(course.channel, "attendance"))
    assert "Excused: 1" in text and "Absent: 0" in text and "Mon 03-10: excused" in text
    assert one_line(await review(course)) == "No pending excuse requests."


async def test_excuse_refusals(course: Course) -> None:
    alice = course.members["alice"]
    for date, reason, answer in (
        ("2025-03-11", "sick", "There is no lecture on Tue 2025-03-11."),
        ("2025-04-14", "sick", "There is no lecture on Mon 2025-04-14."),
        ("13/03/2025", "sick", "`13/03/2025` is not a date like 2025-03-12."),
        ("2025-03-05", "x" * 501, "The reason must be 1–500 characters."),
    ):
        result = await alice.slash(course.channel, "excuse", date=date, reason=reason)
        assert one_line(result) == answer
    assert await excuse_statuses(course) == []
    await alice.slash(course.channel, "excuse", date="2025-03-05", reason="sick")
    twice = await alice.slash(course.channel, "excuse", date="2025-03-05", reason="still sick")
    assert one_line(twice) == "You already asked to excuse 2025-03-05 (it is pending)."
    assert await excuse_statuses(course) == ["pending"]


async def test_excuse_buttons_work_after_a_restart(course: Course) -> None:
    await course.members["alice"].slash(course.channel, "excuse", date="2025-03-05", reason="fever")
    await course.members["bob"].slash(course.channel, "excuse", date="2025-03-05", reason="bus")
    shown = await review(course)
    await restart(course)

    approved = await course.members["ta"].click(shown.response, label="Approve #1")
    assert one_line(approved).endswith("approved.")
    denied = await course.members["ta"].click(shown.response, label="Deny #2")
    assert one_line(denied).endswith("denied.")
    assert await excuse_statuses(course) == ["approved", "denied"]
    assert dms(course, "alice")[-1].endswith("was approved by the staff.")
    assert dms(course, "bob")[-1].endswith("was denied by the staff.")

    twice = await course.members["ta"].click(shown.response, label="Deny #1")
    decided = int(course.bot.clock.now().timestamp())
    assert (
        one_line(twice)
        == f"That request was already approved by {course.members['ta'].mention} <t:{decided}:R>."
    )
    assert await excuse_statuses(course) == ["approved", "denied"]


async def test_a_student_cannot_review_excuses(course: Course) -> None:
    await course.members["alice"].slash(course.channel, "excuse", date="2025-03-05", reason="fever")
    mallory = course.add("mallory", permissions=discord.Permissions(manage_guild=True))
    result = await mallory.slash(course.channel, "ta excuse review")
    assert one_line(result) == STAFF_ONLY
    assert not result.response.components
    with pytest.raises(simcord.SetupError, match="not visible"):
        await course.members["alice"].slash(course.channel, "ta excuse review")
    assert await excuse_statuses(course) == ["pending"]


# ---- the session lifecycle ---------------------------------------------------------------------
async def test_auto_close_posts_the_summary_and_warns(course: Course) -> None:
    await register_early(course, "bob", "carol")
    code = await open_checkin(course, minutes=1)
    await checkin(course, "alice", code)
    session = await session_id(course)
    assert course.bot.scheduler.get_job(f"attendance:close:{session}") is not None

    course.bot.clock.advance(timedelta(minutes=1))
    await SessionLifecycle(course.bot).finish(session)  # what the scheduled job runs
    assert await attendance.open_now(course.bot.services) is None
    assert course.bot.scheduler.get_job(f"attendance:close:{session}") is None
    summary = "Check-in for Mon 2025-03-10 closed: 1 checked in."
    assert (await wait_for_ta_log(course, summary))[-1] == summary
    for name in ("bob", "carol"):
        assert (await wait_for_dms(course, name, 1))[-1] == (
            "Attendance notice: you have 1 absence in EECE695D. 3 or more absences mean an F; "
            "you can miss 1 more lecture. If an absence had a good reason, use `/excuse`."
        )
    assert dms(course, "alice") == []

    lines = len(ta_log(course))
    await SessionLifecycle(course.bot).finish(session)  # the job firing twice does nothing
    await course.env.settle()
    assert len(ta_log(course)) == lines
    assert len(dms(course, "bob")) == 1


async def test_closing_by_hand_tells_the_staff_who_is_near_the_fail_line(course: Course) -> None:
    await register_early(course, "bob")
    await mark(course, "bob", "2025-03-05", "absent")  # no DM yet: warnings come when check-in closes
    code = await open_checkin(course)
    await checkin(course, "alice", code)
    closed = await course.members["ta"].slash(course.channel, "ta attendance close")
    assert one_line(closed) == "Check-in for Mon 2025-03-10 is closed."
    bob = course.members["bob"]
    note = f"⚠️ {bob.mention} is one absence from the fail line: 2 absences (3 mean an F)."
    lines = await wait_for_ta_log(course, note)
    assert "Check-in for Mon 2025-03-10 closed: 1 checked in." in lines
    assert (await wait_for_dms(course, "bob", 1))[-1].startswith(
        "Attendance notice: you have 2 absences in EECE695D."
    )
    assert len(dms(course, "bob")) == 1  # counts 1 and 2 reached together: one DM

    # Wednesday bob is there: still one absence from the fail line, but the staff were told already
    course.bot.clock.set(seoul(2025, 3, 12, 11, 0))
    code = await open_checkin(course)
    await checkin(course, "bob", code)
    await course.members["ta"].slash(course.channel, "ta attendance close")
    await wait_for_ta_log(course, "Check-in for Wed 2025-03-12 closed: 1 checked in.")
    assert [line for line in ta_log(course) if bob.mention in line and "fail line" in line] == [note]


async def test_resume_schedules_sessions_left_open(course: Course) -> None:
    await open_checkin(course, minutes=20, rotate=True)
    session = await session_id(course)
    await restart(course)
    jobs = {job.id for job in course.bot.scheduler.get_jobs()}
    assert {f"attendance:close:{session}", f"attendance:rotate:{session}"} <= jobs
    assert (await attendance.open_now(course.bot.services))[0].id == session  # type: ignore[index]


async def test_a_session_that_ran_out_while_the_bot_was_down_is_closed_at_start_up(course: Course) -> None:
    code = await open_checkin(course, minutes=1)
    await checkin(course, "alice", code)
    course.bot.clock.advance(timedelta(minutes=5))
    await restart(course)
    await course.env.settle()
    assert await attendance.sessions_to_close(course.bot.services) == []
    assert "Check-in for Mon 2025-03-10 closed: 1 checked in." in ta_log(course)


async def test_rotating_code_on_a_live_message(course: Course) -> None:
    first = await open_checkin(course, rotate=True)
    live = course.channel.history()[-1]
    assert live.content.startswith(f"## Check-in code: `{first}`")
    assert "the code changes every 15 s" in live.content
    session = await session_id(course)

    course.bot.clock.advance(timedelta(seconds=15))
    await SessionLifecycle(course.bot).rotate(session)  # what the rotation job runs
    [_, second] = await attendance.open_now(course.bot.services)  # type: ignore[misc]
    assert second != first
    assert course.channel.history()[-1].content.startswith(f"## Check-in code: `{second}`")
    assert course.channel.history()[-1].id == live.id  # edited, not a new message
    assert course.bot.scheduler.get_job(f"attendance:rotate:{session}") is not None  # re-armed

    course.bot.clock.advance(timedelta(seconds=15))  # two steps after the first code
    assert await checkin(course, "bob", first) == "Wrong code; 2 tries left."
    assert (await checkin(course, "alice", second)).endswith("present.")

    await course.members["ta"].slash(course.channel, "ta attendance close")
    assert course.channel.history()[-1].content == "Check-in is closed."
    assert course.bot.scheduler.get_job(f"attendance:rotate:{session}") is None
    await SessionLifecycle(course.bot).rotate(session)  # a late tick changes nothing
    assert course.channel.history()[-1].content == "Check-in is closed."
    assert course.bot.scheduler.get_job(f"attendance:rotate:{session}") is None


async def test_an_extra_session_on_a_day_without_a_lecture(course: Course) -> None:
    course.bot.clock.set(seoul(2025, 3, 11, 14, 0))  # a Tuesday
    asked = await course.members["ta"].slash(course.channel, "ta attendance open", minutes=15)
    assert one_line(asked).startswith("There is no lecture today (Tue 2025-03-11). Open an extra session")
    assert await attendance.open_now(course.bot.services) is None
    await restart(course)  # the confirmation button survives a restart

    opened = await course.members["ta"].click(asked.response, label="Open an extra session")
    reply = one_line(opened)
    assert reply.startswith("Check-in is open for an extra session until ")
    [code] = CODE.findall(reply)
    assert await checkin(course, "alice", code) == "Checked in to the lecture of Tue 2025-03-11: present."
    [held] = await attendance.held_lectures(course.bot.services)
    assert held.extra and held.closes_at == seoul(2025, 3, 11, 14, 15)


# ---- rotation: the reply points to the projector message ---------------------------------------
async def test_with_rotation_the_reply_links_the_live_message_and_shows_no_code(course: Course) -> None:
    result = await course.members["ta"].slash(course.channel, "ta attendance open", rotate=True)
    reply = one_line(result)
    live = course.channel.history()[-1]
    assert CODE.findall(reply) == []  # a code read from the reply would stop working in 15 s
    [code] = CODE.findall(live.content)
    assert code not in reply
    link = f"https://discord.com/channels/{course.guild.id}/{course.channel.id}/{live.id}"
    assert reply.endswith(f"put that on the projector: {link}")
    assert "The code changes every 15 s, so it is shown only on the live message" in reply
    assert (await attendance.open_now(course.bot.services))[0].live_message_id == live.id  # type: ignore[index]

    course.bot.clock.advance(timedelta(seconds=15))
    await SessionLifecycle(course.bot).rotate(await session_id(course))
    [now_shown] = CODE.findall(course.channel.history()[-1].content)
    assert now_shown != code and now_shown not in reply
    assert (await checkin(course, "alice", now_shown)).endswith("present.")


# ---- opening hours after the lecture ended -----------------------------------------------------
async def test_opening_hours_after_the_lecture_asks_first(course: Course) -> None:
    course.bot.clock.set(seoul(2025, 3, 12, 16, 19))  # Wednesday; the lecture was 11:00–12:15
    asked = await course.members["ta"].slash(course.channel, "ta attendance open", minutes=15)
    start, end = int(seoul(2025, 3, 12, 11, 0).timestamp()), int(seoul(2025, 3, 12, 12, 15).timestamp())
    assert one_line(asked) == (
        f"It is after the lecture of Wed 2025-03-12 (<t:{start}:t>–<t:{end}:t>): it ended <t:{end}:R>, "
        "so everyone who checks in now is marked late. Open check-in for it anyway?"
    )
    simcord.assert_responded(asked, component_custom_id="attextra:15:0")
    assert await attendance.open_now(course.bot.services) is None
    assert await attendance.held_lectures(course.bot.services) == []
    assert not any("opened check-in" in line for line in ta_log(course))

    await restart(course)  # the confirmation survives a restart, like the extra-session one
    opened = await course.members["ta"].click(asked.response, label="Open check-in anyway")
    reply = one_line(opened)
    assert reply.startswith("Check-in is open for the lecture of Wed 2025-03-12 until ")
    [code] = CODE.findall(reply)
    assert await checkin(course, "alice", code) == (
        "Checked in to the lecture of Wed 2025-03-12: late (more than 10 minutes after the start)."
    )
    [held] = await attendance.held_lectures(course.bot.services)
    assert not held.extra and held.closes_at == seoul(2025, 3, 12, 16, 34)


async def test_opening_within_the_grace_after_the_lecture_opens_at_once(course: Course) -> None:
    course.bot.clock.set(seoul(2025, 3, 12, 12, 40))  # 25 minutes after the end: within 30
    code = await open_checkin(course)
    assert (await checkin(course, "bob", code)).endswith("late (more than 10 minutes after the start).")


async def test_opening_long_before_the_lecture_asks_first(course: Course) -> None:
    course.bot.clock.set(seoul(2025, 3, 12, 9, 0))
    asked = await course.members["ta"].slash(course.channel, "ta attendance open", rotate=True)
    text = one_line(asked)
    assert text.startswith("It is well before the lecture of Wed 2025-03-12 (")
    assert text.endswith("Open check-in for it anyway?")
    simcord.assert_responded(asked, component_custom_id="attextra:10:1")
    assert await attendance.open_now(course.bot.services) is None
    opened = await course.members["ta"].click(asked.response, label="Open check-in anyway")
    assert one_line(opened).startswith("Check-in is open for the lecture of Wed 2025-03-12 until ")
    assert CODE.findall(one_line(opened)) == []  # rotating: the code is on the live message only
    assert CODE.findall(course.channel.history()[-1].content)


# ---- staff notes and DMs go through the outbox -------------------------------------------------
async def test_the_excuse_decision_dm_waits_for_the_dispatcher(course: Course) -> None:
    await course.members["alice"].slash(course.channel, "excuse", date="2025-03-05", reason="fever")
    shown = await review(course)
    woken: list[float] = []
    course.bot.dispatcher.wake = lambda delay=0.0: woken.append(delay)  # type: ignore[method-assign]
    await course.members["ta"].click(shown.response, label="Approve #1")
    await course.env.settle()
    assert woken and dms(course, "alice") == []  # planned, not sent by the button
    await course.bot.dispatcher.run()
    await course.bot.dispatcher.run()  # running again sends nothing twice
    assert dms(course, "alice") == [
        "Your excuse request for the lecture of Wed 2025-03-05 was approved by the staff."
    ]


async def test_start_up_reports_a_close_an_older_version_left_unreported(course: Course) -> None:
    await register_early(course, "bob")
    code = await open_checkin(course)
    await checkin(course, "alice", code)
    course.bot.dispatcher.wake = lambda delay=0.0: None  # type: ignore[method-assign]
    await course.members["ta"].slash(course.channel, "ta attendance close")
    async with course.bot.services.db.write() as session:  # the close as an older version left it
        await session.execute(delete(Notification))
        await session.execute(delete(AbsenceWarning))
    await restart(course)
    await SessionLifecycle(course.bot).catch_up()  # what the start-up job runs, once members are known
    lines = await wait_for_ta_log(course, "(Reported at start-up")
    assert lines[-1].startswith("Check-in for Mon 2025-03-10 closed: 1 checked in. (Reported at start-up")
    assert (await wait_for_dms(course, "bob", 1))[-1].startswith("Attendance notice: you have 1 absence")
    await SessionLifecycle(course.bot).catch_up()  # once only
    await course.env.settle()
    assert len([line for line in ta_log(course) if "closed: 1 checked in" in line]) == 1
    assert len(dms(course, "bob")) == 1
