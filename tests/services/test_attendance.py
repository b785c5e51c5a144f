"""Attendance as a service: opening and closing check-in, codes (rotating too), the 300-student
burst, lockout, late check-ins, extra sessions, staff marks, excuses, and the report files.

The clock stands at Mon 2025-03-10 11:00 KST, the start of the Monday lecture of week 2.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import struct
import time
from collections import Counter
from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import func, select

from bot.db.models import AttendanceRecord, AttendanceSession, AuditEntry, CheckinAttempt, ExcuseRequest
from bot.errors import Conflict, InvalidInput, NotAllowed, NotFound
from bot.services import Services, attendance
from bot.services.attendance import CheckinResult, NoLectureToday, Outcome
from bot.services.attendance_report import report_chart, report_csv
from bot.services.codes import UNAMBIGUOUS, derived_code, normalise
from tests.conftest import seoul

TA = 9000
ALICE, BOB, CAROL = 1001, 1002, 1003
JOINED = seoul(2025, 3, 1, 9, 0)  # before the term's first lecture
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# A burst takes 2–4 s on an idle machine; the budget catches serialisation gone wrong (lock waits,
# pool timeouts), not a busy CI runner.
BURST_BUDGET = 30


async def check_in(services: Services, student: int, code: str) -> CheckinResult:
    return await attendance.check_in(
        services, discord_id=student, discord_name=f"user{student}", joined_at=JOINED, code=code
    )


async def open_lecture(services: Services, **options: object) -> tuple[attendance.SessionInfo, str]:
    return await attendance.open_session(services, actor_id=TA, **options)  # type: ignore[arg-type]


async def stored_records(services: Services) -> list[tuple[int, str, str]]:
    """(student, status, source) of every attendance record, by student."""
    async with services.db.read() as session:
        rows = await session.execute(
            select(AttendanceRecord.discord_id, AttendanceRecord.status, AttendanceRecord.source).order_by(
                AttendanceRecord.discord_id
            )
        )
        return [tuple(row) for row in rows.all()]  # type: ignore[misc]


async def session_secret(services: Services, session_id: int) -> str:
    async with services.db.read() as session:
        row = await session.get(AttendanceSession, session_id)
        assert row is not None
        return row.secret


async def audit_actions(services: Services) -> list[str]:
    async with services.db.read() as session:
        return list((await session.scalars(select(AuditEntry.action).order_by(AuditEntry.id))).all())


def a_wrong_code(*right: str) -> str:
    """A well-formed code that is none of `right`."""
    return next(c for c in ("AAAAAA", "BBBBBB", "CCCCCC") if c not in right)


# ---- opening and closing ----------------------------------------------------------------------
async def test_open_shows_a_six_character_code_for_todays_lecture(services: Services) -> None:
    info, code = await open_lecture(services)
    assert info.lecture_date == date(2025, 3, 10) and not info.extra
    assert info.starts_at == seoul(2025, 3, 10, 11, 0)
    assert info.closes_at == seoul(2025, 3, 10, 11, 10)  # minutes_open = 10
    assert len(code) == 6 and set(code) <= set(UNAMBIGUOUS)
    assert await attendance.open_now(services) == (info, code)
    assert await audit_actions(services) == ["attendance.open"]


@given(secret=st.binary(min_size=16, max_size=16), step=st.integers(min_value=0, max_value=2**40))
def test_codes_use_only_the_unambiguous_alphabet(secret: bytes, step: int) -> None:
    code = derived_code(secret.hex(), step, 6)
    assert len(code) == 6
    assert set(code) <= set(UNAMBIGUOUS)
    assert not set(code) & set("0O1IL")
    assert derived_code(secret.hex(), step, 6) == code  # reproducible from the secret


def test_typed_codes_are_trimmed_and_upper_cased() -> None:
    assert normalise("  k7q x2m\t") == "K7QX2M"


@pytest.mark.parametrize("minutes", [0, -5, 241])
async def test_open_refuses_minutes_out_of_range(services: Services, minutes: int) -> None:
    with pytest.raises(InvalidInput, match="between 1 and 240"):
        await open_lecture(services, minutes=minutes)
    assert await attendance.open_now(services) is None
    assert await attendance.held_lectures(services) == []


async def test_opening_twice_is_a_conflict(services: Services) -> None:
    first, code = await open_lecture(services, minutes=15)
    with pytest.raises(Conflict, match="already open"):
        await open_lecture(services)
    assert await attendance.open_now(services) == (first, code)


async def test_close_ends_check_in_and_closing_again_is_a_conflict(services: Services) -> None:
    info, code = await open_lecture(services)
    services.clock.advance(timedelta(minutes=4))
    closed = (await attendance.close_session(services, actor_id=TA)).session
    assert closed.id == info.id and closed.closed_at == services.now()
    assert await attendance.open_now(services) is None
    with pytest.raises(NotAllowed, match="No check-in is open"):
        await check_in(services, ALICE, code)
    with pytest.raises(Conflict, match="No check-in is open"):
        await attendance.close_session(services, actor_id=TA)
    with pytest.raises(Conflict, match="already closed"):
        await attendance.close_session(services, actor_id=None, session_id=info.id)


async def test_check_in_closes_by_itself_when_its_minutes_are_up(services: Services) -> None:
    _, code = await open_lecture(services, minutes=5)
    services.clock.advance(timedelta(minutes=5))
    with pytest.raises(NotAllowed):
        await check_in(services, ALICE, code)
    # still marked open in the database, so start-up closes it
    [left_open] = await attendance.sessions_to_close(services)
    assert left_open.closed_at is None
    closed = (await attendance.close_session(services, actor_id=None, session_id=left_open.id)).session
    assert closed.closed_at == seoul(2025, 3, 10, 11, 5)  # when its minutes ran out, not later
    assert await attendance.sessions_to_close(services) == []


# ---- check-in ----------------------------------------------------------------------------------
async def test_check_in_with_the_right_code(services: Services) -> None:
    _, code = await open_lecture(services)
    result = await check_in(services, ALICE, code)
    assert result.outcome is Outcome.PRESENT and result.at == services.now()
    again = await check_in(services, ALICE, code)
    assert again.outcome is Outcome.ALREADY and again.at == result.at
    assert await stored_records(services) == [(ALICE, "present", "checkin")]


async def test_typed_code_is_case_insensitive_and_trimmed(services: Services) -> None:
    _, code = await open_lecture(services)
    typed = f"  {code[:3].lower()} {code[3:].lower()}\n"
    assert (await check_in(services, ALICE, typed)).outcome is Outcome.PRESENT


async def test_no_check_in_when_nothing_is_open(services: Services) -> None:
    with pytest.raises(NotAllowed, match="No check-in is open"):
        await check_in(services, ALICE, "K7QX2M")
    assert await stored_records(services) == []


async def test_burst_of_300_students_checking_in_at_once(services: Services) -> None:
    _, code = await open_lecture(services)
    students = range(10_000, 10_300)
    started = time.monotonic()
    results = await asyncio.gather(*(check_in(services, s, code) for s in students))
    assert time.monotonic() - started < BURST_BUDGET
    assert Counter(r.outcome for r in results) == {Outcome.PRESENT: 300}
    records = await stored_records(services)
    assert [r[0] for r in records] == list(students)  # each student once, none lost or doubled
    assert {r[1:] for r in records} == {("present", "checkin")}


async def test_burst_of_300_students_each_checking_in_twice_at_once(services: Services) -> None:
    _, code = await open_lecture(services)
    students = list(range(20_000, 20_300))
    started = time.monotonic()
    results = await asyncio.gather(*(check_in(services, s, code) for s in students + students))
    assert time.monotonic() - started < BURST_BUDGET
    by_student: dict[int, list[Outcome]] = {}
    for student, result in zip(students + students, results, strict=True):
        by_student.setdefault(student, []).append(result.outcome)
    assert all(sorted(o) == sorted([Outcome.PRESENT, Outcome.ALREADY]) for o in by_student.values())
    assert len(by_student) == 300
    assert [r[0] for r in await stored_records(services)] == students


async def test_check_ins_racing_the_close_are_either_counted_or_refused(services: Services) -> None:
    _, code = await open_lecture(services)
    students = list(range(30_000, 30_100))
    calls = [check_in(services, s, code) for s in students[:50]]
    calls.append(attendance.close_session(services, actor_id=TA))
    calls += [check_in(services, s, code) for s in students[50:]]
    results = await asyncio.gather(*calls, return_exceptions=True)
    answered = [r for r in results if isinstance(r, CheckinResult)]
    refused = [r for r in results if isinstance(r, NotAllowed)]
    assert len(answered) + len(refused) == 100
    assert {r.outcome for r in answered} <= {Outcome.PRESENT}
    assert len(await stored_records(services)) == len(answered)  # every "present" was kept


async def test_racing_opens_open_once(services: Services) -> None:
    results = await asyncio.gather(*(open_lecture(services) for _ in range(5)), return_exceptions=True)
    opened = [r for r in results if not isinstance(r, BaseException)]
    assert len(opened) == 1
    assert all(isinstance(r, Conflict) for r in results if isinstance(r, BaseException))
    assert await attendance.open_now(services) == opened[0]


# ---- rotation ----------------------------------------------------------------------------------
async def test_rotation_accepts_the_code_shown_and_the_one_before(services: Services) -> None:
    info, first = await open_lecture(services, rotate=True)
    assert info.rotate_seconds == 15
    secret = await session_secret(services, info.id)
    codes = [derived_code(secret, step, 6) for step in range(4)]
    assert first == codes[0] and len(set(codes)) == 4

    services.clock.advance(timedelta(seconds=14))  # still step 0
    assert (await attendance.open_now(services))[1] == codes[0]  # type: ignore[index]
    services.clock.advance(timedelta(seconds=16))  # 30 s in: step 2
    assert (await attendance.open_now(services))[1] == codes[2]  # type: ignore[index]

    assert (await check_in(services, ALICE, codes[2])).outcome is Outcome.PRESENT  # shown now
    assert (await check_in(services, BOB, codes[1])).outcome is Outcome.PRESENT  # the one before
    stale = await check_in(services, CAROL, codes[0])  # two steps back
    assert (stale.outcome, stale.tries_left) == (Outcome.WRONG, 2)
    early = await check_in(services, CAROL, codes[3])  # not shown yet
    assert early.outcome is Outcome.WRONG

    services.clock.advance(timedelta(seconds=15))  # step 3: the code Alice used is now the one before
    assert (await check_in(services, CAROL, codes[2].lower())).outcome is Outcome.PRESENT
    assert [r[0] for r in await stored_records(services)] == [ALICE, BOB, CAROL]


async def test_without_rotation_one_code_lasts_the_whole_session(services: Services) -> None:
    _, code = await open_lecture(services)
    services.clock.advance(timedelta(minutes=9, seconds=59))
    assert (await attendance.open_now(services))[1] == code  # type: ignore[index]
    assert (await check_in(services, ALICE, code)).outcome is Outcome.PRESENT


async def test_a_code_from_another_session_is_never_valid(services: Services) -> None:
    _, monday = await open_lecture(services, rotate=True)
    await attendance.close_session(services, actor_id=TA)
    with pytest.raises(NotAllowed):  # closed: nothing open
        await check_in(services, ALICE, monday)

    _, reopened = await open_lecture(services, rotate=True)  # same lecture, opened again: a new secret
    assert reopened != monday
    assert (await check_in(services, ALICE, monday)).outcome is Outcome.WRONG
    await attendance.close_session(services, actor_id=TA)

    services.clock.set(seoul(2025, 3, 12, 11, 0))  # Wednesday's lecture
    info, wednesday = await open_lecture(services, rotate=True)
    assert info.lecture_date == date(2025, 3, 12)
    for old in (monday, reopened):
        assert (await check_in(services, BOB, old)).outcome is Outcome.WRONG
    assert (await check_in(services, BOB, wednesday)).outcome is Outcome.PRESENT
    assert await stored_records(services) == [(BOB, "present", "checkin")]


# ---- lockout -----------------------------------------------------------------------------------
async def test_three_wrong_codes_lock_a_student_out(services: Services) -> None:
    _, code = await open_lecture(services)
    wrong = a_wrong_code(code)
    first, second, third = [await check_in(services, BOB, wrong) for _ in range(3)]
    assert (first.outcome, first.tries_left) == (Outcome.WRONG, 2)
    assert (second.outcome, second.tries_left) == (Outcome.WRONG, 1)
    assert third.outcome is Outcome.LOCKED_NOW
    assert (await check_in(services, BOB, code)).outcome is Outcome.LOCKED
    assert (await check_in(services, BOB, wrong)).outcome is Outcome.LOCKED
    # others are not affected
    assert (await check_in(services, ALICE, wrong)).tries_left == 2
    assert (await check_in(services, ALICE, code)).outcome is Outcome.PRESENT
    assert await stored_records(services) == [(ALICE, "present", "checkin")]
    assert (await audit_actions(services)).count("attendance.lockout") == 1


async def test_concurrent_wrong_codes_lock_out_exactly_once(services: Services) -> None:
    _, code = await open_lecture(services)
    wrong = a_wrong_code(code)
    results = await asyncio.gather(*(check_in(services, BOB, wrong) for _ in range(6)))
    assert Counter(r.outcome for r in results) == {
        Outcome.WRONG: 2,
        Outcome.LOCKED_NOW: 1,
        Outcome.LOCKED: 3,
    }
    async with services.db.read() as session:
        assert await session.scalar(select(CheckinAttempt.wrong)) == 3


async def test_a_lockout_holds_for_its_session_only(services: Services) -> None:
    _, code = await open_lecture(services)
    for _ in range(3):
        await check_in(services, BOB, a_wrong_code(code))
    await attendance.close_session(services, actor_id=TA)
    services.clock.set(seoul(2025, 3, 12, 11, 0))
    _, wednesday = await open_lecture(services)
    assert (await check_in(services, BOB, wednesday)).outcome is Outcome.PRESENT


# ---- late --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("after", "outcome"),
    [
        (timedelta(0), Outcome.PRESENT),
        (timedelta(minutes=9, seconds=59), Outcome.PRESENT),
        (timedelta(minutes=10), Outcome.PRESENT),
        (timedelta(minutes=10, seconds=1), Outcome.LATE),
        (timedelta(minutes=25), Outcome.LATE),
    ],
)
async def test_late_after_ten_minutes_from_the_lecture_start(
    services: Services, after: timedelta, outcome: Outcome
) -> None:
    _, code = await open_lecture(services, minutes=30)
    services.clock.advance(after)
    assert (await check_in(services, ALICE, code)).outcome is outcome
    assert await stored_records(services) == [(ALICE, outcome.value, "checkin")]


async def test_opened_late_means_everyone_is_late(services: Services) -> None:
    services.clock.set(seoul(2025, 3, 10, 11, 20))
    info, code = await open_lecture(services)
    assert info.starts_at == seoul(2025, 3, 10, 11, 0)  # lateness counts from the lecture's start
    assert (await check_in(services, ALICE, code)).outcome is Outcome.LATE


# ---- extra sessions ----------------------------------------------------------------------------
async def test_an_extra_session_needs_confirmation_on_a_day_without_a_lecture(services: Services) -> None:
    services.clock.set(seoul(2025, 3, 11, 14, 0))  # a Tuesday
    with pytest.raises(NoLectureToday, match="no lecture today"):
        await open_lecture(services)
    assert await attendance.held_lectures(services) == []

    info, code = await open_lecture(services, minutes=20, extra_ok=True)
    assert info.extra and info.lecture_date == date(2025, 3, 11)
    assert info.starts_at == seoul(2025, 3, 11, 14, 0)  # lateness counts from the opening
    assert (await check_in(services, ALICE, code)).outcome is Outcome.PRESENT
    services.clock.advance(timedelta(minutes=10, seconds=1))
    assert (await check_in(services, BOB, code)).outcome is Outcome.LATE
    assert [s.lecture_date for s in await attendance.held_lectures(services)] == [date(2025, 3, 11)]


@pytest.mark.parametrize("day", [date(2025, 4, 14), date(2025, 5, 5), date(2025, 3, 3)])
async def test_week_7_and_holidays_have_no_lecture_to_open(services: Services, day: date) -> None:
    services.clock.set(seoul(day.year, day.month, day.day, 11, 0))
    with pytest.raises(NoLectureToday):
        await open_lecture(services)


# ---- staff marks -------------------------------------------------------------------------------
async def mark(services: Services, student: int, day: date, status: str) -> str | None:
    return await attendance.mark(
        services,
        actor_id=TA,
        discord_id=student,
        discord_name=f"user{student}",
        joined_at=JOINED,
        day=day,
        status=status,
    )


async def test_mark_sets_a_record_and_returns_the_previous_status(services: Services) -> None:
    assert await mark(services, ALICE, date(2025, 3, 5), "late") is None
    assert await mark(services, ALICE, date(2025, 3, 5), "present") == "late"
    assert await stored_records(services) == [(ALICE, "present", "manual")]
    [held] = await attendance.held_lectures(services)
    assert held.lecture_date == date(2025, 3, 5) and held.opened_at is None  # held, never opened
    assert (await audit_actions(services)).count("attendance.mark") == 2


async def test_mark_overrides_a_check_in(services: Services) -> None:
    _, code = await open_lecture(services)
    await check_in(services, ALICE, code)
    assert await mark(services, ALICE, date(2025, 3, 10), "absent") == "present"
    assert await stored_records(services) == [(ALICE, "absent", "manual")]
    # a student marked absent who then checks in while it is open is there after all
    assert (await check_in(services, ALICE, code)).outcome is Outcome.PRESENT


@pytest.mark.parametrize(
    ("day", "status", "error", "reason"),
    [
        (date(2025, 3, 12), "present", NotAllowed, "has not happened yet"),  # a future lecture
        (date(2025, 3, 11), "present", NotFound, "no lecture"),  # a Tuesday
        (date(2025, 4, 14), "absent", NotFound, "no lecture"),  # week 7
        (date(2025, 5, 5), "absent", NotFound, "no lecture"),  # a holiday
        (date(2025, 3, 5), "sick", InvalidInput, "Status must be one of"),
    ],
)
async def test_mark_refuses_and_changes_nothing(
    services: Services, day: date, status: str, error: type[Exception], reason: str
) -> None:
    with pytest.raises(error, match=reason):
        await mark(services, ALICE, day, status)
    assert await stored_records(services) == []
    assert await attendance.held_lectures(services) == []
    assert await audit_actions(services) == []


@pytest.mark.parametrize("text", ["2025-13-01", "2025-02-30", "next monday", ""])
def test_parse_day_refuses_what_is_not_a_date(text: str) -> None:
    with pytest.raises(InvalidInput, match="is not a date"):
        attendance.parse_day(text)


def test_parse_day_trims() -> None:
    assert attendance.parse_day(" 2025-03-10 ") == date(2025, 3, 10)


# ---- excuses -----------------------------------------------------------------------------------
async def excuse(services: Services, student: int, day: date, reason: str = "I had a fever") -> int:
    request = await attendance.request_excuse(
        services, discord_id=student, discord_name=f"user{student}", joined_at=JOINED, day=day, reason=reason
    )
    return request.id


async def excuse_rows(services: Services) -> list[tuple[int, date, str]]:
    async with services.db.read() as session:
        rows = await session.execute(
            select(ExcuseRequest.discord_id, ExcuseRequest.lecture_date, ExcuseRequest.status).order_by(
                ExcuseRequest.id
            )
        )
        return [tuple(row) for row in rows.all()]  # type: ignore[misc]


async def test_excuse_request_and_approval(services: Services) -> None:
    request = await attendance.request_excuse(
        services,
        discord_id=ALICE,
        discord_name="alice",
        joined_at=JOINED,
        day=date(2025, 3, 5),
        reason="  I had\n a   fever ",
    )
    assert (request.lecture_date, request.reason, request.status) == (
        date(2025, 3, 5),
        "I had a fever",
        "pending",
    )
    assert [e.id for e in await attendance.pending_excuses(services)] == [request.id]
    decided = await attendance.decide_excuse(services, actor_id=TA, excuse_id=request.id, approve=True)
    assert decided.status == "approved"
    assert await attendance.pending_excuses(services) == []
    assert (await audit_actions(services))[-2:] == ["excuse.request", "excuse.approved"]


@pytest.mark.parametrize("day", [date(2025, 3, 11), date(2025, 4, 14), date(2025, 5, 5)])
async def test_excuse_for_a_day_without_a_lecture_is_not_found(services: Services, day: date) -> None:
    with pytest.raises(NotFound, match="no lecture"):
        await excuse(services, ALICE, day)
    assert await excuse_rows(services) == []


async def test_excuse_twice_for_the_same_lecture_is_a_conflict(services: Services) -> None:
    first = await excuse(services, ALICE, date(2025, 3, 5))
    with pytest.raises(Conflict, match="it is pending"):
        await excuse(services, ALICE, date(2025, 3, 5), "again")
    await attendance.decide_excuse(services, actor_id=TA, excuse_id=first, approve=True)
    with pytest.raises(Conflict, match="it is approved"):
        await excuse(services, ALICE, date(2025, 3, 5), "again")
    # another student, or another lecture, is fine
    await excuse(services, BOB, date(2025, 3, 5))
    await excuse(services, ALICE, date(2025, 3, 12))
    assert len(await excuse_rows(services)) == 3


async def test_a_denied_excuse_can_be_asked_again(services: Services) -> None:
    first = await excuse(services, ALICE, date(2025, 3, 5))
    await attendance.decide_excuse(services, actor_id=TA, excuse_id=first, approve=False)
    await excuse(services, ALICE, date(2025, 3, 5), "with a doctor's note")
    assert [row[2] for row in await excuse_rows(services)] == ["denied", "pending"]


@pytest.mark.parametrize("status", ["present", "late", "excused"])
async def test_excuse_when_already_recorded_there_is_a_conflict(services: Services, status: str) -> None:
    await mark(services, ALICE, date(2025, 3, 5), status)
    with pytest.raises(Conflict, match=f"already recorded as {status}"):
        await excuse(services, ALICE, date(2025, 3, 5))
    assert await excuse_rows(services) == []


async def test_excuse_after_checking_in_is_a_conflict(services: Services) -> None:
    _, code = await open_lecture(services)
    await check_in(services, ALICE, code)
    with pytest.raises(Conflict, match="already recorded as present"):
        await excuse(services, ALICE, date(2025, 3, 10))


@pytest.mark.parametrize("reason", ["", "   \n ", "x" * 501])
async def test_excuse_reason_must_be_1_to_500_characters(services: Services, reason: str) -> None:
    with pytest.raises(InvalidInput, match="1–500 characters"):
        await excuse(services, ALICE, date(2025, 3, 5), reason)
    assert await excuse_rows(services) == []


async def test_excuse_reason_of_500_characters_is_fine(services: Services) -> None:
    request = await excuse(services, ALICE, date(2025, 3, 5), "x" * 500)
    assert await excuse_rows(services) == [(ALICE, date(2025, 3, 5), "pending")]
    [stored] = await attendance.pending_excuses(services)
    assert (stored.id, stored.reason) == (request, "x" * 500)


async def test_deciding_twice_is_a_conflict(services: Services) -> None:
    request = await excuse(services, ALICE, date(2025, 3, 5))
    await attendance.decide_excuse(services, actor_id=TA, excuse_id=request, approve=False)
    for approve in (True, False):
        with pytest.raises(Conflict, match="already denied"):
            await attendance.decide_excuse(services, actor_id=TA, excuse_id=request, approve=approve)
    with pytest.raises(NotFound):
        await attendance.decide_excuse(services, actor_id=TA, excuse_id=request + 1, approve=True)
    assert [row[2] for row in await excuse_rows(services)] == ["denied"]


async def test_racing_decisions_decide_once(services: Services) -> None:
    request = await excuse(services, ALICE, date(2025, 3, 5))
    results = await asyncio.gather(
        *(
            attendance.decide_excuse(services, actor_id=TA, excuse_id=request, approve=i % 2 == 0)
            for i in range(6)
        ),
        return_exceptions=True,
    )
    assert sum(not isinstance(r, Exception) for r in results) == 1
    assert all(isinstance(r, Conflict) for r in results if isinstance(r, Exception))
    async with services.db.read() as session:
        decided = await session.scalar(
            select(func.count()).select_from(AuditEntry).where(AuditEntry.action.like("excuse.%ed"))
        )
    assert decided == 1


async def test_approval_of_a_held_lecture_marks_it_excused(services: Services) -> None:
    await mark(services, BOB, date(2025, 3, 5), "present")  # the lecture of 03-05 is held
    request = await excuse(services, ALICE, date(2025, 3, 5))
    await attendance.decide_excuse(services, actor_id=TA, excuse_id=request, approve=True)
    assert await stored_records(services) == [(ALICE, "excused", "excuse"), (BOB, "present", "manual")]
    entry = (await audit_actions(services))[-1]
    assert entry == "excuse.approved"


async def test_approval_turns_a_manual_absence_into_excused(services: Services) -> None:
    await mark(services, ALICE, date(2025, 3, 5), "absent")
    request = await excuse(services, ALICE, date(2025, 3, 5))
    await attendance.decide_excuse(services, actor_id=TA, excuse_id=request, approve=True)
    assert await stored_records(services) == [(ALICE, "excused", "excuse")]


async def test_a_denied_excuse_changes_no_record(services: Services) -> None:
    await mark(services, ALICE, date(2025, 3, 5), "absent")
    request = await excuse(services, ALICE, date(2025, 3, 5))
    await attendance.decide_excuse(services, actor_id=TA, excuse_id=request, approve=False)
    assert await stored_records(services) == [(ALICE, "absent", "manual")]


async def test_audit_names_who_did_what_to_whom(services: Services) -> None:
    _, code = await open_lecture(services)
    await check_in(services, ALICE, code)
    await mark(services, BOB, date(2025, 3, 10), "late")
    async with services.db.read() as session:
        entries = (await session.scalars(select(AuditEntry).order_by(AuditEntry.id))).all()
    rows = [(e.action, e.actor_id, e.target_id, json.loads(e.details).get("status")) for e in entries]
    assert rows == [
        ("attendance.open", TA, None, None),
        ("attendance.checkin", ALICE, ALICE, "present"),
        ("attendance.mark", TA, BOB, "late"),
    ]
    assert all(e.at == services.now() for e in entries)


# ---- report files ------------------------------------------------------------------------------
def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == PNG_SIGNATURE
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def decode_png(data: bytes) -> tuple[int, int]:
    """Height and width of the decoded image (a real PNG, not just its signature)."""
    from matplotlib import image

    pixels = image.imread(io.BytesIO(data), format="png")
    return pixels.shape[0], pixels.shape[1]


async def a_few_lectures(services: Services) -> list[date]:
    """Three held lectures: Alice there each time, Bob late once and absent twice, and Kim (a Korean
    name, registered) excused once."""
    from bot.services.students import register

    await register(
        services, discord_id=CAROL, discord_name=None, joined_at=JOINED, student_id="20251234", name="김민지"
    )
    days = [date(2025, 3, 5), date(2025, 3, 10)]
    for day in days:
        await mark(services, ALICE, day, "present")
    await mark(services, BOB, days[0], "late")
    await mark(services, CAROL, days[1], "excused")
    services.clock.set(seoul(2025, 3, 12, 11, 0))
    _, code = await open_lecture(services)
    await check_in(services, ALICE, code)
    await attendance.close_session(services, actor_id=TA)
    return [*days, date(2025, 3, 12)]


async def test_report_csv_has_a_column_per_lecture_and_a_row_per_student(services: Services) -> None:
    days = await a_few_lectures(services)
    held = [s.lecture_date for s in await attendance.held_lectures(services)]
    assert held == days
    students = [(ALICE, JOINED), (BOB, JOINED), (CAROL, JOINED)]
    records = await attendance.records(services, students)
    names = {ALICE: ("", "", "alice"), BOB: ("", "", "bob"), CAROL: ("20251234", "김민지", "carol")}
    data = report_csv(held, records, names)
    assert data.startswith(b"\xef\xbb\xbf")  # UTF-8 with a BOM, for spreadsheets
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    header, *body = rows
    assert header[-3:] == ["2025-03-05", "2025-03-10", "2025-03-12"]
    assert len(header) == 10 + len(held)
    by_id = {row[3]: dict(zip(header, row, strict=True)) for row in body}
    assert len(body) == 3 and set(by_id) == {str(ALICE), str(BOB), str(CAROL)}
    carol = by_id[str(CAROL)]
    assert (carol["student_id"], carol["name"]) == ("20251234", "김민지")
    assert [carol[d] for d in header[-3:]] == ["absent", "excused", "absent"]
    bob = by_id[str(BOB)]
    assert [bob[d] for d in header[-3:]] == ["late", "absent", "absent"]
    assert (bob["held"], bob["late"], bob["absent"], bob["absences_left"]) == ("3", "1", "2", "0")
    assert by_id[str(ALICE)]["present"] == "3"


async def test_report_chart_is_a_png_that_grows_with_the_lectures(services: Services) -> None:
    days = await a_few_lectures(services)
    records = await attendance.records(services, [(ALICE, JOINED), (BOB, JOINED), (CAROL, JOINED)])
    small = report_chart(days, records, "EECE695D attendance")
    width, height = png_size(small)
    assert decode_png(small) == (height, width)

    many = [date(2025, 3, 3) + timedelta(days=i) for i in range(40)]
    large = report_chart(many, records, "EECE695D attendance")
    large_width, large_height = png_size(large)
    assert decode_png(large) == (large_height, large_width)
    assert large_width > width and large_height == height


def test_report_chart_and_csv_with_nothing_held() -> None:
    assert png_size(report_chart([], {}, "empty"))[0] > 0
    data = report_csv([], {}, {})
    assert data.decode("utf-8-sig").splitlines() == [
        "student_id,name,discord,discord_id,held,present,late,excused,absent,absences_left"
    ]
