"""What a close of check-in sets off, planned in the outbox in the transaction of the close: the
warning DMs, the staff's notes on the fail line (once per student and count of absences), the close
report in ta-log; start-up catching up on a close an older version never reported; the staff's notes
on lockouts and excuse requests; and opening check-in outside the time of today's lecture.

Lectures used: Wed 03-05 (week 1), Mon 03-10, Wed 03-12 (week 2), Mon 03-17 and Wed 03-19 (week 3),
each 11:00–12:15 KST.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import delete, select

from bot.db.models import AbsenceWarning, AttendanceSession, Notification
from bot.services import Services, attendance
from bot.services.attendance import NoLectureToday, OutsideLectureTime
from tests.conftest import seoul

TA = 9000
ALICE, BOB, CAROL = 1001, 1002, 1003
EARLY = seoul(2025, 3, 1, 9, 0)
EVERYONE = [(ALICE, EARLY), (BOB, EARLY), (CAROL, EARLY)]


async def rows(services: Services, prefix: str = "") -> list[tuple[str, str, int | None, str]]:
    """(source key, audience, user, text) of the outbox rows whose key starts with `prefix`."""
    async with services.db.read() as session:
        found = await session.scalars(
            select(Notification)
            .where(Notification.source_key.startswith(prefix, autoescape=True))
            .order_by(Notification.id)
        )
        return [(n.source_key, n.audience, n.user_id, n.text) for n in found.all()]


async def hold(services: Services, day: date, *, present: tuple[int, ...] = ()) -> attendance.CloseReport:
    """Open check-in at 11:00 on `day`, let `present` check in, close it at 11:10 for everyone."""
    services.clock.set(seoul(day.year, day.month, day.day, 11, 0))
    info, code = await attendance.open_session(services, actor_id=TA)
    for student in present:
        await attendance.check_in(services, discord_id=student, discord_name=None, joined_at=EARLY, code=code)
    services.clock.advance(timedelta(minutes=10))
    return await attendance.close_session(services, actor_id=TA, students=EVERYONE, session_id=info.id)


async def is_open(services: Services) -> bool:
    return await attendance.open_now(services) is not None


# ---- the close plans everything it sets off --------------------------------------------------
async def test_the_close_plans_the_warnings_and_the_report_in_its_transaction(services: Services) -> None:
    report = await hold(services, date(2025, 3, 10), present=(ALICE,))
    assert sorted(report.warnings) == [(BOB, 1), (CAROL, 1)]
    closed_at = int(seoul(2025, 3, 10, 11, 10).timestamp())
    planned = await rows(services)
    assert [(key, audience, user) for key, audience, user, _ in planned] == [
        (f"attendance-warning:{BOB}:1", "dm", BOB),
        (f"attendance-warning:{CAROL}:1", "dm", CAROL),
        (f"attendance-close:{report.session.id}:{closed_at}", "staff", None),
    ]
    assert planned[0][3].startswith("Attendance notice: you have 1 absence in EECE695D.")
    assert planned[2][3] == "Check-in for Mon 2025-03-10 closed: 1 checked in."


async def test_a_close_whose_planning_fails_stays_open(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    services.clock.set(seoul(2025, 3, 10, 11, 0))
    await attendance.open_session(services, actor_id=TA)

    def broken(*_: object, **__: object) -> object:
        raise RuntimeError("the outbox is unavailable")

    monkeypatch.setattr(attendance.closing, "enqueue", broken)
    with pytest.raises(RuntimeError):
        await attendance.close_session(services, actor_id=TA, students=EVERYONE)
    assert await is_open(services)  # nothing of the close was kept: no close without its warnings
    monkeypatch.undo()
    async with services.db.read() as session:
        assert (await session.scalars(select(AbsenceWarning))).all() == []
    await attendance.close_session(services, actor_id=TA, students=EVERYONE)
    assert len(await rows(services, "attendance-warning:")) == 3


async def test_the_fail_line_is_told_once_per_student_and_count(services: Services) -> None:
    await hold(services, date(2025, 3, 5), present=(ALICE, BOB))  # Carol 1
    third = await hold(services, date(2025, 3, 10), present=(ALICE, BOB))  # Carol 2: one from the line
    assert (third.one_from_fail, third.failed) == ((CAROL,), ())
    again = await hold(services, date(2025, 3, 12), present=(ALICE, BOB, CAROL))  # still 2
    assert (again.one_from_fail, again.failed) == ((), ())
    reached = await hold(services, date(2025, 3, 17), present=(ALICE,))  # Carol 3, Bob 1
    assert (reached.one_from_fail, reached.failed) == ((), (CAROL,))
    past = await hold(services, date(2025, 3, 19), present=(ALICE,))  # Carol 4, Bob 2
    assert (past.one_from_fail, past.failed) == ((BOB,), (CAROL,))
    notes = [(user, text) for _, _, user, text in await rows(services, "attendance-fail-line:")]
    assert [text for _, text in notes] == [
        f"⚠️ <@{CAROL}> is one absence from the fail line: 2 absences (3 mean an F).",
        f"⛔ <@{CAROL}> has reached the fail line: 3 absences (3 or more mean an F).",
        f"⚠️ <@{BOB}> is one absence from the fail line: 2 absences (3 mean an F).",
        f"⛔ <@{CAROL}> has reached the fail line: 4 absences (3 or more mean an F).",
    ]
    assert {audience for _, audience, _, _ in await rows(services, "attendance-fail-line:")} == {"staff"}
    # the same session planned again (a restart closing it twice) says nothing new
    repeat = await attendance.warnings_due(services, session_id=past.session.id, students=EVERYONE)
    assert (repeat.warnings, repeat.one_from_fail, repeat.failed) == ((), (), ())
    assert len(await rows(services, "attendance-fail-line:")) == 4


async def test_an_excuse_moving_a_student_back_does_not_repeat_the_note(services: Services) -> None:
    await hold(services, date(2025, 3, 5), present=(ALICE, BOB))
    await hold(services, date(2025, 3, 10), present=(ALICE, BOB))  # Carol 2: told
    request = await attendance.request_excuse(
        services, discord_id=CAROL, discord_name=None, joined_at=EARLY, day=date(2025, 3, 5), reason="flu"
    )
    await attendance.decide_excuse(services, actor_id=TA, excuse_id=request.id, approve=True)  # Carol 1
    back = await hold(services, date(2025, 3, 12), present=(ALICE, BOB))  # Carol 2 again
    assert back.one_from_fail == ()
    assert len(await rows(services, "attendance-fail-line:")) == 1


# ---- start-up catches up on a close an older version did not report --------------------------
async def forget_planning(services: Services) -> None:
    """What an older version left when it stopped between the close and the warnings."""
    async with services.db.write() as session:
        await session.execute(delete(Notification))
        await session.execute(delete(AbsenceWarning))


async def test_start_up_plans_a_close_left_unreported(services: Services) -> None:
    await hold(services, date(2025, 3, 5), present=(ALICE, BOB))
    last = await hold(services, date(2025, 3, 10), present=(ALICE,))
    await forget_planning(services)
    services.clock.set(seoul(2025, 3, 10, 14, 0))

    caught = await attendance.plan_missed_close(services, students=EVERYONE)
    assert caught is not None and caught.session.id == last.session.id
    assert sorted(caught.warnings) == [(BOB, 1), (CAROL, 2)]
    assert caught.one_from_fail == (CAROL,)
    [(_, _, _, summary)] = await rows(services, "attendance-close:")
    assert summary.startswith("Check-in for Mon 2025-03-10 closed: 1 checked in. (Reported at start-up")
    assert await attendance.plan_missed_close(services, students=EVERYONE) is None  # once
    assert len(await rows(services)) == 4  # two warnings, one fail-line note, the report


async def test_start_up_has_nothing_to_catch_up_after_a_close_of_this_version(services: Services) -> None:
    assert await attendance.plan_missed_close(services, students=EVERYONE) is None  # nothing held
    await hold(services, date(2025, 3, 10), present=(ALICE,))
    before = await rows(services)
    assert await attendance.plan_missed_close(services, students=EVERYONE) is None
    assert await rows(services) == before


async def test_a_reopened_and_closed_again_session_reports_each_close(services: Services) -> None:
    first = await hold(services, date(2025, 3, 10), present=(ALICE,))
    services.clock.set(seoul(2025, 3, 10, 11, 30))
    await attendance.open_session(services, actor_id=TA)
    services.clock.advance(timedelta(minutes=2))
    second = await attendance.close_session(services, actor_id=TA, students=EVERYONE)
    assert second.session.id == first.session.id
    assert len(await rows(services, "attendance-close:")) == 2
    assert second.warnings == ()  # Bob and Carol were warned at the first close


# ---- notes for the staff -----------------------------------------------------------------------
async def test_a_lockout_is_noted_for_the_staff_with_it(services: Services) -> None:
    services.clock.set(seoul(2025, 3, 10, 11, 0))
    _, code = await attendance.open_session(services, actor_id=TA)
    wrong = "AAAAAA" if code != "AAAAAA" else "BBBBBB"
    for _ in range(3):
        await attendance.check_in(services, discord_id=BOB, discord_name=None, joined_at=EARLY, code=wrong)
    await attendance.check_in(services, discord_id=BOB, discord_name=None, joined_at=EARLY, code=wrong)
    [(_, audience, _, text)] = await rows(services, "attendance-lockout:")
    assert audience == "staff"
    assert text == f"🔒 <@{BOB}> is locked out of check-in for 2025-03-10 after too many wrong codes"


async def test_an_excuse_request_is_noted_for_the_staff_with_it(services: Services) -> None:
    request = await attendance.request_excuse(
        services, discord_id=ALICE, discord_name=None, joined_at=EARLY, day=date(2025, 3, 5), reason="flu"
    )
    assert await rows(services, "excuse-request:") == [
        (
            f"excuse-request:{request.id}",
            "staff",
            None,
            f"📝 <@{ALICE}> asks to excuse 2025-03-05 (#{request.id}); `/ta excuse review`",
        )
    ]


# ---- opening outside the lecture's time --------------------------------------------------------
@pytest.mark.parametrize(
    ("at", "asks"),
    [
        (seoul(2025, 3, 12, 10, 29), "before"),
        (seoul(2025, 3, 12, 10, 30), None),  # 30 minutes early: opens
        (seoul(2025, 3, 12, 11, 40), None),
        (seoul(2025, 3, 12, 12, 45), None),  # 30 minutes after the end: still opens
        (seoul(2025, 3, 12, 12, 46), "after"),
        (seoul(2025, 3, 12, 16, 19), "after"),
    ],
)
async def test_opening_outside_the_lecture_asks_first(
    services: Services, at: datetime, asks: str | None
) -> None:
    services.clock.set(at)
    if asks is None:
        info, _ = await attendance.open_session(services, actor_id=TA)
        assert (info.lecture_date, info.extra) == (date(2025, 3, 12), False)
        return
    with pytest.raises(OutsideLectureTime) as refused:
        await attendance.open_session(services, actor_id=TA)
    assert isinstance(refused.value, NoLectureToday)  # the same confirmation path
    start, end = int(seoul(2025, 3, 12, 11, 0).timestamp()), int(seoul(2025, 3, 12, 12, 15).timestamp())
    span = f"the lecture of Wed 2025-03-12 (<t:{start}:t>–<t:{end}:t>)"
    if asks == "after":
        assert refused.value.message == (
            f"It is after {span}: it ended <t:{end}:R>, so everyone who checks in now is marked late."
        )
    else:
        assert refused.value.message.startswith(f"It is well before {span}: it starts <t:{start}:R>")
    assert not await is_open(services)
    async with services.db.read() as session:
        assert (await session.scalars(select(AttendanceSession))).all() == []


async def test_confirmed_after_the_lecture_it_opens_for_that_lecture_and_marks_late(
    services: Services,
) -> None:
    services.clock.set(seoul(2025, 3, 12, 16, 19))
    info, code = await attendance.open_session(services, actor_id=TA, extra_ok=True)
    assert (info.lecture_date, info.extra, info.starts_at) == (
        date(2025, 3, 12),
        False,
        seoul(2025, 3, 12, 11, 0),
    )
    result = await attendance.check_in(
        services, discord_id=ALICE, discord_name=None, joined_at=EARLY, code=code
    )
    assert result.outcome is attendance.Outcome.LATE


async def test_the_grace_comes_from_the_config(services: Services) -> None:
    section = services.config.attendance.model_copy(update={"open_grace_minutes": 0})
    strict = Services(
        services.db,
        services.clock,
        services.config.model_copy(update={"attendance": section}),
        services.calendar,
    )
    services.clock.set(seoul(2025, 3, 12, 12, 16))
    with pytest.raises(OutsideLectureTime):
        await attendance.open_session(strict, actor_id=TA)
    info, _ = await attendance.open_session(services, actor_id=TA)  # the default 30 minutes
    assert info.lecture_date == date(2025, 3, 12)
