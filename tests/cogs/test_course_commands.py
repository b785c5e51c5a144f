"""`/course`, `/schedule`, `/register` and `/ta student` through discord.py and simcord."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tests.cogs.conftest import embed_text, one_line
from tests.conftest import seoul

if TYPE_CHECKING:
    from tests.cogs.conftest import Course


def stamp(*args: int) -> str:
    """The Discord timestamp of a Seoul wall-clock time, full-date style."""
    return f"<t:{int(seoul(*args).timestamp())}:F>"


def when(*args: int) -> str:
    """A full-date timestamp followed by the relative one, as the cogs render instants."""
    unix = int(seoul(*args).timestamp())
    return f"<t:{unix}:F> (<t:{unix}:R>)"


async def test_course_card(course: Course) -> None:
    result = await course.members["alice"].slash(course.channel, "course")
    assert result.ephemeral
    [card] = result.response.embeds
    assert card.title == "EECE695D: Efficient ML Systems"
    fields = {field.name: field.value for field in card.fields}
    assert "jaeho.lee@postech.ac.kr" in fields["Staff"] and "hyunjong.ok@postech.ac.kr" in fields["Staff"]
    assert "Mon & Wed 11:00–12:15" in fields["Lectures"] and "PIAI 122" in fields["Lectures"]
    assert "No class in W7" in fields["Lectures"]
    # the frozen clock stands at the start of Monday's lecture, so that lecture is "next"
    assert stamp(2025, 3, 10, 11, 0) in fields["Lectures"]
    assert "Terarosa Coffee" in fields["Office hours"]
    assert stamp(2025, 3, 12, 17, 0) in fields["Office hours"]
    for weight in ("Attendance 10%", "Presentation 30%", "Proposal 20%", "Final 40%"):
        assert weight in fields["Grading"]
    assert "https://jaeho-lee.github.io" in fields["Links"]
    assert "Spring 2025" in card.description


async def test_schedule_lists_the_term_and_marks_this_week(course: Course) -> None:
    result = await course.members["bob"].slash(course.channel, "schedule")
    assert result.ephemeral
    lines = result.response.embeds[0].description.splitlines()
    assert len(lines) == 16
    for week, line in enumerate(lines, start=1):
        assert f"**W{week}** " in line
    assert "no class" in lines[6] and "Mon Apr 14" in lines[6]
    assert [line for line in lines if "this week" in line] == [lines[1]]
    assert lines[1].startswith("▶") and "Sparsity" in lines[1]
    assert "student talks Wed Apr 30" in lines[8]
    assert "no lecture Mon May 5" in lines[9]
    assert "student talks" not in lines[15]


async def test_schedule_of_a_talk_week(course: Course) -> None:
    result = await course.members["alice"].slash(course.channel, "schedule", week=9)
    assert result.ephemeral
    [card] = result.response.embeds
    assert card.title == "Week 9: Data Efficiency"
    text = embed_text(card)
    assert "Mon Apr 28 – Sun May 4" in text
    assert f"{when(2025, 4, 28, 11, 0)} · lecture" in text
    assert f"{when(2025, 4, 30, 11, 0)} · student talks" in text
    assert "Student talks on Wed Apr 30" in [field.name for field in card.fields]
    assert "this week" not in card.title


async def test_schedule_of_this_week_and_of_week_7(course: Course) -> None:
    this_week = await course.members["alice"].slash(course.channel, "schedule", week=2)
    assert "(this week)" in this_week.response.embeds[0].title
    week_seven = await course.members["alice"].slash(course.channel, "schedule", week=7)
    assert "No class this week." in embed_text(week_seven.response.embeds[0])


async def test_schedule_refuses_a_week_after_the_term(course: Course) -> None:
    result = await course.members["alice"].slash(course.channel, "schedule", week=17)
    assert one_line(result) == "Week must be between 1 and 16."


async def test_register_and_correct(course: Course) -> None:
    alice = course.members["alice"]
    first = await alice.slash(course.channel, "register", student_id="20251234", name="Alice Kim")
    assert one_line(first).startswith("Registered: `20251234` · Alice Kim.")
    again = await alice.slash(course.channel, "register", student_id="20251235", name="Alice Kim")
    assert one_line(again) == ("Registration updated: `20251235` · Alice Kim (was `20251234` · Alice Kim).")


@pytest.mark.parametrize(
    ("student_id", "name", "reason"),
    [
        ("abc", "Bob Lee", "is not a valid student id"),
        ("20251234", "<@&1234> Bob", "cannot contain mentions"),
        ("20251234", "B" * 101, "1–100 characters"),
        ("20251234", "\u3164", "A name needs at least one visible letter, digit or symbol"),
        ("20251234", "\u115f\u1160 \u2060", "A name needs at least one visible letter, digit or symbol"),
    ],
)
async def test_register_bad_input_gets_one_line(
    course: Course, student_id: str, name: str, reason: str
) -> None:
    result = await course.members["bob"].slash(course.channel, "register", student_id=student_id, name=name)
    assert reason in one_line(result)
    lookup = await course.members["ta"].slash(course.channel, "ta student", member=course.members["bob"])
    assert "Not registered." in embed_text(lookup.response.embeds[0])


async def test_register_an_id_taken_by_someone_else(course: Course) -> None:
    await course.members["alice"].slash(course.channel, "register", student_id="20251234", name="Alice Kim")
    result = await course.members["bob"].slash(course.channel, "register", student_id="20251234", name="Bob")
    assert "already registered to another account" in one_line(result)


@pytest.mark.parametrize("staff", ["ta", "prof"])
async def test_staff_look_up_a_student(course: Course, staff: str) -> None:
    alice = course.members["alice"]
    await alice.slash(course.channel, "register", student_id="20251234", name="Alice Kim")
    result = await course.members[staff].slash(course.channel, "ta student", member=alice)
    assert result.ephemeral
    [card] = result.response.embeds
    fields = {field.name: field.value for field in card.fields}
    assert card.title == "alice" and card.description == alice.mention
    assert fields["Registration"] == "`20251234` · Alice Kim"
    assert "`student.register`" in fields["Recent activity"]


async def test_registration_survives_a_restart(course: Course) -> None:
    await course.members["carol"].slash(course.channel, "register", student_id="20250007", name="Carol")
    await course.restart()
    result = await course.members["ta"].slash(course.channel, "ta student", member=course.members["carol"])
    assert "`20250007` · Carol" in embed_text(result.response.embeds[0])
    card = await course.members["carol"].slash(course.channel, "course")
    assert card.response.embeds[0].title.startswith("EECE695D")
