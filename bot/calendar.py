"""The course calendar: weeks, lecture dates, no-class weeks, holidays, talk dates, deadlines.

Pure: every answer is computed from the config and the arguments; nothing here reads the clock.
Instants are timezone-aware datetimes; dates are local to the course timezone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the calendar is built from a Config; config.py imports this module
    from bot.config import Config

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_RELATIVE = re.compile(r"^W(\d+)\s+(Mon|Tue|Wed|Thu|Fri|Sat|Sun)\s+(\d{1,2}):(\d{2})$")


def parse_hhmm(value: Any) -> time:
    """Parse "HH:MM" (24 h). Raises ValueError with a readable reason."""
    if isinstance(value, time):
        return value
    if not isinstance(value, str) or not re.fullmatch(r"\d{1,2}:\d{2}", value.strip()):
        raise ValueError(f"{value!r} is not a time in HH:MM form")
    hours, minutes = (int(part) for part in value.strip().split(":"))
    if hours > 23 or minutes > 59:
        raise ValueError(f"{value!r} is not a time of day")
    return time(hours, minutes)


@dataclass(frozen=True)
class Lecture:
    """One scheduled lecture: its local date, week number and start/end instants."""

    date: date
    week: int
    starts_at: datetime
    ends_at: datetime


@dataclass(frozen=True)
class ResolvedDeadline:
    key: str
    title: str
    due_at: datetime
    remind: tuple[timedelta, ...]


class CourseCalendar:
    """Answers date questions about the configured term."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.tz = config.tz
        self.first_monday = config.course.first_monday
        self.weeks = config.course.weeks

    # ---- weeks -------------------------------------------------------------------------------
    @property
    def term_start(self) -> date:
        return self.first_monday

    @property
    def term_end(self) -> date:
        """The Sunday of the last week."""
        return self.first_monday + timedelta(weeks=self.weeks, days=-1)

    def week_of(self, day: date) -> int | None:
        """The week number (1-based) containing `day`, or None outside the term."""
        if not self.term_start <= day <= self.term_end:
            return None
        return (day - self.first_monday).days // 7 + 1

    def week_start(self, week: int) -> date:
        """The Monday of `week`."""
        return self.first_monday + timedelta(weeks=week - 1)

    def day_in_week(self, week: int, weekday: str) -> date:
        return self.week_start(week) + timedelta(days=WEEKDAYS.index(weekday))

    def local_date(self, instant: datetime) -> date:
        return instant.astimezone(self.tz).date()

    def current_week(self, now: datetime) -> int | None:
        """The week `now` falls in, or None before or after the term."""
        return self.week_of(self.local_date(now))

    def topic(self, week: int) -> str:
        topics = self.config.schedule.topics
        return topics[week - 1] if 1 <= week <= len(topics) else ""

    def at(self, day: date, clock: time) -> datetime:
        """The instant of local wall-clock `clock` on `day` (DST-safe through zoneinfo)."""
        return datetime.combine(day, clock, tzinfo=self.tz)

    # ---- lectures ----------------------------------------------------------------------------
    def holiday_name(self, day: date) -> str | None:
        return next((h.name for h in self.config.lectures.holidays if h.date == day), None)

    def is_no_class_week(self, week: int) -> bool:
        return week in self.config.lectures.no_class_weeks

    @cached_property
    def lectures(self) -> tuple[Lecture, ...]:
        """Every lecture of the term in order, skipping no-class weeks and holidays."""
        lectures = self.config.lectures
        result = []
        for week in range(1, self.weeks + 1):
            if self.is_no_class_week(week):
                continue
            for weekday in sorted(lectures.days, key=WEEKDAYS.index):
                day = self.day_in_week(week, weekday)
                if self.holiday_name(day) is None:
                    result.append(
                        Lecture(day, week, self.at(day, lectures.start), self.at(day, lectures.end))
                    )
        return tuple(result)

    def lecture_on(self, day: date) -> Lecture | None:
        return next((lecture for lecture in self.lectures if lecture.date == day), None)

    def lectures_in_week(self, week: int) -> tuple[Lecture, ...]:
        return tuple(lecture for lecture in self.lectures if lecture.week == week)

    def lectures_between(self, start: datetime, end: datetime) -> tuple[Lecture, ...]:
        """Lectures that started at or after `start` and before `end`."""
        return tuple(lecture for lecture in self.lectures if start <= lecture.starts_at < end)

    def next_lecture(self, now: datetime) -> Lecture | None:
        return next((lecture for lecture in self.lectures if lecture.ends_at > now), None)

    # ---- talks -------------------------------------------------------------------------------
    def is_talk_week(self, week: int) -> bool:
        papers = self.config.papers
        return papers.first_week <= week <= papers.last_week

    def talk_date(self, week: int) -> date:
        """The day of the student talks in `week` (its Wednesday by default)."""
        return self.day_in_week(week, self.config.papers.talk_day)

    def talk_starts_at(self, week: int, order: int = 0) -> datetime:
        """When talk number `order` (0-based) of `week` starts, talks back to back from lecture start."""
        papers = self.config.papers
        slot = timedelta(minutes=papers.talk_minutes + papers.qa_minutes)
        return self.at(self.talk_date(week), self.config.lectures.start) + order * slot

    # ---- instants and deadlines --------------------------------------------------------------
    def resolve(self, spec: str) -> datetime:
        """Turn "W3 Sun 23:59" or "2025-03-23 23:59" (or ISO 8601 with offset) into an instant.

        Raises ValueError when `spec` is neither form.
        """
        text = spec.strip()
        match = _RELATIVE.match(text)
        if match:
            week, weekday, hours, minutes = int(match[1]), match[2], int(match[3]), int(match[4])
            return self.at(self.day_in_week(week, weekday), time(hours, minutes))
        parsed = datetime.fromisoformat(text)
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=self.tz)

    def resolve_moment(self, spec: str) -> datetime | None:
        """A deadline key or an instant spec, resolved; None for "" (never)."""
        if not spec.strip():
            return None
        deadline = self.config.deadline(spec.strip())
        return self.resolve(deadline.due if deadline else spec)

    @cached_property
    def deadlines(self) -> tuple[ResolvedDeadline, ...]:
        """Configured deadlines with their instants, in order of due time."""
        resolved = [
            ResolvedDeadline(d.key, d.title, self.resolve(d.due), d.remind) for d in self.config.deadlines
        ]
        return tuple(sorted(resolved, key=lambda d: d.due_at))

    # ---- validation --------------------------------------------------------------------------
    def problems(self) -> list[str]:
        """Cross-field problems of the config, one line each, with the key that is wrong."""
        config = self.config
        problems: list[str] = []
        lectures, weeks = config.lectures, self.weeks
        if lectures.end <= lectures.start:
            problems.append(
                f"lectures.end: {lectures.end:%H:%M} is not after lectures.start {lectures.start:%H:%M}"
            )
        for day in sorted(set(lectures.days), key=WEEKDAYS.index):
            if lectures.days.count(day) > 1:
                problems.append(f"lectures.days: {day} is listed more than once")
        for week in lectures.no_class_weeks:
            if not 1 <= week <= weeks:
                problems.append(f"lectures.no_class_weeks: week {week} is outside weeks 1-{weeks}")
        for index, holiday in enumerate(lectures.holidays):
            if self.week_of(holiday.date) is None:
                problems.append(f"lectures.holidays[{index}].date: {holiday.date} is outside the term")
        if len(config.schedule.topics) != weeks:
            problems.append(f"schedule.topics: {len(config.schedule.topics)} topics for {weeks} weeks")
        office = config.office_hours
        if office.end <= office.start:
            problems.append(
                f"office_hours.end: {office.end:%H:%M} is not after office_hours.start {office.start:%H:%M}"
            )
        papers = config.papers
        if papers.last_week < papers.first_week:
            problems.append(
                f"papers.last_week: week {papers.last_week} is before papers.first_week {papers.first_week}"
            )
        if papers.last_week > weeks:
            problems.append(f"papers.last_week: week {papers.last_week} is after the last week {weeks}")
        attendance = config.attendance
        for count in attendance.warn_at:
            if count >= attendance.fail_at:
                problems.append(
                    f"attendance.warn_at: {count} is not below attendance.fail_at {attendance.fail_at}"
                )
        for key, value in (
            ("reminders.talk_morning", config.reminders.talk_morning),
            ("reviews.reminder_time", config.reviews.reminder_time),
            ("talks.engagement_reminder", config.talks.engagement_reminder),
        ):
            if value:
                try:
                    parse_hhmm(value)
                except ValueError as error:
                    problems.append(f"{key}: {error}")
        keys: set[str] = set()
        term_from = self.at(self.term_start, time(0, 0))
        term_to = self.at(self.term_end, time(23, 59))
        for deadline in config.deadlines:
            if deadline.key in keys:
                problems.append(f"deadlines[{deadline.key}].key: {deadline.key!r} is used twice")
            keys.add(deadline.key)
            due = self.resolve(deadline.due)
            if not term_from <= due <= term_to:
                problems.append(
                    f"deadlines[{deadline.key}].due: {deadline.due!r} ({due:%Y-%m-%d %H:%M}) is outside the term "
                    f"{self.term_start} to {self.term_end}"
                )
        for key in (
            "papers.signup_opens",
            "papers.signup_closes",
            "groups.lock_at",
            "reviews.poster_session",
        ):
            section, name = key.split(".")
            spec = getattr(getattr(config, section), name)
            if spec.strip() and config.deadline(spec.strip()) is None:
                try:
                    self.resolve(spec)
                except ValueError:
                    problems.append(f"{key}: {spec!r} is neither a deadline key nor an instant")
        if not problems:
            opens = self.resolve_moment(papers.signup_opens)
            closes = self.resolve_moment(papers.signup_closes)
            if opens and closes and closes <= opens:
                problems.append(f"papers.signup_closes: {closes:%Y-%m-%d %H:%M} is not after sign-up opens")
        return problems
