"""The course plan as data: what `/course` and `/schedule` show, computed from config and calendar."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from bot.calendar import Lecture
from bot.errors import InvalidInput
from bot.services import Services
from bot.services.cache import TERM_PLAN, kept


@dataclass(frozen=True)
class WeekPlan:
    week: int
    monday: date
    sunday: date
    topic: str
    no_class: bool
    lectures: tuple[Lecture, ...]
    holidays: tuple[tuple[date, str], ...]  # lecture days skipped for a holiday
    talk_date: date | None  # the student-talk day in talk weeks
    is_current: bool


def check_week(services: Services, week: int) -> int:
    """Raises InvalidInput unless `week` is within the term."""
    weeks = services.config.course.weeks
    if not 1 <= week <= weeks:
        raise InvalidInput(f"Week must be between 1 and {weeks}.")
    return week


def week_plan(services: Services, week: int, *, now: datetime | None = None) -> WeekPlan:
    """The plan of one week. Raises InvalidInput for a week outside the term."""
    calendar, lectures = services.calendar, services.config.lectures
    check_week(services, week)
    now = now or services.now()
    monday = calendar.week_start(week)
    skipped = []
    if not calendar.is_no_class_week(week):
        for weekday in lectures.days:
            day = calendar.day_in_week(week, weekday)
            holiday = calendar.holiday_name(day)
            if holiday:
                skipped.append((day, holiday))
    return WeekPlan(
        week=week,
        monday=monday,
        sunday=calendar.day_in_week(week, "Sun"),
        topic=calendar.topic(week),
        no_class=calendar.is_no_class_week(week),
        lectures=calendar.lectures_in_week(week),
        holidays=tuple(sorted(skipped)),
        talk_date=calendar.talk_date(week) if calendar.is_talk_week(week) else None,
        is_current=calendar.current_week(now) == week,
    )


def term_plan(services: Services) -> list[WeekPlan]:
    """Every week of the term, in order. Computed once per current week: nothing else in it changes
    while the bot runs (the calendar comes from config)."""
    now = services.now()
    current = services.calendar.current_week(now)

    def compute() -> tuple[WeekPlan, ...]:
        weeks = range(1, services.config.course.weeks + 1)
        return tuple(week_plan(services, week, now=now) for week in weeks)

    return list(kept(services, TERM_PLAN, current, compute))
