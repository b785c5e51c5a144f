"""Student reads under load (bot/services/cache.py and the read paths that use it).

A burst of 300 identical student reads costs a bounded number of SQL statements (not a few per
command); what is cached is never stale after a write: a student's own change shows in their next
read, a staff change in everyone's, a write that rolls back drops nothing; a read that was running
when a write committed is not kept. Runs on SQLite, and on PostgreSQL too when
COURSEBOT_TEST_POSTGRES is set.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event

from bot.clock import Clock
from bot.db.models import AuditEntry
from bot.services import Services, attendance, cache, course, groups, papers, reminders
from bot.services.cache import ReadCache
from bot.services.talk_day.slides import slides_of
from tests.conftest import ROOT, seoul

SAMPLE = (ROOT / "data" / "papers.sample.csv").read_bytes()
STAFF = 1
STUDENTS = list(range(1000, 1300))  # the burst: 300 students
BURST_STATEMENTS = 16  # at most this many SQL statements for any burst of 300 reads (each read alone: 3–10)


@contextmanager
def statements(services: Services) -> Iterator[list[str]]:
    """The SQL statements sent to the database inside the block (BEGIN and ROLLBACK included)."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    engine = services.db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


async def burst(read: Callable[[int], Awaitable[Any]]) -> list[Any]:
    """Every student's read at once, as a lecture hall's commands arrive."""
    return await asyncio.gather(*(read(student) for student in STUDENTS))


async def settle() -> None:
    """Let the tasks started so far run up to their first wait."""
    for _ in range(5):
        await asyncio.sleep(0)


@pytest.fixture
async def course_in_use(services: Services) -> Services:
    """The sample paper list with some presenters and a waitlist, a few groups, check-in open."""
    await papers.import_papers(services, actor_id=STAFF, data=SAMPLE)
    for student, number in zip(STUDENTS[:8], (1, 1, 2, 2, 3, 3, 1, 2), strict=True):
        await papers.sign_up(services, discord_id=student, discord_name=None, joined_at=None, number=number)
    for i in range(0, 9, 3):
        made = await groups.create(services, discord_id=STUDENTS[i], discord_name=None, name=f"Team {i // 3}")
        for member in STUDENTS[i + 1 : i + 3]:
            await groups.join(services, discord_id=member, discord_name=None, code=made.invite_code)
    _, code = await attendance.open_session(services, actor_id=STAFF)
    for student in STUDENTS[:50]:
        await attendance.check_in(services, discord_id=student, discord_name=None, joined_at=None, code=code)
    return services


READS: dict[str, Callable[[Services, int], Awaitable[Any]]] = {
    "/attendance": lambda services, student: attendance.record_of(services, student, None),
    "/papers": lambda services, student: papers.board(services),
    "/papers (slides)": lambda services, student: slides_of(services, list(range(1, 22))),
    "/signup status": lambda services, student: papers.status(services, student),
    "/group info": lambda services, student: groups.group_of(services, student),
    "/deadlines": lambda services, student: reminders.upcoming_deadlines(services),
    "/course": lambda services, student: reminders.next_office_hours(services),
    "/schedule": lambda services, student: papers.board(services),
}


# ---- statements per burst ----------------------------------------------------------------------
@pytest.mark.parametrize("command", list(READS))
async def test_a_burst_of_300_reads_issues_a_bounded_number_of_statements(
    course_in_use: Services, command: str
) -> None:
    services, read = course_in_use, READS[command]
    alone = [await read(services, student) for student in STUDENTS[:3]]  # also fills the caches
    cache.cache_of(services.db).drop({cache.BOARD, cache.DEADLINES, cache.OFFICE_HOURS})
    with statements(services) as sent:
        results = await burst(lambda student: read(services, student))
    assert len(sent) <= BURST_STATEMENTS, f"{command}: {len(sent)} statements for 300 reads"
    assert results[:3] == alone  # the same answers as one at a time


async def test_each_student_gets_their_own_record_from_a_shared_burst(course_in_use: Services) -> None:
    services = course_in_use
    together = await burst(lambda student: attendance.record_of(services, student, None))
    alone = await attendance.records(services, [(student, None) for student in STUDENTS])
    assert together == [alone[student] for student in STUDENTS]
    assert [r.discord_id for r in together] == STUDENTS
    statuses = {student: together[i].lectures[-1].status for i, student in enumerate(STUDENTS)}
    assert {statuses[s] for s in STUDENTS[:50]} == {"present"}
    assert {statuses[s] for s in STUDENTS[50:]} == {"not counted"}  # check-in still open


async def test_group_and_status_from_a_shared_burst_match_each_students_own(course_in_use: Services) -> None:
    services = course_in_use
    found = await burst(lambda student: groups.group_of(services, student))
    assert [g.name if g else None for g in found[:10]] == ["Team 0"] * 3 + ["Team 1"] * 3 + ["Team 2"] * 3 + [
        None
    ]
    assert all(g is None for g in found[9:])
    states = await burst(lambda student: papers.status(services, student))
    assert [tuple(p.number for p in s.papers) for s in states[:6]] == [(1,), (1,), (2,), (2,), (3,), (3,)]
    assert (
        states[6].waitlist_paper.number if states[6].waitlist_paper else None,
        states[6].waitlist_position,
    ) == (1, 1)
    assert (
        states[7].waitlist_paper.number if states[7].waitlist_paper else None,
        states[7].waitlist_position,
    ) == (2, 1)
    assert all(not s.papers and s.waitlist_paper is None for s in states[8:])


# ---- never stale after a write ---------------------------------------------------------------------
async def test_a_students_own_sign_up_and_withdrawal_show_in_their_next_read(course_in_use: Services) -> None:
    services, me = course_in_use, STUDENTS[100]
    assert (await papers.status(services, me)).papers == ()
    await papers.board(services)  # cached now
    await papers.sign_up(services, discord_id=me, discord_name=None, joined_at=None, number=4)
    assert [p.number for p in (await papers.status(services, me)).papers] == [4]
    assert me in {p.number: p for p in await papers.board(services)}[4].presenters
    await papers.withdraw(services, discord_id=me)
    assert (await papers.status(services, me)).papers == ()
    assert me not in {p.number: p for p in await papers.board(services)}[4].presenters


async def test_a_students_own_check_in_and_group_show_in_their_next_read(
    services: Services, clock: Clock
) -> None:
    me = STUDENTS[0]
    _, code = await attendance.open_session(services, actor_id=STAFF)
    clock.set(seoul(2025, 3, 10, 11, 5))
    assert (await attendance.record_of(services, me, None)).present == 0
    await attendance.check_in(services, discord_id=me, discord_name=None, joined_at=None, code=code)
    assert (await attendance.record_of(services, me, None)).present == 1
    assert await groups.group_of(services, me) is None
    made = await groups.create(services, discord_id=me, discord_name=None, name="Mine")
    assert (await groups.group_of(services, me)) == made


async def test_staff_changes_invalidate_what_they_change(course_in_use: Services) -> None:
    services, someone = course_in_use, STUDENTS[200]
    before = await reminders.upcoming_deadlines(services)
    await reminders.add_deadline(
        services, actor_id=STAFF, key="quiz", title="Quiz 1", due="2025-03-20 10:00", remind="1h"
    )
    after = await reminders.upcoming_deadlines(services)
    assert [d for d in after if d.key != "quiz"] == before
    assert [d.due_at for d in after] == sorted(d.due_at for d in after)
    assert [d.title for d in after if d.key == "quiz"] == ["Quiz 1"]
    await reminders.remove_deadline(services, actor_id=STAFF, key="quiz")
    assert await reminders.upcoming_deadlines(services) == before

    upcoming = await reminders.next_office_hours(services)
    assert upcoming is not None and not upcoming.cancelled
    await reminders.change_office_hours(
        services, actor_id=STAFF, day_text=upcoming.day.isoformat(), cancel=True, reason="ill"
    )
    changed = await reminders.next_office_hours(services)
    assert changed is not None and changed.day == upcoming.day and changed.cancelled

    await papers.board(services)
    await papers.assign(services, actor_id=STAFF, discord_id=someone, discord_name=None, number=10)
    assert [p.number for p in (await papers.status(services, someone)).papers] == [10]
    assert someone in {p.number: p for p in await papers.board(services)}[10].presenters


async def test_a_write_that_rolls_back_drops_nothing(course_in_use: Services) -> None:
    services = course_in_use
    kept = await papers.board(services)
    with pytest.raises(RuntimeError):
        async with papers.write(services) as session:
            session.add(AuditEntry(at=services.now(), actor_id=STAFF, action="test.nothing", details="{}"))
            raise RuntimeError("the change fails")
    with statements(services) as sent:
        assert await papers.board(services) == kept
    assert sent == []  # still the cached board


async def test_the_term_plan_follows_the_current_week(services: Services, clock: Clock) -> None:
    first = course.term_plan(services)
    assert [p.week for p in first if p.is_current] == [2]
    clock.set(seoul(2025, 3, 18, 9, 0))
    assert [p.week for p in course.term_plan(services) if p.is_current] == [3]


# ---- the cache itself --------------------------------------------------------------------------------
async def test_a_load_running_when_its_topic_changes_is_not_kept_and_nobody_joins_it() -> None:
    kept = ReadCache()
    release, loads = asyncio.Event(), []

    async def load() -> int:
        loads.append(len(loads))
        await release.wait()
        return len(loads)

    first = asyncio.ensure_future(kept.get("t", None, load))
    joined = asyncio.ensure_future(kept.get("t", None, load))
    await settle()
    assert loads == [0]  # the second read shares the running load
    kept.drop({"t"})  # a write to the topic commits while it runs
    after = asyncio.ensure_future(kept.get("t", None, load))
    await settle()
    assert loads == [0, 1]  # a read after the commit starts its own load
    release.set()
    assert (await first, await joined, await after) == (2, 2, 2)
    assert await kept.get("t", None, load) == 2  # the second load's result is kept
    assert await kept.get("t", None, load) == 2
    assert len(loads) == 2


async def test_an_error_reaches_every_reader_and_is_not_kept() -> None:
    kept, calls = ReadCache(), []

    async def failing() -> int:
        calls.append(1)
        await asyncio.sleep(0)
        raise ValueError("database gone")

    results = await asyncio.gather(*(kept.get("t", 1, failing) for _ in range(5)), return_exceptions=True)
    assert [type(r) for r in results] == [ValueError] * 5 and len(calls) == 1
    with pytest.raises(ValueError):
        await kept.get("t", 1, failing)
    assert len(calls) == 2


async def test_a_reader_that_gives_up_stops_nobody_else() -> None:
    kept, release = ReadCache(), asyncio.Event()

    async def load() -> str:
        await release.wait()
        return "board"

    impatient = asyncio.ensure_future(kept.get("t", None, load))
    patient = asyncio.ensure_future(kept.get("t", None, load))
    await settle()
    impatient.cancel()
    release.set()
    assert await patient == "board"
    assert impatient.cancelled()

    batch = kept.batch("b", _echo_slowly)
    gone = asyncio.ensure_future(batch.get(1))
    stays = asyncio.ensure_future(batch.get(2))
    await settle()
    gone.cancel()
    assert await stays == 2


async def _echo_slowly(keys: Sequence[int]) -> dict[int, int]:
    await asyncio.sleep(0.01)
    return {key: key for key in keys}


async def test_reads_arriving_during_a_batch_go_together_into_the_next() -> None:
    kept, batches = ReadCache(), []
    release = asyncio.Event()

    async def load_many(keys: Sequence[int]) -> dict[int, int]:
        batches.append(list(keys))
        await release.wait()
        return {key: key * 10 for key in keys}

    batch = kept.batch("b", load_many)
    first = asyncio.ensure_future(batch.get(1))
    await settle()
    later = [asyncio.ensure_future(batch.get(key)) for key in (2, 3, 2)]
    await settle()
    release.set()
    assert await first == 10
    assert [await f for f in later] == [20, 30, 20]
    assert batches == [[1], [2, 3]]  # one batch for what came meanwhile; identical keys read once
