"""The course's moments and the Scheduled Events sync's decisions (bot/services/calendar_events):
with the clock in a talk week, the events wanted are the talk days and office hours within the
horizon and none beyond; cancelling and moving office hours, a swap and a notice change them; a
re-run (or a restart, on the recorded rows) changes nothing; an event deleted by hand is created
again; one made before a crash but never recorded is taken over, not duplicated; the change signal
fires after a commit only."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from bot.config import Config
from bot.db import Database
from bot.services import Services, cache, papers, reminders, students
from bot.services.calendar_events import SOURCES, moments, sync
from tests.conftest import ROOT, seoul

SAMPLE = (ROOT / "data" / "papers.sample.csv").read_bytes()
TA, ALICE, BOB, CAROL = 9000, 5001, 5002, 5003
HORIZON = timedelta(days=14)
BOT_ID = 424242


def with_calendar(services: Services, **calendar: object) -> Services:
    config = services.config
    updated: Config = config.model_copy(update={"calendar": config.calendar.model_copy(update=calendar)})
    return replace(services, config=updated)


async def wanted_now(services: Services) -> list[sync.WantedEvent]:
    return sync.wanted_events(services, await moments.course_moments(services))


class FakeDiscord:
    """The server's events as the sync sees them, and what it recorded, after carrying steps out."""

    def __init__(self) -> None:
        self.remote: dict[int, sync.RemoteEvent] = {}
        self.kept: dict[str, sync.KeptEvent] = {}
        self.next_id = 1000
        self.made = 0

    def apply(self, steps: list[sync.Step]) -> None:
        for step in steps:
            if step.action in (sync.DELETE, sync.FORGET):
                if step.event_id is not None:
                    self.remote.pop(step.event_id, None)
                if step.key is not None:
                    self.kept.pop(step.key, None)
                continue
            assert step.wanted is not None and step.key is not None
            want = step.wanted
            if step.action == sync.CREATE:
                self.next_id += 1
                self.made += 1
                event_id = self.next_id
            else:
                event_id = step.event_id if step.event_id is not None else self.kept[step.key].event_id
            cancelled = step.action == sync.CANCEL
            self.remote[event_id] = sync.RemoteEvent(
                event_id, want.name, want.starts_at, not cancelled, False, True
            )
            self.kept[step.key] = sync.KeptEvent(
                step.key,
                event_id,
                want.digest,
                sync.CANCELLED if cancelled else sync.SCHEDULED,
                want.starts_at,
                want.ends_at,
            )

    def plan(self, wanted: list[sync.WantedEvent], now: datetime) -> list[sync.Step]:
        return sync.plan(
            wanted, list(self.kept.values()), list(self.remote.values()), now=now, horizon=HORIZON
        )


@pytest.fixture
async def talk_week(services: Services) -> Services:
    """Papers imported and presenters signed up in week 2; the clock then on Monday of week 10."""
    await papers.import_papers(services, actor_id=TA, data=SAMPLE)
    for discord_id, name, number in ((ALICE, "Alice Kim", 4), (BOB, "Bob Lee", 4), (CAROL, "Carol Park", 5)):
        await students.register(
            services,
            discord_id=discord_id,
            discord_name=name.split()[0].lower(),
            joined_at=services.now(),
            student_id=f"2025{discord_id:04d}",
            name=name,
        )
        await papers.sign_up(
            services, discord_id=discord_id, discord_name=None, joined_at=None, number=number
        )
    services.clock.set(seoul(2025, 5, 5, 9, 0))
    return with_calendar(services, scheduled_events=True)


async def test_in_a_talk_week_the_talk_days_and_office_hours_within_the_horizon_are_wanted(
    talk_week: Services,
) -> None:
    now = talk_week.now()
    steps = sync.plan(await wanted_now(talk_week), [], [], now=now, horizon=HORIZON)
    assert {s.action for s in steps} == {sync.CREATE}
    assert [s.key for s in steps] == [
        "talks:10",
        "office_hours:2025-05-07",
        "talks:11",
        "office_hours:2025-05-14",
    ]
    assert all(now < s.wanted.starts_at < now + HORIZON for s in steps if s.wanted)
    talk_day = steps[0].wanted
    assert talk_day is not None
    assert (talk_day.starts_at, talk_day.ends_at) == (seoul(2025, 5, 7, 11, 0), seoul(2025, 5, 7, 12, 15))
    assert talk_day.location == "PIAI 122"
    lines = talk_day.description.splitlines()
    assert lines[0] == "Student talks of week 10 (LLM Compression):"
    assert lines[1].startswith("1. 11:00 paper 4: GPTQ") and lines[1].endswith("(Alice Kim, Bob Lee)")
    assert lines[2].startswith("2. 11:25 paper 5:") and lines[2].endswith("(Carol Park)")
    assert lines[3].startswith("3. 11:50 paper 6:") and lines[3].endswith("(no presenter yet)")
    office = steps[1].wanted
    assert office is not None and office.location == "Terarosa Coffee"
    assert (office.starts_at, office.ends_at) == (seoul(2025, 5, 7, 17, 0), seoul(2025, 5, 7, 18, 0))
    # Lectures only when asked for; the talk day's lecture slot is the talk day itself.
    with_lectures = with_calendar(talk_week, lectures=True)
    keys = [s.key for s in sync.plan(await wanted_now(with_lectures), [], [], now=now, horizon=HORIZON)]
    assert [k for k in keys if k.startswith("lecture:")] == ["lecture:2025-05-12"]  # 05-05 is a holiday
    assert "talks:10" in keys and "talks:11" in keys


async def test_re_running_changes_nothing_and_changes_are_followed(talk_week: Services) -> None:
    discord = FakeDiscord()
    now = talk_week.now()
    discord.apply(discord.plan(await wanted_now(talk_week), now))
    assert discord.made == 4
    assert discord.plan(await wanted_now(talk_week), now) == []  # idempotent

    await reminders.change_office_hours(
        talk_week, actor_id=TA, day_text="2025-05-07", cancel=True, reason="ill"
    )
    await reminders.change_office_hours(
        talk_week, actor_id=TA, day_text="2025-05-14", cancel=False, start="15:00", place="Room 301"
    )
    steps = discord.plan(await wanted_now(talk_week), now)
    assert [(s.action, s.key) for s in steps] == [
        (sync.CANCEL, "office_hours:2025-05-07"),
        (sync.UPDATE, "office_hours:2025-05-14"),
    ]
    moved = steps[1].wanted
    assert moved is not None
    assert (moved.starts_at, moved.location) == (seoul(2025, 5, 14, 15, 0), "Room 301")
    assert moved.description.startswith("Moved this week (usually Wed 17:00 at Terarosa Coffee)")
    discord.apply(steps)
    assert discord.plan(await wanted_now(talk_week), now) == []

    # A swap in the talk day: the description follows.
    await papers.set_signup_override(talk_week, actor_id=TA, state="open")
    offer = await papers.offer_swap(talk_week, from_id=ALICE, to_id=CAROL)
    await papers.answer_swap(talk_week, offer_id=offer.id, discord_id=CAROL, accept=True)
    [step] = discord.plan(await wanted_now(talk_week), now)
    assert (step.action, step.key) == (sync.UPDATE, "talks:10")
    assert step.wanted is not None
    assert (
        "(Carol Park, Bob Lee)" in step.wanted.description
        or "(Bob Lee, Carol Park)" in step.wanted.description
    )
    assert "(Alice Kim)" in step.wanted.description
    discord.apply([step])

    # A notice shows with the next session that is not over.
    await reminders.office_hours_notice(talk_week, actor_id=TA, text="Bring your slides draft.")
    [step] = discord.plan(await wanted_now(talk_week), now)
    assert (step.action, step.key) == (sync.UPDATE, "office_hours:2025-05-14")
    assert step.wanted is not None and step.wanted.description.endswith("Notice: Bring your slides draft.")


async def test_the_horizon_moves_past_events_are_forgotten_and_nothing_beyond_exists(
    talk_week: Services,
) -> None:
    discord = FakeDiscord()
    discord.apply(discord.plan(await wanted_now(talk_week), talk_week.now()))
    later = seoul(2025, 5, 8, 9, 0)  # the week-10 talk day and office hours are over
    steps = discord.plan(await wanted_now(talk_week), later)
    assert [(s.action, s.key) for s in steps] == [
        (sync.FORGET, "talks:10"),
        (sync.FORGET, "office_hours:2025-05-07"),
        (sync.CREATE, "talks:12"),
        (sync.CREATE, "office_hours:2025-05-21"),
    ]
    discord.apply(steps)
    assert max(k.starts_at for k in discord.kept.values()) < later + HORIZON


async def test_deleted_by_hand_is_created_again_and_a_crash_never_duplicates(talk_week: Services) -> None:
    discord = FakeDiscord()
    now = talk_week.now()
    wanted = await wanted_now(talk_week)
    discord.apply(discord.plan(wanted, now))
    gone = discord.kept["talks:10"].event_id
    del discord.remote[gone]  # deleted by hand on Discord
    [step] = discord.plan(wanted, now)
    assert (step.action, step.key) == (sync.CREATE, "talks:10")

    # Made on Discord, then the bot died before recording it: taken over on the next run.
    crashed = FakeDiscord()
    talk_day = next(w for w in wanted if w.key == "talks:10")
    crashed.remote[77] = sync.RemoteEvent(77, talk_day.name, talk_day.starts_at, True, False, True)
    steps = crashed.plan(wanted, now)
    assert (steps[0].action, steps[0].key, steps[0].event_id) == (sync.UPDATE, "talks:10", 77)
    assert [s.key for s in steps if s.action == sync.CREATE] == [
        "office_hours:2025-05-07",
        "talks:11",
        "office_hours:2025-05-14",
    ]
    # A scheduled event of the bot's that nothing records is a duplicate; other people's are left.
    crashed.remote[78] = sync.RemoteEvent(78, "stray", talk_day.starts_at, True, False, True)
    crashed.remote[79] = sync.RemoteEvent(79, "the staff's own", talk_day.starts_at, True, False, False)
    deletes = [s for s in crashed.plan(wanted, now) if s.action == sync.DELETE]
    assert [(s.key, s.event_id) for s in deletes] == [(None, 78)]


async def test_without_the_list_recorded_events_are_trusted_and_nothing_else_is_deleted(
    talk_week: Services,
) -> None:
    discord = FakeDiscord()
    now = talk_week.now()
    wanted = await wanted_now(talk_week)
    discord.apply(discord.plan(wanted, now))
    assert sync.plan(wanted, list(discord.kept.values()), None, now=now, horizon=HORIZON) == []


async def test_a_cancelled_session_not_yet_on_discord_is_never_created(talk_week: Services) -> None:
    await reminders.change_office_hours(talk_week, actor_id=TA, day_text="2025-05-14", cancel=True)
    keys = [
        s.key for s in sync.plan(await wanted_now(talk_week), [], [], now=talk_week.now(), horizon=HORIZON)
    ]
    assert "office_hours:2025-05-14" not in keys and "office_hours:2025-05-07" in keys


async def test_the_recorded_rows_survive_a_restart(talk_week: Services, database_url: str) -> None:
    """What the sync records is what a new process plans from: nothing to do after a restart."""
    now = talk_week.now()
    wanted = await wanted_now(talk_week)
    steps = sync.plan(wanted, [], [], now=now, horizon=HORIZON)
    remote = []
    for number, step in enumerate(steps, start=1):
        assert step.wanted is not None
        await sync.record(talk_week, step, 5000 + number)
        remote.append(
            sync.RemoteEvent(5000 + number, step.wanted.name, step.wanted.starts_at, True, False, True)
        )
    restarted = replace(talk_week, db=Database(database_url))
    try:
        kept = await sync.kept_events(restarted)
        assert sorted(k.key for k in kept) == sorted(s.key for s in steps if s.key)
        assert sync.plan(await wanted_now(restarted), kept, remote, now=now, horizon=HORIZON) == []
        await sync.record(restarted, sync.Step(sync.FORGET, "talks:10", 5001), None)
        assert "talks:10" not in {k.key for k in await sync.kept_events(restarted)}
    finally:
        await restarted.db.dispose()


async def test_a_committed_change_of_a_source_wakes_the_sync_once(services: Services) -> None:
    calls: list[str] = []
    stop = cache.listen(services.db, SOURCES, lambda: calls.append("changed"))
    try:
        await reminders.change_office_hours(services, actor_id=TA, day_text="2025-03-12", cancel=True)
        assert calls == ["changed"]
        await reminders.office_hours_notice(services, actor_id=TA, text="Room moved to 204")
        assert calls == ["changed"] * 2
        with pytest.raises(RuntimeError):
            async with services.db.write() as session:
                cache.changed(services, session, cache.BOARD)
                cache.changed(services, session, cache.DEADLINES)  # two sources, told once
                raise RuntimeError("rolled back")
        assert calls == ["changed"] * 2
        async with services.db.write() as session:
            cache.changed(services, session, cache.BOARD)
            cache.changed(services, session, cache.DEADLINES)
        assert calls == ["changed"] * 3
        async with services.db.write() as session:
            cache.changed(services, session, cache.TERM_PLAN)  # not a source of the calendar
        assert calls == ["changed"] * 3
    finally:
        stop()
    await reminders.office_hours_notice(services, actor_id=TA, text="after stop")
    assert calls == ["changed"] * 3
