"""The absence rule, as `records(...)` computes it, and the warnings after a session closes.

Absences = lectures held since the student joined, minus present, late and excused ones; a lecture
is held once it has a session (check-in opened, or a staff mark). Week 7 and holidays are never
lectures; a session still open is not an absence yet; 3 absences (fail_at) mean an F.
Lectures used here: Wed 03-05 (week 1), Mon 03-10 and Wed 03-12 (week 2), Mon 03-17 and Wed 03-19.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from bot.errors import NotFound
from bot.services import Services, attendance
from bot.services.attendance import SessionInfo, StudentRecord
from tests.conftest import seoul

TA = 9000
ALICE, BOB, CAROL = 1001, 1002, 1003
EARLY = seoul(2025, 3, 1, 9, 0)  # joined before the term's first lecture
EVERYONE = [(ALICE, EARLY), (BOB, EARLY), (CAROL, EARLY)]


def at_lecture(day: date, minute: int = 0) -> datetime:
    return seoul(day.year, day.month, day.day, 11, minute)


async def hold(
    services: Services, day: date, *, present: tuple[int, ...] = (), extra: bool = False
) -> SessionInfo:
    """Open check-in at 11:00 on `day`, let `present` check in, and close it at 11:10."""
    services.clock.set(at_lecture(day))
    info, code = await attendance.open_session(services, actor_id=TA, extra_ok=extra)
    for student in present:
        await attendance.check_in(services, discord_id=student, discord_name=None, joined_at=EARLY, code=code)
    services.clock.set(at_lecture(day, 10))
    return (await attendance.close_session(services, actor_id=TA, session_id=info.id)).session


async def mark(services: Services, student: int, day: date, status: str) -> None:
    await attendance.mark(
        services, actor_id=TA, discord_id=student, discord_name=None, joined_at=EARLY, day=day, status=status
    )


async def excuse(services: Services, student: int, day: date, *, approve: bool = True) -> None:
    request = await attendance.request_excuse(
        services, discord_id=student, discord_name=None, joined_at=EARLY, day=day, reason="sick"
    )
    await attendance.decide_excuse(services, actor_id=TA, excuse_id=request.id, approve=approve)


async def record(services: Services, student: int, joined: datetime | None = EARLY) -> StudentRecord:
    return (await attendance.records(services, [(student, joined)]))[student]


def counts(r: StudentRecord) -> tuple[int, int, int, int, int]:
    """(held, present, late, excused, absent)"""
    return r.held, r.present, r.late, r.excused, r.absent


def statuses(r: StudentRecord) -> dict[str, str]:
    return {f"{lecture.lecture_date:%m-%d}": lecture.status for lecture in r.lectures}


async def test_nothing_held_nothing_counted(services: Services) -> None:
    alice = await record(services, ALICE)
    assert counts(alice) == (0, 0, 0, 0, 0)
    assert (alice.absences_left, alice.failed, alice.lectures) == (2, False, ())


async def test_held_lectures_count_present_late_and_absent(services: Services) -> None:
    await hold(services, date(2025, 3, 10), present=(ALICE, BOB))
    services.clock.set(at_lecture(date(2025, 3, 12)))
    _, code = await attendance.open_session(services, actor_id=TA, minutes=30)
    await attendance.check_in(services, discord_id=ALICE, discord_name=None, joined_at=EARLY, code=code)
    services.clock.advance(timedelta(minutes=15))
    await attendance.check_in(services, discord_id=BOB, discord_name=None, joined_at=EARLY, code=code)
    await attendance.close_session(services, actor_id=TA)

    result = await attendance.records(services, EVERYONE)
    assert counts(result[ALICE]) == (2, 2, 0, 0, 0)
    assert counts(result[BOB]) == (2, 1, 1, 0, 0)
    assert counts(result[CAROL]) == (2, 0, 0, 0, 2)
    assert statuses(result[BOB]) == {"03-10": "present", "03-12": "late"}
    assert statuses(result[CAROL]) == {"03-10": "absent", "03-12": "absent"}


async def test_lectures_held_before_a_student_joined_do_not_count(services: Services) -> None:
    await mark(services, ALICE, date(2025, 3, 5), "present")  # held: Wed 03-05
    await hold(services, date(2025, 3, 10))
    await hold(services, date(2025, 3, 12))
    late_joiner = await record(services, CAROL, seoul(2025, 3, 11, 20, 0))
    assert counts(late_joiner) == (1, 0, 0, 0, 1)
    assert statuses(late_joiner) == {"03-05": "not counted", "03-10": "not counted", "03-12": "absent"}
    # joining during a lecture: that lecture had started, so it does not count
    during = await record(services, CAROL, at_lecture(date(2025, 3, 12), 5))
    assert counts(during) == (0, 0, 0, 0, 0)
    # joined right at its start: it counts
    assert counts(await record(services, CAROL, at_lecture(date(2025, 3, 12)))) == (1, 0, 0, 0, 1)


async def test_a_lecture_before_joining_counts_when_marked(services: Services) -> None:
    day, first_seen = date(2025, 3, 5), None  # the bot first sees Carol now, through the mark
    await attendance.mark(
        services,
        actor_id=TA,
        discord_id=CAROL,
        discord_name=None,
        joined_at=first_seen,
        day=day,
        status="late",
    )
    carol = await record(services, CAROL, seoul(2025, 3, 11, 20, 0))
    assert counts(carol) == (1, 0, 1, 0, 0)  # first seen on 03-10, but staff say she was there


async def test_the_join_time_on_file_wins_when_it_is_earlier(services: Services) -> None:
    await mark(services, ALICE, date(2025, 3, 5), "present")  # Alice known since EARLY
    await hold(services, date(2025, 3, 10))
    # Discord says she joined later (left and came back): the earlier time on file wins
    assert counts(await record(services, ALICE, seoul(2025, 3, 11, 0, 0))) == (2, 1, 0, 0, 1)
    # a student the bot has never seen counts from their Discord join time
    assert counts(await record(services, BOB, seoul(2025, 3, 7, 0, 0))) == (1, 0, 0, 0, 1)
    # without any join time: from now, so nothing held counts yet
    assert counts(await record(services, BOB, None)) == (0, 0, 0, 0, 0)


async def test_an_excuse_approved_after_the_lecture_was_held(services: Services) -> None:
    await hold(services, date(2025, 3, 10), present=(BOB,))
    assert counts(await record(services, ALICE)) == (1, 0, 0, 0, 1)
    await excuse(services, ALICE, date(2025, 3, 10))
    alice = await record(services, ALICE)
    assert counts(alice) == (1, 0, 0, 1, 0)
    assert (alice.absences_left, statuses(alice)) == (2, {"03-10": "excused"})


async def test_an_excuse_approved_before_the_lecture_is_held(services: Services) -> None:
    await excuse(services, ALICE, date(2025, 3, 12))  # asked on Monday for Wednesday
    assert counts(await record(services, ALICE)) == (0, 0, 0, 0, 0)
    await hold(services, date(2025, 3, 12), present=(BOB,))
    assert counts(await record(services, ALICE)) == (1, 0, 0, 1, 0)


async def test_a_pending_or_denied_excuse_leaves_the_absence(services: Services) -> None:
    await hold(services, date(2025, 3, 10))
    await attendance.request_excuse(
        services, discord_id=ALICE, discord_name=None, joined_at=EARLY, day=date(2025, 3, 10), reason="sick"
    )
    await excuse(services, BOB, date(2025, 3, 10), approve=False)
    result = await attendance.records(services, EVERYONE)
    assert counts(result[ALICE]) == (1, 0, 0, 0, 1)
    assert counts(result[BOB]) == (1, 0, 0, 0, 1)


async def test_an_excuse_for_one_lecture_does_not_excuse_another(services: Services) -> None:
    await excuse(services, ALICE, date(2025, 3, 12))
    await hold(services, date(2025, 3, 10))
    await hold(services, date(2025, 3, 12))
    assert statuses(await record(services, ALICE)) == {"03-10": "absent", "03-12": "excused"}


@pytest.mark.parametrize(
    "day",
    [
        date(2025, 4, 14),  # week 7, Monday
        date(2025, 4, 16),  # week 7, Wednesday
        date(2025, 5, 5),  # Children's Day, a Monday
        date(2025, 3, 3),  # the holiday of week 1
        date(2025, 3, 11),  # a Tuesday
    ],
)
async def test_week_7_and_holidays_are_never_lectures(services: Services, day: date) -> None:
    services.clock.set(seoul(2025, 6, 30, 12, 0))  # after the term: every date is in the past
    with pytest.raises(NotFound):
        await mark(services, ALICE, day, "absent")
    with pytest.raises(NotFound):
        await excuse(services, ALICE, day)
    assert await attendance.held_lectures(services) == []
    assert counts(await record(services, ALICE)) == (0, 0, 0, 0, 0)


async def test_an_extra_session_counts_as_held(services: Services) -> None:
    await hold(services, date(2025, 3, 11), present=(ALICE,), extra=True)  # a Tuesday
    [held] = await attendance.held_lectures(services)
    assert held.extra
    result = await attendance.records(services, EVERYONE)
    assert counts(result[ALICE]) == (1, 1, 0, 0, 0)
    assert counts(result[BOB]) == (1, 0, 0, 0, 1)
    # staff can mark someone for it afterwards, and excuses can be asked for it
    await mark(services, BOB, date(2025, 3, 11), "late")
    await excuse(services, CAROL, date(2025, 3, 11))
    result = await attendance.records(services, EVERYONE)
    assert counts(result[BOB]) == (1, 0, 1, 0, 0)
    assert counts(result[CAROL]) == (1, 0, 0, 1, 0)


async def test_a_staff_mark_makes_the_lecture_held(services: Services) -> None:
    await mark(services, ALICE, date(2025, 3, 5), "present")
    result = await attendance.records(services, EVERYONE)
    assert counts(result[ALICE]) == (1, 1, 0, 0, 0)
    assert counts(result[BOB]) == (1, 0, 0, 0, 1)


async def test_manual_marks_override_check_ins_and_excuses(services: Services) -> None:
    await hold(services, date(2025, 3, 10), present=(ALICE,))
    await excuse(services, BOB, date(2025, 3, 10))
    await excuse(services, CAROL, date(2025, 3, 12))
    await hold(services, date(2025, 3, 12))
    assert statuses(await record(services, BOB)) == {"03-10": "excused", "03-12": "absent"}

    await mark(services, ALICE, date(2025, 3, 10), "absent")  # she checked in, but left at once
    await mark(services, BOB, date(2025, 3, 10), "late")  # excused, but staff say late
    await mark(services, CAROL, date(2025, 3, 12), "absent")  # excused before it was held
    result = await attendance.records(services, EVERYONE)
    assert statuses(result[ALICE]) == {"03-10": "absent", "03-12": "absent"}
    assert statuses(result[BOB]) == {"03-10": "late", "03-12": "absent"}
    assert statuses(result[CAROL]) == {"03-10": "absent", "03-12": "absent"}


async def test_a_session_still_open_is_not_an_absence_yet(services: Services) -> None:
    services.clock.set(at_lecture(date(2025, 3, 10)))
    info, code = await attendance.open_session(services, actor_id=TA)
    await attendance.check_in(services, discord_id=ALICE, discord_name=None, joined_at=EARLY, code=code)
    services.clock.advance(timedelta(minutes=5))
    result = await attendance.records(services, EVERYONE)
    assert counts(result[ALICE]) == (1, 1, 0, 0, 0)  # checked in already: counted
    assert counts(result[BOB]) == (0, 0, 0, 0, 0)
    assert statuses(result[BOB]) == {"03-10": "not counted"}
    await attendance.close_session(services, actor_id=TA, session_id=info.id)
    assert counts(await record(services, BOB)) == (1, 0, 0, 0, 1)


async def test_a_session_whose_minutes_ran_out_counts_even_before_it_is_closed(services: Services) -> None:
    services.clock.set(at_lecture(date(2025, 3, 10)))
    await attendance.open_session(services, actor_id=TA)
    services.clock.advance(timedelta(minutes=10))  # closes_at; the bot was down and never closed it
    assert counts(await record(services, BOB)) == (1, 0, 0, 0, 1)


async def test_absences_left_and_the_fail_line(services: Services) -> None:
    days = [date(2025, 3, 5), date(2025, 3, 10), date(2025, 3, 12), date(2025, 3, 17)]
    seen = []
    for day in days:
        await hold(services, day, present=(ALICE,))
        bob = await record(services, BOB)
        seen.append((bob.absent, bob.absences_left, bob.failed))
    assert seen == [(1, 1, False), (2, 0, False), (3, 0, True), (4, 0, True)]
    alice = await record(services, ALICE)
    assert (alice.held, alice.absent, alice.absences_left, alice.failed, alice.fail_at) == (4, 0, 2, False, 3)


async def test_excusing_an_absence_moves_a_student_back_from_the_fail_line(services: Services) -> None:
    for day in (date(2025, 3, 5), date(2025, 3, 10), date(2025, 3, 12)):
        await hold(services, day)
    assert (await record(services, BOB)).failed
    await excuse(services, BOB, date(2025, 3, 10))
    bob = await record(services, BOB)
    assert (bob.absent, bob.excused, bob.absences_left, bob.failed) == (2, 1, 0, False)


# ---- warnings ----------------------------------------------------------------------------------
async def close_and_warn(
    services: Services, day: date, *, present: tuple[int, ...] = ()
) -> attendance.CloseReport:
    info = await hold(services, day, present=present)
    return await attendance.warnings_due(services, session_id=info.id, students=EVERYONE)


async def test_warnings_come_once_per_count(services: Services) -> None:
    first = await close_and_warn(services, date(2025, 3, 5), present=(ALICE, BOB))
    assert first.checked_in == 2
    assert (first.warnings, first.one_from_fail, first.failed) == (((CAROL, 1),), (), ())

    # the same session again (e.g. a restart closing it twice): nobody is warned again
    again = await attendance.warnings_due(services, session_id=first.session.id, students=EVERYONE)
    assert again.warnings == ()

    # another session with no new absence: nobody is warned again
    second = await close_and_warn(services, date(2025, 3, 10), present=(ALICE, BOB, CAROL))
    assert (second.warnings, second.one_from_fail, second.failed) == ((), (), ())

    third = await close_and_warn(services, date(2025, 3, 12), present=(ALICE,))
    assert sorted(third.warnings) == [(BOB, 1), (CAROL, 2)]
    assert third.one_from_fail == (CAROL,)

    fourth = await close_and_warn(services, date(2025, 3, 17), present=(ALICE,))
    assert fourth.warnings == ((BOB, 2),)  # Carol's third absence is past the last warning count
    assert (fourth.one_from_fail, fourth.failed) == ((BOB,), (CAROL,))

    fifth = await close_and_warn(services, date(2025, 3, 19), present=(ALICE,))
    assert fifth.warnings == ()
    assert (fifth.one_from_fail, sorted(fifth.failed)) == ((), [BOB, CAROL])


async def test_reaching_two_counts_at_once_warns_once_with_the_total(services: Services) -> None:
    await mark(services, ALICE, date(2025, 3, 5), "present")
    report = await close_and_warn(services, date(2025, 3, 10), present=(ALICE,))
    assert sorted(report.warnings) == [(BOB, 2), (CAROL, 2)]
    later = await close_and_warn(services, date(2025, 3, 12), present=(ALICE, BOB, CAROL))
    assert later.warnings == ()  # the count of 1 was recorded along with 2


async def test_an_excused_absence_is_not_warned_about(services: Services) -> None:
    await excuse(services, CAROL, date(2025, 3, 5))
    report = await close_and_warn(services, date(2025, 3, 5), present=(ALICE, BOB))
    assert report.warnings == ()


async def test_warnings_for_an_unknown_session(services: Services) -> None:
    with pytest.raises(NotFound):
        await attendance.warnings_due(services, session_id=12345, students=EVERYONE)
