"""End to end: the real `python -m bot run` keeps Discord Scheduled Events in step on the fake Discord
(which checks every body against Discord's OpenAPI description). Started with `--now` on Monday of
week 10: the talk days and office hours within the horizon exist as external events and none
beyond; `/ta officehours cancel` cancels one, `move` moves one; a swap updates the talk day's
description; a restart creates no duplicate."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from bot_process import CourseRun, running_course
from fake_discord import FakeMember

ROOT = Path(__file__).resolve().parents[2]
SEOUL = ZoneInfo("Asia/Seoul")
WEEK_TEN = datetime(2025, 5, 5, 9, 0, tzinfo=SEOUL)
TIMEOUT = 30.0  # generous: the machine may be busy; a pass takes a few seconds


def upcoming(course: CourseRun) -> list[dict[str, Any]]:
    """The server's events starting after week 10's Monday (the week-2 run made that week's own)."""
    return [
        e
        for e in course.fd.events(course.server.guild)
        if datetime.fromisoformat(e["scheduled_start_time"]) > WEEK_TEN
    ]


def shown(events: list[dict[str, Any]]) -> list[tuple[str, datetime, int, str]]:
    return [
        (
            e["name"],
            datetime.fromisoformat(e["scheduled_start_time"]).astimezone(SEOUL),
            e["status"],
            e["entity_metadata"]["location"],
        )
        for e in events
    ]


async def wait(course: CourseRun, what: str, predicate: Any) -> None:
    await course.bot.wait_for(predicate, TIMEOUT, what, interval=0.1)


async def test_scheduled_events_follow_the_course(tmp_path: Path) -> None:
    async with running_course(tmp_path, students=3) as course:
        config = course.bot.config
        text, count = re.subn(
            r"^scheduled_events = false", "scheduled_events = true", config.read_text(), flags=re.MULTILINE
        )
        assert count == 1
        config.write_text(text)
        alice, bob, carol = course.server.students
        ta = course.server.ta

        # Week 2: the papers and the presenters.
        await course.bot.start("2025-03-10 10:00")
        papers_csv = (ROOT / "data" / "papers.sample.csv").read_bytes()
        imported = await course.slash(ta, "ta paper import", {"file": ("papers.csv", papers_csv)})
        assert (imported.content or "").startswith("Imported"), imported.content
        for member, name, number in ((alice, "Alice", 4), (bob, "Bob", 4), (carol, "Carol", 5)):
            await course.slash(
                member, "register", {"student_id": f"2025{member.id % 10000:04d}", "name": name}
            )
            taken = await course.slash(member, "signup paper", {"number": number})
            assert (taken.content or "").startswith(f"You present paper {number}"), taken.content
        await course.bot.stop()

        # Monday of week 10: the next 14 days' talk days and office hours, nothing beyond.
        await course.bot.start("2025-05-05 09:00")
        await wait(course, "the week-10 events", lambda: len(upcoming(course)) == 4)
        assert shown(upcoming(course)) == [
            ("EECE695D student talks (week 10)", datetime(2025, 5, 7, 11, 0, tzinfo=SEOUL), 1, "PIAI 122"),
            ("EECE695D office hours", datetime(2025, 5, 7, 17, 0, tzinfo=SEOUL), 1, "Terarosa Coffee"),
            ("EECE695D student talks (week 11)", datetime(2025, 5, 14, 11, 0, tzinfo=SEOUL), 1, "PIAI 122"),
            ("EECE695D office hours", datetime(2025, 5, 14, 17, 0, tzinfo=SEOUL), 1, "Terarosa Coffee"),
        ]
        talk_day = upcoming(course)[0]
        assert talk_day["entity_type"] == 3 and talk_day["scheduled_end_time"]
        assert "(Alice, Bob)" in talk_day["description"] and "(Carol)" in talk_day["description"]
        horizon = WEEK_TEN + timedelta(days=14)
        assert all(datetime.fromisoformat(e["scheduled_start_time"]) < horizon for e in upcoming(course))

        cancelled = await course.slash(
            ta, "ta officehours cancel", {"date": "2025-05-07", "reason": "conference"}
        )
        assert "cancelled" in (cancelled.content or ""), cancelled.content
        await wait(course, "the cancel", lambda: [e["status"] for e in upcoming(course)][1] == 4)
        await course.slash(
            ta, "ta officehours move", {"date": "2025-05-14", "start": "15:00", "place": "Room 301"}
        )
        await wait(
            course,
            "the move",
            lambda: (
                shown(upcoming(course))[3]
                == ("EECE695D office hours", datetime(2025, 5, 14, 15, 0, tzinfo=SEOUL), 1, "Room 301")
            ),
        )

        # A swap: Alice and Carol exchange papers; the talk day's description follows.
        await course.slash(ta, "ta signups open")
        offered = await course.slash(alice, "signup swap", {"member": carol})
        assert offered.ephemeral, offered.content
        await wait(course, "the swap offer DM", lambda: _swap_offer(course, carol) is not None)
        message, custom_id = _swap_offer(course, carol)  # type: ignore[misc]
        answered = await course.fd.invoke_component(message, custom_id, carol, timeout=TIMEOUT)
        assert answered.type is not None, answered.rejected

        def swapped() -> bool:
            description = upcoming(course)[0]["description"]
            line = next(line for line in description.splitlines() if "paper 4:" in line)
            return "Carol" in line and "Alice" not in line

        await wait(course, "the talk day's description after the swap", swapped)
        await course.bot.stop()

        # A restart: the same events, none twice.
        before = [(e["id"], e["name"]) for e in upcoming(course)]
        await course.bot.start("2025-05-05 10:00")
        await wait(
            course,
            "the start-up sync after the restart",
            lambda: "Scheduled Events synced: 0 change(s)" in course.bot.logs[-1].read_text(),
        )
        assert [(e["id"], e["name"]) for e in upcoming(course)] == before
        await course.bot.stop()


def _swap_offer(course: CourseRun, member: FakeMember) -> tuple[dict[str, Any], str] | None:
    for message in course.fd.dms(member):
        for row in message.get("components") or []:
            for button in row.get("components") or []:
                if str(button.get("custom_id", "")).endswith(":accept"):
                    return message, button["custom_id"]
    return None
