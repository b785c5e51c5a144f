"""The Scheduled Events sync through discord.py and simcord, on the simulated server: in a talk week the talk days and office hours within the
horizon exist, a cancel cancels, a move moves, a swap updates the description, a restart or a re-run
never duplicates, an event deleted by hand comes back, and without Manage Events the staff get one
ta-log line."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

import discord
import pytest

from bot.config import Config
from bot.services import papers, reminders
from bot.services.calendar_events import sync
from tests.cogs.conftest import GUILD_ID, Course, reply_of, reply_text
from tests.conftest import ROOT, seoul

SAMPLE = (ROOT / "data" / "papers.sample.csv").read_bytes()


@pytest.fixture
def config(config: Config) -> Config:
    """The repository's config with Scheduled Events on."""
    return config.model_copy(
        update={
            "calendar": config.calendar.model_copy(update={"scheduled_events": True}),
        }
    )


def cog(course: Course) -> Any:
    """The loaded calendar cog (an extension's module is loaded afresh, so no isinstance)."""
    found = course.bot.get_cog("CalendarCog")
    assert found is not None
    return found


def server_events(course: Course) -> list[Any]:
    """The server's events that have not started by the bot's clock (the start-up sync, in week 2,
    made that week's: Discord completes them; the simulation does not move them on)."""
    now = course.bot.clock.now()
    return sorted(
        (e for e in course.env.backend.guilds[GUILD_ID].scheduled_events.values() if start_of(e) > now),
        key=lambda e: (start_of(e), e.id),
    )


def start_of(event: Any) -> datetime:
    return datetime.fromisoformat(event.scheduled_start_time)


async def test_scheduled_events_follow_the_talk_week(course: Course) -> None:
    services = course.bot.services
    await papers.import_papers(services, actor_id=None, data=SAMPLE)
    for name, number in (("alice", 4), ("bob", 4), ("carol", 5)):
        member = course.members[name]
        await papers.sign_up(services, discord_id=member.id, discord_name=name, joined_at=None, number=number)
    course.bot.clock.set(seoul(2025, 5, 5, 9, 0))  # Monday of week 10
    events = cog(course).events
    events.pace = 0
    await events.run()
    made = server_events(course)
    assert [(e.name, start_of(e)) for e in made] == [
        ("EECE695D student talks (week 10)", seoul(2025, 5, 7, 11, 0)),
        ("EECE695D office hours", seoul(2025, 5, 7, 17, 0)),
        ("EECE695D student talks (week 11)", seoul(2025, 5, 14, 11, 0)),
        ("EECE695D office hours", seoul(2025, 5, 14, 17, 0)),
    ]
    talk_day = made[0]
    assert talk_day.entity_type == 3 and talk_day.entity_metadata == {"location": "PIAI 122"}
    assert datetime.fromisoformat(talk_day.scheduled_end_time) == seoul(2025, 5, 7, 12, 15)
    assert "paper 4: GPTQ" in talk_day.description and "(alice, bob)" in talk_day.description
    assert await events.run() == []  # a re-run changes nothing

    ta = course.members["ta"]
    await ta.slash(course.channel, "ta officehours cancel", date="2025-05-07", reason="conference")
    await ta.slash(course.channel, "ta officehours move", date="2025-05-14", start="15:00", place="Room 301")
    await events.run()
    office = [e for e in server_events(course) if e.name.startswith("EECE695D office hours")]
    assert [(e.status, start_of(e), e.entity_metadata["location"]) for e in office] == [
        (4, seoul(2025, 5, 7, 17, 0), "Terarosa Coffee"),
        (1, seoul(2025, 5, 14, 15, 0), "Room 301"),
    ]

    await course.restart()
    events = cog(course).events
    events.pace = 0
    await events.run()
    assert len(server_events(course)) == 4  # no duplicates after a restart

    await papers.set_signup_override(course.bot.services, actor_id=None, state="open")
    offer = await papers.offer_swap(
        course.bot.services, from_id=course.members["alice"].id, to_id=course.members["carol"].id
    )
    await papers.answer_swap(
        course.bot.services, offer_id=offer.id, discord_id=course.members["carol"].id, accept=True
    )
    await events.run()
    talk_day = server_events(course)[0]
    assert (
        "(alice)" in talk_day.description
        and "carol" in talk_day.description.split("paper 4")[1].split("\n")[0]
    )

    course.env.backend.delete_scheduled_event(GUILD_ID, talk_day.id)  # by hand
    await course.env.settle()
    await events.run()
    assert [e.name for e in server_events(course)].count("EECE695D student talks (week 10)") == 1
    assert len(server_events(course)) == 4


async def test_without_manage_events_the_staff_are_told_once(course: Course) -> None:
    backend = course.env.backend
    [bot_role] = [r for r in backend.guilds[GUILD_ID].roles.values() if r.managed]
    allowed = discord.Permissions(bot_role.permissions)
    allowed.manage_events = False
    backend.edit_role(GUILD_ID, bot_role.id, {"permissions": allowed.value})
    await course.env.settle()
    before = set(backend.guilds[GUILD_ID].scheduled_events)  # the start-up sync's, with the permission
    await reminders.change_office_hours(
        course.bot.services, actor_id=course.members["ta"].id, day_text="2025-03-12", cancel=True
    )
    events = cog(course).events
    await events.run()
    await events.run()
    assert set(backend.guilds[GUILD_ID].scheduled_events) == before
    assert all(e.status != 4 for e in backend.guilds[GUILD_ID].scheduled_events.values())
    notes = [m.content for m in course.channels["ta-log"].history() if "Manage Events" in m.content]
    assert len(notes) == 1
    result = await course.members["alice"].slash(course.channel, "calendar")  # the rest works
    assert reply_of(result).attachments and "http" not in reply_text(result)  # no feeds on this server
    renewed = await course.members["alice"].slash(course.channel, "calendar", new_link=True)
    assert "Subscription links are off on this server" in reply_text(renewed)


async def test_shutdown_lets_a_sync_in_progress_record_what_it_did(
    course: Course, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sync that has changed an event on Discord when the bot stops still records it, so the next
    start does not redo it."""
    services = course.bot.services
    events = cog(course).events
    events.pace = 0
    await events.run()  # the start-up state
    await reminders.change_office_hours(
        services, actor_id=course.members["ta"].id, day_text="2025-03-12", cancel=True
    )
    carried_out, go_on = asyncio.Event(), asyncio.Event()
    carry_out = events._carry_out

    async def held(*args: Any) -> int | None:
        event_id = await carry_out(*args)  # Discord has the change now
        carried_out.set()
        await go_on.wait()
        return event_id

    monkeypatch.setattr(events, "_carry_out", held)
    running = asyncio.create_task(events.run())
    await carried_out.wait()
    stopping = asyncio.create_task(events.stop())
    await asyncio.sleep(0.05)
    assert not stopping.done()  # it waits for the run
    go_on.set()
    done = await running
    await stopping
    assert len(done) == 1
    kept = {k.key: k for k in await sync.kept_events(services)}
    assert done[0].key in kept
