"""Interactions past Discord's 3 s deadline (an overloaded bot): a command that reaches the tree
after it is not run, an answer that would come after it is not sent (Discord would refuse it with
10062), both count as "late", and the log gets one line for the first and a summary for the rest."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import TYPE_CHECKING, cast

import discord
import pytest
from sqlalchemy import func, select

import bot.tree
from bot.db.models import AttendanceRecord
from bot.tree import AnswerDeadline, AnswerTooLate, LateAnswers
from tests.cogs.test_attendance_commands import open_checkin

if TYPE_CHECKING:
    from tests.cogs.conftest import Course

MADE = datetime(2026, 3, 4, 10, 0, tzinfo=UTC)


def made_at(at: datetime) -> discord.Interaction:
    return cast(discord.Interaction, SimpleNamespace(created_at=at))


@pytest.mark.parametrize(
    ("age", "late"),
    [(0.0, False), (2.9, False), (3.2, False), (3.3, True), (59.0, True), (61.0, False), (-5.0, False)],
)
def test_expired_past_the_deadline_and_its_allowance_unless_the_clocks_disagree(
    age: float, late: bool
) -> None:
    deadline = AnswerDeadline()
    assert not deadline.expired(made_at(MADE), MADE + timedelta(seconds=0.05))  # a fresh one first
    assert deadline.expired(made_at(MADE), MADE + timedelta(seconds=0.05 + age)) is late


@pytest.mark.parametrize("lead", [4.0, -2.0], ids=["host-clock-4s-fast", "host-clock-2s-slow"])
def test_a_host_clock_off_by_seconds_neither_drops_every_answer_nor_none(lead: float) -> None:
    deadline = AnswerDeadline()
    off = timedelta(seconds=lead + 0.05)  # the clock's error and the network's delay
    assert not deadline.expired(made_at(MADE), MADE + off)  # the first interaction after start
    assert not deadline.expired(made_at(MADE), MADE + off + timedelta(seconds=2.5))
    assert deadline.expired(made_at(MADE), MADE + off + timedelta(seconds=3.5))


def clocks(course: Course, *ages: float) -> Iterator[datetime]:
    """The system clock as the tree reads it: the simulated server's now plus each age in turn (the
    last one from then on), so its interactions look that old."""
    backend = course.env.backend
    for age in ages[:-1]:
        yield backend.clock.now() + timedelta(seconds=age)
    while True:
        yield backend.clock.now() + timedelta(seconds=ages[-1])


async def recorded(course: Course) -> int:
    async with course.bot.services.db.read() as session:
        return await session.scalar(select(func.count()).select_from(AttendanceRecord)) or 0


def late(course: Course, command: str) -> float:
    return course.bot.metrics.value("coursebot_commands_total", command=command, outcome="late")


async def test_a_check_in_that_reaches_the_bot_after_the_deadline_is_not_run(
    course: Course, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    code = await open_checkin(course)
    now = clocks(course, 0.05, 5.0)  # a fresh interaction first (the host's clock is right), then one 5 s old
    monkeypatch.setattr(bot.tree, "system_now", lambda: next(now))
    await course.members["bob"].slash(course.channel, "course")
    with caplog.at_level(logging.WARNING, logger="bot.tree"):
        result = await course.members["alice"].slash(course.channel, "checkin", code=code)
    assert result.response is None  # nothing sent: Discord would refuse it
    assert await recorded(course) == 0  # and nothing changed: she can check in again
    assert late(course, "checkin") == 1
    assert [r.getMessage() for r in caplog.records] == [
        f"/checkin by {course.members['alice'].id} arrived after Discord's 3 s deadline and was not run "
        "(the bot is overloaded)"
    ]


async def test_an_answer_that_would_come_after_the_deadline_is_not_sent(
    course: Course, monkeypatch: pytest.MonkeyPatch
) -> None:
    code = await open_checkin(course)
    now = clocks(course, 0.5, 4.0)  # fresh at the tree's check, late by the answer
    monkeypatch.setattr(bot.tree, "system_now", lambda: next(now))
    result = await course.members["alice"].slash(course.channel, "checkin", code=code)
    course.take_error(AnswerTooLate)
    assert result.response is None
    assert await recorded(course) == 1  # the check-in itself was committed before the answer
    assert late(course, "checkin") == 1
    assert course.bot.metrics.value("coursebot_commands_total", command="checkin", outcome="ok") == 0


async def test_late_interactions_are_one_line_then_a_summary(caplog: pytest.LogCaptureFixture) -> None:
    answers = LateAnswers()
    who = cast(
        discord.Interaction,
        SimpleNamespace(command=SimpleNamespace(qualified_name="checkin"), user=SimpleNamespace(id=7)),
    )
    with caplog.at_level(logging.WARNING, logger="bot.tree"):
        answers.seen(who, ran=True)
        for _ in range(3):
            answers.seen(who, ran=False)
        answers.seen(who, ran=True)
        assert [r.getMessage() for r in caplog.records] == [
            "Answer to /checkin by 7 came after Discord's 3 s deadline"
        ]
        answers.flush()  # at the end of LATE_LOG_SECONDS, or at shutdown
        answers.flush()  # nothing more to say
    assert [r.getMessage() for r in caplog.records][1:] == [
        "Past Discord's 3 s deadline in the last 10 s: 1 more answer(s) not sent or refused, "
        "3 command(s) not run"
    ]
