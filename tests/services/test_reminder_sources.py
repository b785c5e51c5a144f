"""What the reminder sources plan (bot/services/reminders.py, bot/services/talks.py) and how their
rows follow changes: office hours moved, cancelled and brought back, notices "at once", presenters'
talks following sign-ups, and wall-clock times across a DST change.

The clock stands at Mon 2025-03-10 11:00 KST (week 2). Runs on SQLite, and on PostgreSQL too when
COURSEBOT_TEST_POSTGRES is set.
"""

from __future__ import annotations

import json
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from bot.calendar import CourseCalendar
from bot.clock import Clock
from bot.config import Config
from bot.db import Database
from bot.db.models import AuditEntry, DeadlineRow, Notification, OfficeHoursChange
from bot.errors import Conflict, InvalidInput, NotFound
from bot.services import Services, papers, reminder_kinds, reminders
from bot.services.reminders import deadline_plans, office_hours_plans, office_hours_sessions
from bot.services.talks import talk_plans
from bot.services.text import offset_label, stamp
from tests.conftest import ROOT, SEOUL, seoul

TA = 9000
ALICE, BOB, CAROL = 1001, 1002, 1003
NEW_YORK = ZoneInfo("America/New_York")
SAMPLE = (ROOT / "data" / "papers.sample.csv").read_bytes()
SOURCE_CHANGED = "its source was cancelled or changed"


# ---- helpers ---------------------------------------------------------------------------------
async def stored(services: Services, prefix: str) -> dict[str, Notification]:
    async with services.db.read() as session:
        result = await session.scalars(
            select(Notification)
            .where(Notification.source_key.startswith(prefix, autoescape=True))
            .order_by(Notification.id)
        )
        return {row.source_key: row for row in result.all()}


async def row_count(services: Services, prefix: str = "") -> int:
    async with services.db.read() as session:
        return (
            await session.scalar(
                select(func.count())
                .select_from(Notification)
                .where(Notification.source_key.startswith(prefix, autoescape=True))
            )
            or 0
        )


async def actions(services: Services) -> list[str]:
    async with services.db.read() as session:
        return list((await session.scalars(select(AuditEntry.action).order_by(AuditEntry.id))).all())


def deadline(key: str, due: datetime, remind: str, *, removed: bool = False) -> DeadlineRow:
    return DeadlineRow(key=key, title=key.title(), due_at=due, remind=remind, origin="staff", removed=removed)


async def sign(services: Services, who: int, number: int) -> None:
    await papers.sign_up(services, discord_id=who, discord_name=f"s{who}", joined_at=None, number=number)


# ---- pure plans ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("offset", "label"),
    [
        (timedelta(days=7), "7d"),
        (timedelta(hours=1), "1h"),
        (timedelta(hours=36), "36h"),
        (timedelta(minutes=30), "30m"),
        (timedelta(minutes=90), "90m"),
        (timedelta(seconds=45), "45s"),
    ],
)
def test_offset_labels(offset: timedelta, label: str) -> None:
    assert offset_label(offset) == label


def test_deadline_plans() -> None:
    due = seoul(2025, 3, 12, 11, 0)
    plans = deadline_plans(
        [
            deadline("quiz", due, "1d,1h"),
            deadline("gone", due, "1d", removed=True),
            deadline("silent", due, ""),
        ]
    )
    assert [(p.source_key, p.audience, p.category, p.due_at) for p in plans] == [
        ("deadline:quiz:1d:channel", "channel", None, seoul(2025, 3, 11, 11, 0)),
        ("deadline:quiz:1d:dm", "dm_all", "deadlines", seoul(2025, 3, 11, 11, 0)),
        ("deadline:quiz:1h:channel", "channel", None, seoul(2025, 3, 12, 10, 0)),
        ("deadline:quiz:1h:dm", "dm_all", "deadlines", seoul(2025, 3, 12, 10, 0)),
    ]
    assert {p.event_at for p in plans} == {due}
    assert {p.text for p in plans} == {f"⏰ **Quiz** is due {stamp(due)}."}
    assert f"<t:{int(due.timestamp())}:F>" in plans[0].text and "@" not in plans[0].text


def test_a_stored_offset_over_366_days_is_dropped_not_crashed_on() -> None:
    """A deadline stored before offsets were bounded keeps its other reminders."""
    due = seoul(2025, 3, 12, 11, 0)
    plans = deadline_plans([deadline("old", due, "999999d,400d,1d"), deadline("odd", due, "1x")])
    assert [p.source_key for p in plans] == ["deadline:old:1d:channel", "deadline:old:1d:dm"]


def test_office_hours_sessions_and_plans(config: Config, calendar: CourseCalendar) -> None:
    sessions = office_hours_sessions(config, calendar, [])
    assert len(sessions) == 16
    assert sessions[1].day == date(2025, 3, 12)
    assert (sessions[1].starts_at, sessions[1].ends_at) == (
        seoul(2025, 3, 12, 17, 0),
        seoul(2025, 3, 12, 18, 0),
    )
    assert all(s.starts_at.astimezone(SEOUL).time() == time(17, 0) for s in sessions)
    assert not any(s.cancelled or s.moved for s in sessions)
    changes = [
        OfficeHoursChange(day=date(2025, 3, 12), kind="cancel", reason="conference"),
        OfficeHoursChange(
            day=date(2025, 3, 19), kind="move", starts_at=seoul(2025, 3, 20, 15, 0), place="PIAI 301"
        ),
    ]
    changed = office_hours_sessions(config, calendar, changes)
    assert (changed[1].cancelled, changed[1].reason) == (True, "conference")
    assert (changed[2].moved, changed[2].starts_at, changed[2].place) == (
        True,
        seoul(2025, 3, 20, 15, 0),
        "PIAI 301",
    )
    assert changed[2].ends_at == seoul(2025, 3, 20, 16, 0)
    plans = {p.source_key: p for p in office_hours_plans(config, changed)}
    assert not any(key.startswith("officehours:2025-03-12:") for key in plans)  # cancelled
    moved = plans["officehours:2025-03-19:1h:dm"]
    assert (moved.due_at, moved.event_at, moved.category) == (
        seoul(2025, 3, 20, 14, 0),
        seoul(2025, 3, 20, 15, 0),
        "office_hours",
    )
    assert "PIAI 301" in moved.text and "moved this week" in moved.text
    assert len(plans) == 15 * 2


def test_talk_plans(config: Config, calendar: CourseCalendar) -> None:
    plans = talk_plans(config, calendar, [(4, "GPTQ", 10, 0, ALICE), (5, "SparseGPT", 10, 1, BOB)])
    by_key = {p.source_key: p for p in plans}
    assert sorted(by_key) == [
        f"talk:4:{ALICE}:2d",
        f"talk:4:{ALICE}:morning",
        f"talk:5:{BOB}:2d",
        f"talk:5:{BOB}:morning",
    ]
    alice = by_key[f"talk:4:{ALICE}:2d"]
    assert (alice.audience, alice.user_id, alice.category) == ("dm", ALICE, "presentation")
    assert (alice.due_at, alice.event_at) == (seoul(2025, 5, 5, 11, 0), seoul(2025, 5, 7, 11, 0))
    assert "talk #1 of the day" in alice.text and "GPTQ" in alice.text
    bob = by_key[f"talk:5:{BOB}:morning"]
    assert (bob.due_at, bob.event_at) == (seoul(2025, 5, 7, 8, 0), seoul(2025, 5, 7, 11, 25))
    assert "talk #2 of the day" in bob.text


# ---- office hours: moved, cancelled, noticed ---------------------------------------------------
async def test_moving_office_hours_moves_their_rows_and_tells_everyone_at_once(services: Services) -> None:
    await reminder_kinds.plan_all(services)
    before = await stored(services, "officehours:")
    changed, notices = await reminders.change_office_hours(
        services, actor_id=TA, day_text="2025-03-12", cancel=False, start="16:00", place="PIAI lounge"
    )
    assert (changed.starts_at, changed.place, changed.moved) == (
        seoul(2025, 3, 12, 16, 0),
        "PIAI lounge",
        True,
    )
    assert notices == 2
    after = await stored(services, "officehours:")
    assert {key: row.id for key, row in after.items()} == {key: row.id for key, row in before.items()}
    for audience in ("channel", "dm"):
        row = after[f"officehours:2025-03-12:1h:{audience}"]
        assert (row.due_at, row.event_at, row.status) == (
            seoul(2025, 3, 12, 15, 0),
            seoul(2025, 3, 12, 16, 0),
            "pending",
        )
        assert "PIAI lounge" in row.text and "moved" in row.text
    untouched = after["officehours:2025-03-19:1h:dm"]
    assert untouched.text == before["officehours:2025-03-19:1h:dm"].text
    # the change itself goes out now: a channel post and a fan-out to office-hours subscribers
    notice = await stored(services, "officehours-change:2025-03-12:")
    assert sorted((r.audience, r.category, r.due_at, r.event_at) for r in notice.values()) == [
        ("channel", None, services.now(), None),
        ("dm_all", "office_hours", services.now(), None),
    ]
    assert {r.text for r in notice.values()} == {
        f"☕ Office hours on Wed Mar 12 **moved** to {stamp(seoul(2025, 3, 12, 16, 0))} at PIAI lounge."
    }
    assert "officehours.move" in await actions(services)
    # re-planning at start-up keeps the move and adds nothing
    count = await row_count(services)
    await reminder_kinds.plan_all(services)
    assert await row_count(services) == count
    assert (await stored(services, "officehours:2025-03-12:1h:dm"))[
        "officehours:2025-03-12:1h:dm"
    ].due_at == seoul(2025, 3, 12, 15, 0)


async def test_cancelling_office_hours_skips_their_rows_and_moving_brings_them_back(
    services: Services,
) -> None:
    await reminder_kinds.plan_all(services)
    changed, notices = await reminders.change_office_hours(
        services, actor_id=TA, day_text="2025-03-12", cancel=True, reason="at a conference"
    )
    assert (changed.cancelled, notices) == (True, 2)
    rows = await stored(services, "officehours:2025-03-12:")
    assert {(r.status, r.error) for r in rows.values()} == {("skipped", SOURCE_CHANGED)}
    assert (await stored(services, "officehours:2025-03-19:"))[
        "officehours:2025-03-19:1h:dm"
    ].status == "pending"
    [cancel_text] = {r.text for r in (await stored(services, "officehours-change:")).values()}
    assert cancel_text == "☕ Office hours on Wed Mar 12 are **cancelled** (at a conference)."
    upcoming = await reminders.next_office_hours(services)
    assert upcoming is not None and upcoming.cancelled and upcoming.reason == "at a conference"

    # the staff change their mind a minute later: moved instead of cancelled
    services.clock.advance(timedelta(minutes=1))
    await reminders.change_office_hours(
        services, actor_id=TA, day_text="2025-03-12", cancel=False, start="2025-03-13 10:00"
    )
    rows = await stored(services, "officehours:2025-03-12:")
    assert {(r.status, r.error, r.due_at) for r in rows.values()} == {
        ("pending", None, seoul(2025, 3, 13, 9, 0))
    }
    assert await row_count(services, "officehours-change:") == 4  # two notices, each channel + DMs
    upcoming = await reminders.next_office_hours(services)
    assert upcoming is not None and upcoming.moved and upcoming.place == "Terarosa Coffee"
    assert [a for a in await actions(services) if a.startswith("officehours.")] == [
        "officehours.cancel",
        "officehours.move",
    ]


@pytest.mark.parametrize(
    ("day", "options", "error", "reason"),
    [
        ("2025-03-13", {"cancel": True}, NotFound, "no office hours on Thu 2025-03-13"),
        ("2025-03-05", {"cancel": True}, Conflict, "are over"),
        ("12/03/2025", {"cancel": True}, InvalidInput, "is not a date like"),
        ("2025-03-12", {"cancel": False}, InvalidInput, "Give the new start"),
        ("2025-03-12", {"cancel": False, "start": "soon"}, InvalidInput, "is not a time like"),
        ("2025-03-12", {"cancel": False, "start": "2025-03-10 10:00"}, InvalidInput, "already passed"),
        ("2025-03-12", {"cancel": True, "reason": "x" * 301}, InvalidInput, "at most 300"),
    ],
)
async def test_bad_office_hours_changes_change_nothing(
    services: Services, day: str, options: dict[str, object], error: type[Exception], reason: str
) -> None:
    await reminder_kinds.plan_all(services)
    count = await row_count(services)
    with pytest.raises(error, match=reason):
        await reminders.change_office_hours(services, actor_id=TA, day_text=day, **options)  # type: ignore[arg-type]
    assert await row_count(services) == count
    assert await actions(services) == []


async def test_an_office_hours_notice_goes_out_now(services: Services) -> None:
    assert await reminders.office_hours_notice(services, actor_id=TA, text="  Bring   your laptop  ") == 2
    rows = await stored(services, "officehours-notice:")
    assert sorted((r.audience, r.category) for r in rows.values()) == [
        ("channel", None),
        ("dm_all", "office_hours"),
    ]
    assert {r.text for r in rows.values()} == {"☕ Office hours: Bring your laptop"}
    assert {r.due_at for r in rows.values()} == {services.now()}
    for text in ("@everyone come", "hey @here", "", "x" * 1501):
        with pytest.raises(InvalidInput):
            await reminders.office_hours_notice(services, actor_id=TA, text=text)
    assert await row_count(services, "officehours-notice:") == 2
    assert await actions(services) == ["officehours.notice"]


# ---- talks follow the presenters ---------------------------------------------------------------
async def talk_rows(services: Services) -> dict[str, str]:
    return {key: row.status for key, row in (await stored(services, "talk:")).items()}


async def test_talk_reminders_follow_sign_ups(services: Services) -> None:
    await papers.import_papers(services, actor_id=TA, data=SAMPLE)
    await reminder_kinds.plan_all(services)
    assert await talk_rows(services) == {}

    await sign(services, ALICE, 4)
    await sign(services, BOB, 4)
    await sign(services, CAROL, 4)  # full: Carol waits, no talk yet
    assert await talk_rows(services) == {
        f"talk:4:{ALICE}:2d": "pending",
        f"talk:4:{ALICE}:morning": "pending",
        f"talk:4:{BOB}:2d": "pending",
        f"talk:4:{BOB}:morning": "pending",
    }
    alice = (await stored(services, f"talk:4:{ALICE}:2d"))[f"talk:4:{ALICE}:2d"]
    assert (alice.user_id, alice.due_at, alice.event_at) == (
        ALICE,
        seoul(2025, 5, 5, 11, 0),
        seoul(2025, 5, 7, 11, 0),
    )

    # Alice withdraws: her reminders are skipped, Carol is promoted and gets hers
    await papers.withdraw(services, discord_id=ALICE)
    assert await talk_rows(services) == {
        f"talk:4:{ALICE}:2d": "skipped",
        f"talk:4:{ALICE}:morning": "skipped",
        f"talk:4:{BOB}:2d": "pending",
        f"talk:4:{BOB}:morning": "pending",
        f"talk:4:{CAROL}:2d": "pending",
        f"talk:4:{CAROL}:morning": "pending",
    }
    assert (await stored(services, f"talk:4:{ALICE}:2d"))[f"talk:4:{ALICE}:2d"].error == SOURCE_CHANGED

    # the staff move paper 4 to week 11 (in place of paper 9): the rows move with it
    await papers.remove_paper(services, actor_id=TA, number=9)
    await papers.save_paper(
        services,
        actor_id=TA,
        fields=papers.PaperFields(4, "GPTQ (moved)", "Frantar et al.", "", 11),
    )
    moved = await stored(services, "talk:4:")
    bob = moved[f"talk:4:{BOB}:2d"]
    assert bob.event_at is not None and bob.event_at.astimezone(SEOUL).date() == date(2025, 5, 14)
    assert bob.due_at == bob.event_at - timedelta(days=2)
    assert "GPTQ (moved)" in bob.text

    # Alice signs up again (paper 5): her old rows stay skipped, new keys for the new paper
    await sign(services, ALICE, 5)
    count = await row_count(services, "talk:")
    await reminder_kinds.plan_all(services)
    await reminder_kinds.plan_all(services)
    assert await row_count(services, "talk:") == count == 8
    statuses = await talk_rows(services)
    assert statuses[f"talk:5:{ALICE}:2d"] == "pending"
    assert statuses[f"talk:4:{ALICE}:2d"] == "skipped"


async def test_removing_a_paper_skips_its_talk_reminders(services: Services) -> None:
    await papers.import_papers(services, actor_id=TA, data=SAMPLE)
    await sign(services, ALICE, 4)
    await papers.remove_paper(services, actor_id=TA, number=4)
    assert set((await talk_rows(services)).values()) == {"skipped"}


# ---- wall-clock times across a DST change ------------------------------------------------------
@pytest.fixture
def new_york(config: Config, database: Database) -> Services:
    """The course moved to New York, week 1 starting Mon 2025-03-03; DST starts Sun 2025-03-09."""
    course = config.course.model_copy(
        update={"timezone": "America/New_York", "first_monday": date(2025, 3, 3)}
    )
    moved = config.model_copy(update={"course": course})
    assert moved.tz == NEW_YORK
    clock = Clock.frozen(datetime(2025, 3, 3, 9, 0, tzinfo=NEW_YORK))
    return Services(database, clock, moved, CourseCalendar(moved))


async def test_office_hours_keep_their_local_time_across_dst(new_york: Services) -> None:
    services = new_york
    sessions = office_hours_sessions(services.config, services.calendar, [])
    before, after = sessions[0], sessions[1]
    assert (before.day, after.day) == (date(2025, 3, 5), date(2025, 3, 12))
    for session in (before, after):
        assert session.starts_at.astimezone(NEW_YORK).time() == time(17, 0)
    assert before.starts_at.utcoffset() != after.starts_at.utcoffset()  # EST, then EDT
    # the same stored as rows (in UTC) and read back
    await reminder_kinds.plan_all(services)
    rows = await stored(services, "officehours:")
    for day in ("2025-03-05", "2025-03-12"):
        row = rows[f"officehours:{day}:1h:channel"]
        assert row.event_at is not None
        assert row.event_at.astimezone(NEW_YORK).time() == time(17, 0)
        assert row.due_at.astimezone(NEW_YORK).time() == time(16, 0)
    utc_hours = [rows[f"officehours:{day}:1h:dm"].event_at.hour for day in ("2025-03-05", "2025-03-12")]  # type: ignore[union-attr]
    assert utc_hours == [22, 21]
    assert f"<t:{int(datetime(2025, 3, 12, 17, 0, tzinfo=NEW_YORK).timestamp())}:F>" in (
        rows["officehours:2025-03-12:1h:dm"].text
    )
    # lectures and talks are wall-clock too
    lectures = services.calendar.lectures
    assert {lecture.starts_at.astimezone(NEW_YORK).time() for lecture in lectures} == {time(11, 0)}


async def test_deadline_reminders_keep_their_local_time_across_dst_and_restarts(new_york: Services) -> None:
    """A deadline at 23:59 on the Wednesday after the change: its "7d" ping is at 23:59 local the
    Wednesday before, on the first start and after any restart (the row never moves)."""
    services = new_york
    await reminders.add_deadline(
        services, actor_id=TA, key="essay", title="Essay", due="2025-03-12 23:59", remind="7d,1d"
    )
    first = await stored(services, "deadline:essay:")
    await reminder_kinds.plan_all(services)  # a restart: the deadline is read back from the database
    await reminder_kinds.plan_all(services)
    again = await stored(services, "deadline:essay:")
    assert {k: r.due_at for k, r in again.items()} == {k: r.due_at for k, r in first.items()}
    week_before = again["deadline:essay:7d:dm"].due_at.astimezone(NEW_YORK)
    assert (week_before.date(), week_before.time()) == (date(2025, 3, 5), time(23, 59))
    day_before = again["deadline:essay:1d:dm"].due_at.astimezone(NEW_YORK)
    assert (day_before.date(), day_before.time()) == (date(2025, 3, 11), time(23, 59))


async def test_a_moved_session_keeps_its_local_reminder_time_across_dst(new_york: Services) -> None:
    """Moved to the Monday after the change, with a "2d" reminder: Saturday (before the change) at
    the same wall time, when the move is made and after a restart alike."""
    office = new_york.config.office_hours.model_copy(update={"remind": (timedelta(days=2),)})
    config = new_york.config.model_copy(update={"office_hours": office})
    services = Services(new_york.db, new_york.clock, config, CourseCalendar(config))
    await reminders.change_office_hours(
        services, actor_id=TA, day_text="2025-03-05", cancel=False, start="2025-03-10 10:00"
    )
    key = "officehours:2025-03-05:2d:dm"
    first = (await stored(services, key))[key].due_at
    await reminder_kinds.plan_all(services)
    row = (await stored(services, key))[key]
    assert row.due_at == first
    assert row.due_at.astimezone(NEW_YORK) == datetime(2025, 3, 8, 10, 0, tzinfo=NEW_YORK)
    assert row.event_at == datetime(2025, 3, 10, 10, 0, tzinfo=NEW_YORK)


async def test_skip_reasons_are_audited_in_detail(services: Services) -> None:
    """A deadline cancelled before its pings: audited, pings skipped; nothing claims them."""
    await reminders.add_deadline(
        services, actor_id=TA, key="quiz1", title="Quiz 1", due="2025-03-12 11:00", remind="1h"
    )
    await reminders.remove_deadline(services, actor_id=TA, key="quiz1")
    async with services.db.read() as session:
        entries = (
            await session.scalars(
                select(AuditEntry).where(AuditEntry.action.like("deadline.%")).order_by(AuditEntry.id)
            )
        ).all()
    assert [e.action for e in entries] == ["deadline.add", "deadline.remove"]
    assert json.loads(entries[0].details)["remind"] == "1h"
    assert {e.actor_id for e in entries} == {TA}
