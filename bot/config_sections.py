"""The tables of `config.toml` as typed, frozen models (one per table) and the value types they
share (durations, offsets, times of day, role and channel references). `bot.config` puts them
together into `Config`, validates the whole file and re-exports every name here.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from bot.calendar import WEEKDAYS, parse_hhmm

Weekday = Literal["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]

SUPPORTED_DATABASES = ("sqlite+aiosqlite", "postgresql+asyncpg")
_DURATION = re.compile(r"^(\d+)\s*([dhm])$", re.ASCII)
OFFSET_MAX = timedelta(days=366)  # a reminder a year ahead is the most a course needs
_UNITS = {"d": timedelta(days=1), "h": timedelta(hours=1), "m": timedelta(minutes=1)}
_RELATIVE_INSTANT = re.compile(r"^W(\d+)\s+(Mon|Tue|Wed|Thu|Fri|Sat|Sun)\s+(\d{1,2}:\d{2})$")


def parse_offsets(value: Any) -> tuple[timedelta, ...]:
    """Parse "7d,1d,1h,30m" into durations, largest first; each at most `OFFSET_MAX` (366 days).
    Raises ValueError with a readable reason."""
    if isinstance(value, tuple):
        return value
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a list of offsets like '7d,1d,1h'")
    offsets = []
    for part in filter(None, (p.strip() for p in value.split(","))):
        shown = repr(part if len(part) <= 24 else part[:20] + "…")
        match = _DURATION.match(part)
        if not match:
            raise ValueError(f"{shown} is not an offset like 7d, 1h or 30m")
        digits, unit = match.group(1).lstrip("0"), _UNITS[match.group(2)]
        if not digits:
            raise ValueError(f"{shown} is zero")
        if len(digits) > 9 or int(digits) * unit > OFFSET_MAX:  # 9 digits: timedelta cannot overflow
            raise ValueError(f"{shown} is more than {OFFSET_MAX.days} days, the longest an offset can be")
        offsets.append(int(digits) * unit)
    return tuple(sorted(set(offsets), reverse=True))


def _check_timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{value!r} is not an IANA timezone such as Asia/Seoul") from None
    return value


def _check_instant_spec(value: str) -> str:
    text = value.strip()
    if _RELATIVE_INSTANT.match(text):
        parse_hhmm(text.rsplit(" ", 1)[1])
        return text
    try:
        datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{value!r} is neither 'YYYY-MM-DD HH:MM' nor 'W<week> <weekday> HH:MM'") from None
    return text


def _check_pattern(value: str) -> str:
    try:
        re.compile(value)
    except re.error as error:
        raise ValueError(f"{value!r} is not a regular expression: {error}") from None
    return value


TimeOfDay = Annotated[time, BeforeValidator(parse_hhmm)]
Offsets = Annotated[tuple[timedelta, ...], BeforeValidator(parse_offsets)]
InstantSpec = Annotated[str, AfterValidator(_check_instant_spec)]
Timezone = Annotated[str, AfterValidator(_check_timezone)]
PositiveInt = Annotated[int, Field(ge=1)]


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StaffMember(Section):
    name: str
    role: Literal["instructor", "ta"]
    email: str = ""


class Link(Section):
    label: str
    url: str


class Grading(Section):
    attendance: int = Field(ge=0, le=100)
    presentation: int = Field(ge=0, le=100)
    proposal: int = Field(ge=0, le=100)
    final: int = Field(ge=0, le=100)

    @model_validator(mode="after")
    def _adds_up(self) -> Grading:
        total = self.attendance + self.presentation + self.proposal + self.final
        if total != 100:
            raise ValueError(f"the weights add up to {total}, not 100")
        return self


class CourseSection(Section):
    code: str = Field(min_length=1)
    name: str = Field(min_length=1)
    term: str = Field(min_length=1)
    institution: str = ""
    timezone: Timezone = "Asia/Seoul"
    first_monday: date
    weeks: PositiveInt = 16
    description: str = ""
    staff: tuple[StaffMember, ...] = ()
    links: tuple[Link, ...] = ()
    grading: Grading

    @field_validator("first_monday")
    @classmethod
    def _monday(cls, value: date) -> date:
        if value.weekday() != 0:
            raise ValueError(f"{value} is a {WEEKDAYS[value.weekday()]}, not a Monday")
        return value


class Holiday(Section):
    date: date
    name: str = "Holiday"


class LecturesSection(Section):
    days: tuple[Weekday, ...] = Field(min_length=1)
    start: TimeOfDay
    end: TimeOfDay
    room: str = ""
    no_class_weeks: tuple[int, ...] = ()
    holidays: tuple[Holiday, ...] = ()


class ScheduleSection(Section):
    topics: tuple[str, ...]


class PapersSection(Section):
    capacity: PositiveInt = 2
    per_week: PositiveInt = 3
    first_week: PositiveInt = 9
    last_week: PositiveInt = 15
    talk_day: Weekday = "Wed"
    talk_minutes: PositiveInt = 20
    qa_minutes: int = Field(default=5, ge=0)
    max_per_student: PositiveInt = 1
    signup_opens: str = "paper_list"
    signup_closes: str = "signup"
    sample_csv: str = ""


class GroupsSection(Section):
    max_size: PositiveInt = 3
    lock_at: str = ""
    invite_hours: PositiveInt = 48
    create_channels: bool = False
    channel_category: str = "Project Groups"


class AttendanceSection(Section):
    code_length: int = Field(default=6, ge=4, le=12)
    minutes_open: PositiveInt = 10
    rotate_seconds: int = Field(default=15, ge=5)
    max_wrong_attempts: PositiveInt = 3
    late_after_minutes: int = Field(default=10, ge=0)
    open_grace_minutes: int = Field(default=30, ge=0, le=720)
    warn_at: tuple[PositiveInt, ...] = (1, 2)
    fail_at: PositiveInt = 3
    late_credit: float = Field(default=1.0, ge=0, le=1)  # a late check-in's share of a lecture in the score


class OfficeHoursSection(Section):
    day: Weekday
    start: TimeOfDay
    end: TimeOfDay
    place: str
    note: str = ""
    remind: Offsets = (timedelta(hours=1),)


class RemindersSection(Section):
    dm_per_second: float = Field(default=5, gt=0, le=25)  # Discord allows 50 requests/s in all
    talk_remind: Offsets = (timedelta(days=2),)
    talk_morning: str = "08:00"


class ReviewsSection(Section):
    talk_window_days: PositiveInt = 2
    poster_window_days: PositiveInt = 1
    poster_session: str = "poster_session"
    reminder_time: str = "18:00"


class RegistrationSection(Section):
    student_id_pattern: Annotated[str, AfterValidator(_check_pattern)] = r"^\d{8}$"


class AppointmentHours(Section):
    """One weekly window in which the staff take appointments (offered by `/appointment request`)."""

    day: Weekday
    start: TimeOfDay
    end: TimeOfDay

    @model_validator(mode="after")
    def _ordered(self) -> AppointmentHours:
        if self.end <= self.start:
            raise ValueError(f"end {self.end:%H:%M} is not after start {self.start:%H:%M}")
        return self


class AppointmentsSection(Section):
    length_minutes: int = Field(default=30, ge=5, le=240)  # how long one appointment is
    max_pending: PositiveInt = 2  # requests a student may have waiting for an answer at a time
    remind: Offsets = (timedelta(hours=1),)  # before an accepted one, to the student and the staff member
    place: str = ""  # where appointments are held, shown in the messages ("" = not said)
    hours: tuple[AppointmentHours, ...] = ()  # the staff's appointment hours, offered as free slots


class ExcusesSection(Section):
    evidence_keep_days: int = Field(default=30, ge=0, le=3660)  # evidence is deleted this long after the term


class Deadline(Section):
    key: str = Field(pattern=r"^[a-z0-9_]{1,32}$")
    title: str = Field(min_length=1, max_length=200)
    due: InstantSpec
    remind: Offsets = (timedelta(days=7), timedelta(days=1), timedelta(hours=1))


def _reference_text(value: Any) -> Any:
    """A role or channel reference: a name, or a numeric id as a TOML integer or a string of digits."""
    if isinstance(value, int) and not isinstance(value, bool):
        if value <= 0:
            raise ValueError(f"{value} is not a Discord id (ids are positive)")
        return str(value)
    if isinstance(value, str) and not value.strip():
        raise ValueError("is empty: give a name or a numeric id")
    return value.strip() if isinstance(value, str) else value


Reference = Annotated[str, BeforeValidator(_reference_text)]


def reference_matches(item_id: int, item_name: str, reference: str) -> bool:
    """Whether a role or channel is the one a config reference names: a numeric id, or else a name
    (case-insensitive)."""
    wanted = reference.strip()
    return str(item_id) == wanted if wanted.isdigit() else item_name.casefold() == wanted.casefold()


class RolesSection(Section):
    instructor: Reference = "Instructor"
    ta: Reference = "TA"
    student: Reference = "Student"


class ChannelsSection(Section):
    announcements: Reference = "announcements"
    ta_log: Reference = "ta-log"
    fallback: Reference = "bot-notices"


class DiscordSection(Section):
    guild_id: int = Field(default=0, ge=0)
    sync_commands: bool = True
    api_base: str = ""
    gateway_url: str = ""
    roles: RolesSection = RolesSection()
    channels: ChannelsSection = ChannelsSection()


class DatabaseSection(Section):
    url: str = "sqlite+aiosqlite:///data/coursebot.db"

    @field_validator("url")
    @classmethod
    def _supported(cls, value: str) -> str:
        scheme = value.split("://", 1)[0] if "://" in value else ""
        if scheme not in SUPPORTED_DATABASES:
            raise ValueError(
                f"{value.split('://', 1)[0] + '://' if scheme else repr(value)} is not supported: use "
                "sqlite+aiosqlite:///path/to/file.db or postgresql+asyncpg://user:password@host/database"
            )
        return value


class TalksSection(Section):
    """Talk day: a thread per talk, slides, questions from the room."""

    threads: bool = False  # a thread per talk for slides and questions
    channel: Reference = "talks"  # a text or forum channel
    thread_lead_hours: int = Field(default=24, ge=0, le=24 * 14)
    archive_after_days: PositiveInt = 7  # the thread is archived (and questions close) this long after
    slides_max_mb: int = Field(default=25, ge=1, le=100)
    questions_per_talk: PositiveInt = 5  # /talk ask per student per talk
    engagement_reminder: str = ""  # "HH:MM" on talk days: a DM to students with no engagement that week


class CalendarSection(Section):
    """The course calendar on Discord: Scheduled Events kept in step with the data."""

    scheduled_events: bool = False  # talk days, office hours and the poster session as Scheduled Events
    lectures: bool = False  # ... and each lecture
    horizon_days: int = Field(default=14, ge=1, le=60)  # only events starting this soon exist


class OnboardingSection(Section):
    grant_student_role: bool = False  # /register gives the student role (roster-checked when loaded)
    welcome_dm: bool = False  # DM new members how to register


class HttpSection(Section):
    port: int = Field(default=0, ge=0, le=65535)  # 0 = off
    bind: str = "127.0.0.1"
    public_url: str = ""

    @field_validator("public_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        text = value.strip().rstrip("/")
        if text and not re.fullmatch(r"https?://[^\s/?#]+(/[^\s?#]*)?", text):
            raise ValueError(f"{value!r} is not a URL like https://bot.example.edu")
        return text


class LoggingSection(Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    format: Literal["text", "json"] = "text"

    @field_validator("level", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value
