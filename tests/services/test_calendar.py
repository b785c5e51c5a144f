"""The syllabus calendar of config.toml: weeks, lectures, holidays, talks, instants and deadlines."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.calendar import CourseCalendar
from bot.config import Config, Environment, load_config
from tests.conftest import ROOT, seoul

# hypothesis tests cannot use function-scoped fixtures
CONFIG = load_config(ROOT / "config.toml", environment=Environment(discord_token=None, database_url=None))


def test_week_one_starts_on_the_first_monday(calendar: CourseCalendar) -> None:
    assert calendar.term_start == date(2025, 3, 3)
    assert calendar.term_end == date(2025, 6, 22)
    assert calendar.week_start(1) == date(2025, 3, 3)
    assert calendar.week_start(16) == date(2025, 6, 16)


@pytest.mark.parametrize(
    ("day", "week"),
    [
        (date(2025, 3, 2), None),  # the Sunday before the term
        (date(2025, 3, 3), 1),
        (date(2025, 3, 9), 1),  # Sunday still belongs to week 1
        (date(2025, 3, 10), 2),
        (date(2025, 4, 30), 9),
        (date(2025, 6, 22), 16),
        (date(2025, 6, 23), None),  # the Monday after the term
    ],
)
def test_week_of_boundaries(calendar: CourseCalendar, day: date, week: int | None) -> None:
    assert calendar.week_of(day) == week


@given(st.dates(min_value=date(2025, 3, 3), max_value=date(2025, 6, 22)))
def test_every_term_day_lies_in_its_week(day: date) -> None:
    calendar = CourseCalendar(CONFIG)
    week = calendar.week_of(day)
    assert week is not None
    assert calendar.week_start(week) <= day <= calendar.week_start(week) + timedelta(days=6)


def test_no_lectures_in_week_7(calendar: CourseCalendar) -> None:
    assert calendar.lectures_in_week(7) == ()
    assert calendar.lecture_on(date(2025, 4, 14)) is None
    assert calendar.lecture_on(date(2025, 4, 16)) is None


@pytest.mark.parametrize("holiday", [date(2025, 3, 3), date(2025, 5, 5)])
def test_holidays_on_lecture_days_are_not_lectures(calendar: CourseCalendar, holiday: date) -> None:
    assert calendar.holiday_name(holiday)
    assert calendar.lecture_on(holiday) is None


def test_lectures_of_the_term(calendar: CourseCalendar) -> None:
    lectures = calendar.lectures
    # 16 weeks x Mon+Wed, minus week 7, minus the holidays on Mon 03-03 and Mon 05-05
    # (05-06, 06-03 and 06-06 fall on other weekdays).
    assert len(lectures) == 28
    assert lectures[0].date == date(2025, 3, 5)
    assert lectures[-1].date == date(2025, 6, 18)
    assert [lecture.starts_at for lecture in lectures] == sorted(lecture.starts_at for lecture in lectures)
    for lecture in lectures:
        assert lecture.date.weekday() in (0, 2)
        assert calendar.week_of(lecture.date) == lecture.week
        assert lecture.starts_at == seoul(lecture.date.year, lecture.date.month, lecture.date.day, 11, 0)
        assert lecture.ends_at - lecture.starts_at == timedelta(minutes=75)


def test_talk_dates(calendar: CourseCalendar) -> None:
    assert calendar.talk_date(9) == date(2025, 4, 30)
    assert calendar.talk_date(9).weekday() == 2
    assert calendar.talk_date(15) == date(2025, 6, 11)
    assert calendar.is_talk_week(9) and calendar.is_talk_week(15)
    assert not calendar.is_talk_week(8) and not calendar.is_talk_week(16)
    # talks are back to back from the lecture start: 20 min + 5 min Q&A each
    assert calendar.talk_starts_at(9, 2) == seoul(2025, 4, 30, 11, 50)


def test_resolve_relative_instant(calendar: CourseCalendar) -> None:
    assert calendar.resolve("W3 Sun 23:59") == seoul(2025, 3, 23, 23, 59)
    assert calendar.resolve("W1 Mon 0:00") == seoul(2025, 3, 3, 0, 0)


def test_resolve_iso_with_and_without_offset(calendar: CourseCalendar) -> None:
    local = calendar.resolve("2025-03-23 23:59")
    assert local == seoul(2025, 3, 23, 23, 59)
    assert local.utcoffset() == timedelta(hours=9)
    assert calendar.resolve("2025-03-23T23:59+00:00") == datetime(2025, 3, 23, 23, 59, tzinfo=UTC)
    assert calendar.resolve("2025-03-23T23:59+00:00") - local == timedelta(hours=9)


@pytest.mark.parametrize("spec", ["W3 Someday 10:00", "next week", "2025-13-01 10:00"])
def test_resolve_refuses_nonsense(calendar: CourseCalendar, spec: str) -> None:
    with pytest.raises(ValueError):
        calendar.resolve(spec)


def test_deadlines_resolved_and_ordered(calendar: CourseCalendar) -> None:
    deadlines = calendar.deadlines
    assert [d.key for d in deadlines] == [
        "paper_list",
        "signup",
        "proposal",
        "blog_post",
        "poster",
        "poster_session",
    ]
    due = {d.key: d.due_at for d in deadlines}
    assert due["paper_list"] == seoul(2025, 3, 10, 9, 0)
    assert due["signup"] == seoul(2025, 3, 23, 23, 59)
    assert due["proposal"] == seoul(2025, 4, 18, 23, 59)
    assert due["poster"] == due["blog_post"] == seoul(2025, 6, 13, 23, 59)
    assert due["poster_session"] == seoul(2025, 6, 18, 11, 0)
    assert deadlines[1].remind == (timedelta(days=1), timedelta(hours=1))
    assert calendar.resolve_moment("signup") == due["signup"]
    assert calendar.resolve_moment("") is None


def test_current_week_follows_the_course_timezone(calendar: CourseCalendar) -> None:
    # Late Sunday night in UTC is already Monday morning of week 2 in Seoul.
    sunday_utc = datetime(2025, 3, 9, 15, 30, tzinfo=UTC)
    assert sunday_utc.date() == date(2025, 3, 9)
    assert calendar.current_week(sunday_utc) == 2
    assert calendar.current_week(datetime(2025, 3, 9, 14, 59, tzinfo=UTC)) == 1
    assert calendar.current_week(seoul(2025, 3, 2, 23, 59)) is None
    assert calendar.current_week(seoul(2025, 6, 22, 23, 59)) == 16
    assert calendar.current_week(seoul(2025, 6, 23, 0, 0)) is None


def test_lectures_between_is_start_inclusive_end_exclusive(calendar: CourseCalendar) -> None:
    monday, next_monday = seoul(2025, 3, 10, 11, 0), seoul(2025, 3, 17, 11, 0)
    assert [lecture.date for lecture in calendar.lectures_between(monday, next_monday)] == [
        date(2025, 3, 10),
        date(2025, 3, 12),
    ]
    assert calendar.lectures_between(seoul(2025, 4, 12), seoul(2025, 4, 19)) == ()
    assert len(calendar.lectures_between(seoul(2025, 1, 1), seoul(2026, 1, 1))) == 28


def test_next_lecture(calendar: CourseCalendar) -> None:
    assert calendar.next_lecture(seoul(2025, 3, 10, 12, 0)).date == date(2025, 3, 10)  # running now
    assert calendar.next_lecture(seoul(2025, 3, 10, 12, 15)).date == date(2025, 3, 12)
    assert calendar.next_lecture(seoul(2025, 4, 10, 13, 0)).date == date(2025, 4, 21)  # over week 7
    assert calendar.next_lecture(seoul(2025, 6, 18, 12, 15)) is None


def test_weekly_lecture_keeps_local_time_across_dst(config: Config) -> None:
    new_york = config.model_copy(
        update={"course": config.course.model_copy(update={"timezone": "America/New_York"})}
    )
    calendar = CourseCalendar(new_york)
    before = calendar.lecture_on(date(2025, 3, 5))  # EST, UTC-5
    after = calendar.lecture_on(date(2025, 3, 10))  # EDT, UTC-4 (DST began 2025-03-09)
    assert before is not None and after is not None
    for lecture in (before, after):
        local = lecture.starts_at.astimezone(ZoneInfo("America/New_York"))
        assert (local.hour, local.minute) == (11, 0)
    assert before.starts_at.astimezone(UTC).hour == 16
    assert after.starts_at.astimezone(UTC).hour == 15
    # five calendar days apart, but one hour less in absolute time
    assert after.starts_at.astimezone(UTC) - before.starts_at.astimezone(UTC) == timedelta(days=5, hours=-1)
    assert calendar.current_week(datetime(2025, 3, 10, 3, 59, tzinfo=UTC)) == 1  # Sun 23:59 EDT
