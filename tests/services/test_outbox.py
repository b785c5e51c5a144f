"""The outbox (bot/notify/outbox.py) and the reminder services that feed it (bot/services/reminders.py).

Re-planning never duplicates, cancelled sources skip their pending rows, rows already past are never
created, `claim_due` hands each row to one claimer even under 20 concurrent claimers (separate
engines, like separate processes), leases run out, `recover` returns claims, downtime delays or
skips (with a reason and an audit row), `expand` is idempotent, and the DM preferences.

The clock stands at Mon 2025-03-10 11:00 KST. Runs on SQLite, and on PostgreSQL too when
COURSEBOT_TEST_POSTGRES is set.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select, update

from bot.db import Database
from bot.db.models import DeadlineRow, Notification
from bot.errors import InvalidInput, NotFound
from bot.notify import outbox
from bot.notify.outbox import Claimed, Planned
from bot.services import Services, reminder_kinds, reminders
from bot.services.reminders import deadline_plans, office_hours_plans, office_hours_sessions
from bot.services.text import offset_label
from tests.conftest import audit_rows, seoul

TA = 9000
ALICE, BOB, CAROL = 1001, 1002, 1003
NOW = seoul(2025, 3, 10, 11, 0)
LEASE = timedelta(minutes=2)
SOURCE_CHANGED = "its source was cancelled or changed"


# ---- helpers ---------------------------------------------------------------------------------
async def stored(services: Services, prefix: str = "") -> dict[str, Notification]:
    """The outbox rows whose key starts with `prefix`, by key."""
    async with services.db.read() as session:
        result = await session.scalars(
            select(Notification)
            .where(Notification.source_key.startswith(prefix, autoescape=True))
            .order_by(Notification.id)
        )
        return {row.source_key: row for row in result.all()}


async def copies_per_key(services: Services) -> Counter[str]:
    async with services.db.read() as session:
        result = await session.execute(
            select(Notification.source_key, func.count()).group_by(Notification.source_key)
        )
        return Counter({key: count for key, count in result.all()})


async def status_of(services: Services, prefix: str) -> dict[str, str]:
    return {key: row.status for key, row in (await stored(services, prefix)).items()}


async def add_quiz(
    services: Services, *, due: str = "2025-03-12 11:00", remind: str | None = "1d,1h"
) -> None:
    await reminders.add_deadline(services, actor_id=TA, key="quiz1", title="Quiz 1", due=due, remind=remind)


async def put(services: Services, *items: Planned) -> list[int]:
    """Store rows directly (as a source would) and return their ids."""
    async with services.db.write() as session:
        for item in items:
            assert await outbox.enqueue(session, item)
    rows = await stored(services)
    return [rows[item.source_key].id for item in items]


def planned(key: str, due: datetime, *, event: datetime | None = None, audience: str = "channel") -> Planned:
    category = "deadlines" if audience == "dm_all" else None
    return Planned(key, "test", audience, f"text of {key}", due, event, category=category)


def expected_keys(services: Services) -> set[str]:
    """What plan_all should store at the frozen time: configured deadline and weekly office-hours
    pings (no talks yet) whose time is still ahead."""
    now = services.now()
    rows = [
        DeadlineRow(
            key=d.key,
            title=d.title,
            due_at=d.due_at,
            remind=",".join(offset_label(o) for o in d.remind),
            removed=False,
        )
        for d in services.calendar.deadlines
    ]
    sessions = office_hours_sessions(services.config, services.calendar, [])
    plans = deadline_plans(rows, services.calendar.tz) + office_hours_plans(services.config, sessions)
    return {p.source_key for p in plans if p.due_at >= now}


# ---- planning is idempotent ------------------------------------------------------------------
async def test_plan_all_twice_stores_each_reminder_once(services: Services) -> None:
    await reminder_kinds.plan_all(services)
    first = await stored(services)
    assert set(first) == expected_keys(services)
    # the configured deadlines ahead: signup 1d,1h; proposal, blog_post, poster, poster_session
    # 7d,1d,1h; each a channel post and a DM fan-out. Office hours: W2–W16 Wednesdays, 1h before.
    assert len(await stored(services, "deadline:")) == (2 + 4 * 3) * 2
    assert len(await stored(services, "officehours:")) == 15 * 2
    assert "deadline:paper_list" not in {key.rsplit(":", 2)[0] for key in first}  # remind = ""
    assert "officehours:2025-03-05:1h:channel" not in first  # week 1's session is over

    await reminder_kinds.plan_all(services)
    await reminder_kinds.plan_all(services)
    again = await stored(services)
    assert {k: (r.id, r.due_at, r.text, r.status) for k, r in again.items()} == {
        k: (r.id, r.due_at, r.text, r.status) for k, r in first.items()
    }
    assert set((await copies_per_key(services)).values()) == {1}


async def test_plan_all_concurrently_never_duplicates(services: Services) -> None:
    await asyncio.gather(*(reminder_kinds.plan_all(services) for _ in range(5)))
    assert set(await stored(services)) == expected_keys(services)
    assert set((await copies_per_key(services)).values()) == {1}


async def test_adding_changing_and_removing_a_deadline(services: Services) -> None:
    await reminder_kinds.plan_all(services)
    before = len(await stored(services))
    await add_quiz(services)
    rows = await stored(services, "deadline:quiz1:")
    assert sorted(rows) == [
        "deadline:quiz1:1d:channel",
        "deadline:quiz1:1d:dm",
        "deadline:quiz1:1h:channel",
        "deadline:quiz1:1h:dm",
    ]
    assert rows["deadline:quiz1:1d:dm"].due_at == seoul(2025, 3, 11, 11, 0)
    assert rows["deadline:quiz1:1h:channel"].due_at == seoul(2025, 3, 12, 10, 0)
    assert rows["deadline:quiz1:1h:dm"].event_at == seoul(2025, 3, 12, 11, 0)
    assert rows["deadline:quiz1:1h:dm"].audience == "dm_all"
    assert rows["deadline:quiz1:1h:dm"].category == "deadlines"
    ids = {key: row.id for key, row in rows.items()}

    # the same key again, later: the same rows move (no new ones)
    await add_quiz(services, due="2025-03-13 11:00")
    await reminder_kinds.plan_all(services)
    moved = await stored(services, "deadline:quiz1:")
    assert {key: row.id for key, row in moved.items()} == ids
    assert moved["deadline:quiz1:1d:channel"].due_at == seoul(2025, 3, 12, 11, 0)
    assert all(row.status == "pending" for row in moved.values())
    assert len(await stored(services)) == before + 4

    # fewer offsets: the 1d pings are skipped with the reason, the 1h ones stay
    await add_quiz(services, due="2025-03-13 11:00", remind="1h")
    statuses = await status_of(services, "deadline:quiz1:")
    assert statuses == {
        "deadline:quiz1:1d:channel": "skipped",
        "deadline:quiz1:1d:dm": "skipped",
        "deadline:quiz1:1h:channel": "pending",
        "deadline:quiz1:1h:dm": "pending",
    }
    assert (await stored(services))["deadline:quiz1:1d:dm"].error == SOURCE_CHANGED

    # removed: every pending ping skipped with the reason; nothing else touched
    others = await status_of(services, "deadline:signup:")
    await reminders.remove_deadline(services, actor_id=TA, key="quiz1")
    removed = await stored(services, "deadline:quiz1:")
    assert {row.status for row in removed.values()} == {"skipped"}
    assert {row.error for row in removed.values()} == {SOURCE_CHANGED}
    assert await status_of(services, "deadline:signup:") == others
    assert set((await copies_per_key(services)).values()) == {1}
    assert [entry.action for entry in await audit_rows(services, "deadline.remove")] == ["deadline.remove"]
    with pytest.raises(NotFound):
        await reminders.remove_deadline(services, actor_id=TA, key="quiz1")


async def test_a_deadline_added_back_after_removal_is_reminded_again(services: Services) -> None:
    """Removing then re-adding a deadline (or an offset) brings its pings back, still one row each."""
    await add_quiz(services)
    await reminders.remove_deadline(services, actor_id=TA, key="quiz1")
    await add_quiz(services, due="2025-03-12 12:00")
    rows = await stored(services, "deadline:quiz1:")
    assert len(rows) == 4
    assert {row.status for row in rows.values()} == {"pending"}
    assert {row.error for row in rows.values()} == {None}
    assert rows["deadline:quiz1:1h:dm"].due_at == seoul(2025, 3, 12, 11, 0)

    await add_quiz(services, due="2025-03-12 12:00", remind="1h")
    await add_quiz(services, due="2025-03-12 12:00", remind="1d,1h")
    assert set((await status_of(services, "deadline:quiz1:")).values()) == {"pending"}
    assert set((await copies_per_key(services)).values()) == {1}


async def test_rows_already_past_are_not_created(services: Services) -> None:
    await add_quiz(services, due="2025-03-10 20:00", remind="1d,1h,30m")  # 1d before is yesterday
    assert sorted(await stored(services, "deadline:quiz1:")) == [
        "deadline:quiz1:1h:channel",
        "deadline:quiz1:1h:dm",
        "deadline:quiz1:30m:channel",
        "deadline:quiz1:30m:dm",
    ]
    # and later re-plans (with the clock moved on) neither create nor resurrect past ones
    services.clock.advance(timedelta(hours=8, minutes=45))  # 19:45: the 1h ping's time has passed
    await reminder_kinds.plan_all(services)
    assert sorted(await stored(services, "deadline:quiz1:")) == [
        "deadline:quiz1:1h:channel",
        "deadline:quiz1:1h:dm",
        "deadline:quiz1:30m:channel",
        "deadline:quiz1:30m:dm",
    ]


@pytest.mark.parametrize(
    ("due", "remind", "reason"),
    [
        ("tomorrow", "1h", "is not a time like"),
        ("2025-03-09 12:00", "1h", "has already passed"),
        ("2025-03-12 11:00", "1x", "Reminders:"),
        ("2025-03-12 11:00", "0h", "Reminders:"),
    ],
)
async def test_bad_deadlines_change_nothing(services: Services, due: str, remind: str, reason: str) -> None:
    with pytest.raises(InvalidInput, match=reason):
        await add_quiz(services, due=due, remind=remind)
    for key, title in (("Bad Key", "Quiz"), ("quiz1", "@everyone come"), ("quiz1", "")):
        with pytest.raises(InvalidInput):
            await reminders.add_deadline(
                services, actor_id=TA, key=key, title=title, due="2025-03-12 11:00", remind="1h"
            )
    assert await stored(services) == {}
    assert await audit_rows(services, "deadline.add") == []


# ---- claiming --------------------------------------------------------------------------------
async def test_claim_due_takes_only_due_rows_in_order(services: Services) -> None:
    late, early, future = await put(
        services,
        planned("t:late", NOW - timedelta(minutes=1)),
        planned("t:early", NOW - timedelta(minutes=5)),
        planned("t:future", NOW + timedelta(seconds=1)),
    )
    claimed = await outbox.claim_due(services.db, now=NOW, lease=LEASE)
    assert [c.id for c in claimed] == [early, late]
    assert all(c.attempts == 1 and c.nonce == f"cb{c.id}" for c in claimed)
    assert await outbox.claim_due(services.db, now=NOW, lease=LEASE) == []
    assert await outbox.next_due(services.db) == NOW + timedelta(seconds=1)
    statuses = await status_of(services, "t:")
    assert statuses == {"t:late": "claimed", "t:early": "claimed", "t:future": "pending"}
    assert future


async def test_twenty_concurrent_claimers_claim_each_row_once(services: Services, database_url: str) -> None:
    ids = await put(services, *(planned(f"t:{i}", NOW - timedelta(seconds=i)) for i in range(120)))
    engines = [Database(database_url) for _ in range(20)]  # like twenty processes

    async def claimer(db: Database) -> list[int]:
        mine: list[int] = []
        while batch := await outbox.claim_due(db, now=NOW, lease=LEASE, limit=4):
            mine += [c.id for c in batch]
            await asyncio.sleep(0)
        return mine

    try:
        results = await asyncio.gather(*(claimer(db) for db in engines))
    finally:
        await asyncio.gather(*(db.dispose() for db in engines))
    everything = [row_id for mine in results for row_id in mine]
    assert sorted(everything) == sorted(ids)  # every row, and none twice
    assert len(set(everything)) == len(everything)
    assert set((await status_of(services, "t:")).values()) == {"claimed"}
    assert {row.attempts for row in (await stored(services, "t:")).values()} == {1}


async def test_an_expired_lease_makes_a_claim_claimable_again(services: Services) -> None:
    [row_id] = await put(services, planned("t:one", NOW))
    assert [c.id for c in await outbox.claim_due(services.db, now=NOW, lease=LEASE)] == [row_id]
    within = NOW + LEASE - timedelta(seconds=1)
    assert await outbox.claim_due(services.db, now=within, lease=LEASE) == []
    after = NOW + LEASE + timedelta(seconds=1)
    [again] = await outbox.claim_due(services.db, now=after, lease=LEASE)
    assert (again.id, again.attempts, again.nonce) == (row_id, 2, f"cb{row_id}")  # same nonce
    await outbox.mark_sent(services.db, row_id, now=after)
    assert await outbox.claim_due(services.db, now=after + 2 * LEASE, lease=LEASE) == []


async def test_recover_returns_claimed_rows_to_pending(services: Services) -> None:
    ids = await put(services, *(planned(f"t:{i}", NOW) for i in range(3)), planned("t:later", NOW + LEASE))
    claimed = await outbox.claim_due(services.db, now=NOW, lease=LEASE)
    assert sorted(c.id for c in claimed) == sorted(ids[:3])
    await outbox.mark_sent(services.db, ids[0], now=NOW)
    assert await outbox.recover(services.db) == 2
    rows = await stored(services, "t:")
    assert [rows[f"t:{i}"].status for i in range(3)] == ["sent", "pending", "pending"]
    assert rows["t:1"].claimed_at is None
    assert rows["t:later"].status == "pending"
    again = await outbox.claim_due(services.db, now=NOW, lease=LEASE)  # no need to wait for the lease
    assert sorted(c.id for c in again) == sorted(ids[1:3])
    assert await outbox.recover(services.db) == 2
    assert await outbox.recover(services.db) == 0


async def test_downtime_sends_a_late_reminder_while_its_event_is_ahead(services: Services) -> None:
    event = NOW + timedelta(hours=1)
    [row_id] = await put(services, planned("t:ahead", NOW - timedelta(hours=3), event=event))
    # the bot was down from before the due time until now; the event is still ahead
    [claimed] = await outbox.claim_due(services.db, now=NOW, lease=LEASE)
    assert claimed.id == row_id
    assert await audit_rows(services, "notify.skip") == []


async def test_downtime_past_the_event_skips_with_the_reason_and_an_audit_row(
    services: Services,
) -> None:
    event = seoul(2025, 3, 10, 10, 30)
    [skip_id, keep_id] = await put(
        services,
        planned("t:passed", NOW - timedelta(hours=3), event=event, audience="dm_all"),
        planned("t:no-event", NOW - timedelta(hours=3)),  # a notice has no event: never too late
    )
    claimed = await outbox.claim_due(services.db, now=NOW, lease=LEASE)
    assert [c.id for c in claimed] == [keep_id]
    row = (await stored(services, "t:passed"))["t:passed"]
    assert row.status == "skipped"
    assert row.error is not None and "event had passed" in row.error
    assert "2025-03-10 01:30 UTC" in row.error  # the event, named in the reason
    [entry] = await audit_rows(services, "notify.skip")
    details = json.loads(entry.details)
    assert details["notification"] == skip_id and details["source"] == "t:passed"
    assert "event had passed" in details["reason"]
    assert entry.actor_id is None
    # a skipped row is never claimed again
    await outbox.mark_sent(services.db, keep_id, now=NOW)
    assert await outbox.claim_due(services.db, now=NOW + LEASE * 10, lease=LEASE) == []


async def test_an_event_starting_now_is_too_late_for_its_reminder(services: Services) -> None:
    await put(services, planned("t:now", NOW - timedelta(hours=1), event=NOW))
    assert await outbox.claim_due(services.db, now=NOW, lease=LEASE) == []
    assert await status_of(services, "t:") == {"t:now": "skipped"}


async def test_failed_sends_retry_then_fail_loudly(services: Services) -> None:
    [row_id] = await put(services, planned("t:flaky", NOW))
    for attempt in range(1, outbox.MAX_ATTEMPTS + 1):
        [claimed] = await outbox.claim_due(services.db, now=NOW + timedelta(minutes=attempt), lease=LEASE)
        assert claimed.attempts == attempt
        await outbox.mark_retry(
            services.db,
            row_id,
            error="503 Service Unavailable",
            retry_at=NOW + timedelta(minutes=attempt),
            now=NOW,
        )
    row = (await stored(services, "t:flaky"))["t:flaky"]
    assert (row.status, row.error) == ("failed", "503 Service Unavailable")
    assert len(await audit_rows(services, "notify.fail")) == 1


# ---- fan-out ---------------------------------------------------------------------------------
async def claim_one(services: Services) -> Claimed:
    [claimed] = await outbox.claim_due(services.db, now=services.now(), lease=LEASE)
    return claimed


async def test_expand_is_idempotent(services: Services) -> None:
    await put(services, planned("t:all", NOW, event=NOW + timedelta(hours=1), audience="dm_all"))
    parent = await claim_one(services)
    assert await outbox.expand(services.db, parent, [ALICE, BOB, CAROL], now=NOW) == 3
    assert await outbox.expand(services.db, parent, [ALICE, BOB, CAROL], now=NOW) == 0
    rows = await stored(services, "t:all")
    assert rows["t:all"].status == "sent"
    children = {key: row for key, row in rows.items() if "#" in key}
    assert sorted(children) == [f"t:all#{uid}" for uid in (ALICE, BOB, CAROL)]
    assert {(row.audience, row.status, row.category) for row in children.values()} == {
        ("dm", "pending", "deadlines")
    }
    assert sorted(row.user_id for row in children.values()) == [ALICE, BOB, CAROL]
    assert {row.event_at for row in children.values()} == {NOW + timedelta(hours=1)}


async def test_expand_after_a_crash_and_concurrently_makes_one_child_each(services: Services) -> None:
    await put(services, planned("t:all", NOW, audience="dm_all"))
    parent = await claim_one(services)
    # a child already there (say, from an earlier try) is neither duplicated nor counted
    async with services.db.write() as session:
        await outbox.enqueue(session, planned(f"t:all#{ALICE}", NOW))
    created = await asyncio.gather(
        *(outbox.expand(services.db, parent, [ALICE, BOB, CAROL], now=NOW) for _ in range(3))
    )
    assert sum(created) == 2
    children = [key for key in await stored(services, "t:all#")]
    assert sorted(children) == [f"t:all#{uid}" for uid in (ALICE, BOB, CAROL)]


async def test_removing_a_deadline_mid_fan_out_skips_the_children_left(services: Services) -> None:
    await add_quiz(services, due="2025-03-10 11:30", remind="30m")
    channel, dms = await outbox.claim_due(services.db, now=NOW, lease=LEASE)
    assert (channel.audience, dms.audience) == ("channel", "dm_all")
    await outbox.expand(services.db, dms, [ALICE, BOB], now=NOW)
    await outbox.mark_sent(services.db, channel.id, now=NOW)
    [alice_row, bob_row] = await outbox.claim_due(services.db, now=NOW, lease=LEASE)
    await outbox.mark_sent(services.db, alice_row.id, now=NOW)
    await outbox.recover(services.db)  # bob's DM was in flight
    await reminder_kinds.plan_all(services)  # re-planning leaves the children of a wanted parent alone
    assert (await status_of(services, "deadline:quiz1:30m:dm#"))[f"deadline:quiz1:30m:dm#{BOB}"] == "pending"
    await reminders.remove_deadline(services, actor_id=TA, key="quiz1")
    assert await status_of(services, "deadline:quiz1:") == {
        "deadline:quiz1:30m:channel": "sent",
        "deadline:quiz1:30m:dm": "sent",
        f"deadline:quiz1:30m:dm#{ALICE}": "sent",
        f"deadline:quiz1:30m:dm#{BOB}": "skipped",
    }
    assert bob_row.user_id == BOB


# ---- preferences -----------------------------------------------------------------------------
async def test_preference_defaults(services: Services) -> None:
    expected = {"office_hours": False, "deadlines": True, "presentation": True, "attendance": True}
    assert await reminders.preferences(services, ALICE) == expected
    assert reminders.default_preferences() == expected
    async with services.db.read() as session:
        assert await outbox.enabled_for(session, "office_hours", [ALICE, BOB]) == []
        assert await outbox.enabled_for(session, "deadlines", [ALICE, BOB]) == [ALICE, BOB]


async def test_preferences_per_category(services: Services) -> None:
    await reminders.set_preference(services, discord_id=ALICE, category="office_hours", enabled=True)
    await reminders.set_preference(services, discord_id=BOB, category="deadlines", enabled=False)
    await reminders.set_preference(services, discord_id=CAROL, category="deadlines", enabled=False)
    await reminders.set_preference(services, discord_id=CAROL, category="deadlines", enabled=True)
    everyone = [ALICE, BOB, CAROL]
    async with services.db.read() as session:
        assert await outbox.enabled_for(session, "office_hours", everyone) == [ALICE]
        assert await outbox.enabled_for(session, "deadlines", everyone) == [ALICE, CAROL]
        assert await outbox.enabled_for(session, "presentation", everyone) == everyone
        assert await outbox.enabled_for(session, "deadlines", []) == []
    assert (await reminders.preferences(services, BOB))["deadlines"] is False
    assert (await reminders.preferences(services, ALICE))["office_hours"] is True
    assert len(await audit_rows(services, "reminders.set")) == 4
    with pytest.raises(InvalidInput, match="office_hours, deadlines, presentation, attendance"):
        await reminders.set_preference(services, discord_id=ALICE, category="spam", enabled=True)


async def test_claimed_rows_survive_a_status_probe(services: Services) -> None:
    """A row claimed by a process still running (lease not over) is never handed to another."""
    await put(services, planned("t:busy", NOW))
    await claim_one(services)
    async with services.db.write() as session:
        await session.execute(
            update(Notification)
            .where(Notification.source_key == "t:busy")
            .values(claimed_at=NOW - LEASE + timedelta(seconds=5))
        )
    assert await outbox.claim_due(services.db, now=NOW, lease=LEASE) == []
    assert len(await outbox.claim_due(services.db, now=NOW + timedelta(seconds=6), lease=LEASE)) == 1
