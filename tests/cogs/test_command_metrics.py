"""The bot's metrics as commands run through discord.py's real tree (simcord): each app command is
counted once by its qualified name and outcome and timed; check-ins count only when recorded;
the dispatcher counts the rows it sends and the DMs Discord refused."""

from __future__ import annotations

import discord
from sqlalchemy import func, select

from bot.clock import Clock
from bot.db.models import Notification
from tests.cogs.conftest import Course, close_dms
from tests.cogs.test_attendance_commands import checkin, open_checkin
from tests.cogs.test_reminders_commands import deliver, quiz_reminder_delivered, slash

STAFF_ONLY = "Only the course staff (TA or instructor role) can do that."


def handled(course: Course, command: str, outcome: str) -> float:
    return course.bot.metrics.value("coursebot_commands_total", command=command, outcome=outcome)


def timed(course: Course, command: str) -> float:
    return course.bot.metrics.value("coursebot_command_duration_seconds_count", command=command)


async def test_each_command_is_counted_once_by_qualified_name_and_outcome(course: Course) -> None:
    await slash(course, "alice", "course")
    await slash(course, "alice", "course")
    # a student whose other role lets the client show /ta: only the tree's staff check refuses her
    course.add("mallory", permissions=discord.Permissions(manage_guild=True))
    refused = await slash(course, "mallory", "ta student", member=course.members["bob"])
    assert refused.response is not None and refused.response.content == STAFF_ONLY
    bad = await course.members["bob"].slash(course.channel, "register", student_id="nope", name="Bob")
    assert bad.response is not None and bad.ephemeral
    await slash(course, "ta", "ta student", member=course.members["alice"])

    assert handled(course, "course", "ok") == 2
    assert handled(course, "ta student", "refused") == 1  # the tree's own staff check
    assert handled(course, "ta student", "ok") == 1
    assert handled(course, "register", "refused") == 1  # the service's one-line refusal
    assert handled(course, "register", "ok") == 0
    assert timed(course, "course") == 2
    assert timed(course, "ta student") == 2
    assert timed(course, "register") == 1
    text = course.bot.metrics.exposition()[0].decode()
    assert str(course.members["mallory"].id) not in text and "mallory" not in text  # never by user
    assert 'command="ta student"' in text


async def test_only_recorded_check_ins_count(course: Course) -> None:
    code = await open_checkin(course)
    assert handled(course, "ta attendance open", "ok") == 1  # a subcommand, by its full name
    assert (await checkin(course, "alice", code)).endswith(": present.")
    assert (await checkin(course, "alice", code)).startswith("You already checked in")
    assert (await checkin(course, "bob", "WRONG1")).startswith("Wrong code")
    metrics = course.bot.metrics
    assert metrics.value("coursebot_checkins_total", status="present") == 1
    assert metrics.value("coursebot_checkins_total", status="late") == 0
    assert handled(course, "checkin", "ok") == 3  # every check-in answer is a handled command


async def test_the_dispatcher_counts_rows_sent_and_dms_refused(course: Course, clock: Clock) -> None:
    close_dms(course, "carol")
    await quiz_reminder_delivered(course, clock)
    metrics = course.bot.metrics
    assert metrics.value("coursebot_dms_refused_total") == 1  # carol's, posted in the fallback channel
    async with course.bot.services.db.read() as session:
        dm_rows = await session.scalar(
            select(func.count()).where(Notification.audience == "dm", Notification.status == "sent")
        )
        messages = await session.scalar(  # a fan-out parent is not a message of its own
            select(func.count()).where(Notification.audience != "dm_all", Notification.status == "sent")
        )
    assert dm_rows == 3  # alice, bob, and carol's by the fallback
    assert metrics.value("coursebot_outbox_rows_total", result="sent") == messages
    assert metrics.value("coursebot_outbox_rows_total", result="failed") == 0
    last_run = course.bot.dispatcher.last_run
    assert last_run is not None and last_run == clock.now()
    await deliver(course)  # nothing twice
    assert metrics.value("coursebot_outbox_rows_total", result="sent") == messages


async def test_buttons_are_counted_by_kind_never_by_custom_id(course: Course) -> None:
    shown = await slash(course, "alice", "officehours")
    clicked = await course.members["alice"].click(shown.response, label="Subscribe")
    assert clicked.response is not None
    assert handled(course, "(button)", "ok") == 1
    assert timed(course, "(button)") == 1
    text = course.bot.metrics.exposition()[0].decode()
    assert str(course.members["alice"].id) not in text
