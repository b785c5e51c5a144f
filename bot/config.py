"""Typed settings: `config.toml` plus the environment, validated once at start and then injected.

`load_config(path)` returns a frozen `Config` or raises `ConfigError`, whose `problems` are
one-line explanations ("lectures.start: ...") that `coursebot check` prints.
"""

from __future__ import annotations

import re
import tomllib
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.calendar import WEEKDAYS, CourseCalendar, parse_hhmm

Weekday = Literal["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]

SUPPORTED_DATABASES = ("sqlite+aiosqlite", "postgresql+asyncpg")
_DURATION = re.compile(r"^(\d+)\s*([dhm])$", re.ASCII)
OFFSET_MAX = timedelta(days=366)  # a reminder a year ahead is the most a course needs
_UNITS = {"d": timedelta(days=1), "h": timedelta(hours=1), "m": timedelta(minutes=1)}
_RELATIVE_INSTANT = re.compile(r"^W(\d+)\s+(Mon|Tue|Wed|Thu|Fri|Sat|Sun)\s+(\d{1,2}:\d{2})$")


class ConfigError(Exception):
    """The configuration cannot be used; `problems` holds one line per problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


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


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StaffMember(_Section):
    name: str
    role: Literal["instructor", "ta"]
    email: str = ""


class Link(_Section):
    label: str
    url: str


class Grading(_Section):
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


class CourseSection(_Section):
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


class Holiday(_Section):
    date: date
    name: str = "Holiday"


class LecturesSection(_Section):
    days: tuple[Weekday, ...] = Field(min_length=1)
    start: TimeOfDay
    end: TimeOfDay
    room: str = ""
    no_class_weeks: tuple[int, ...] = ()
    holidays: tuple[Holiday, ...] = ()


class ScheduleSection(_Section):
    topics: tuple[str, ...]


class PapersSection(_Section):
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


class GroupsSection(_Section):
    max_size: PositiveInt = 3
    lock_at: str = ""
    invite_hours: PositiveInt = 48
    create_channels: bool = False
    channel_category: str = "Project Groups"


class AttendanceSection(_Section):
    code_length: int = Field(default=6, ge=4, le=12)
    minutes_open: PositiveInt = 10
    rotate_seconds: int = Field(default=15, ge=5)
    max_wrong_attempts: PositiveInt = 3
    late_after_minutes: int = Field(default=10, ge=0)
    open_grace_minutes: int = Field(default=30, ge=0, le=720)
    warn_at: tuple[PositiveInt, ...] = (1, 2)
    fail_at: PositiveInt = 3
    late_credit: float = Field(default=1.0, ge=0, le=1)  # a late check-in's share of a lecture in the score


class OfficeHoursSection(_Section):
    day: Weekday
    start: TimeOfDay
    end: TimeOfDay
    place: str
    note: str = ""
    remind: Offsets = (timedelta(hours=1),)


class RemindersSection(_Section):
    dm_per_second: float = Field(default=5, gt=0, le=25)  # Discord allows 50 requests/s in all
    talk_remind: Offsets = (timedelta(days=2),)
    talk_morning: str = "08:00"


class ReviewsSection(_Section):
    talk_window_days: PositiveInt = 2
    poster_window_days: PositiveInt = 1
    poster_session: str = "poster_session"
    reminder_time: str = "18:00"


class RegistrationSection(_Section):
    student_id_pattern: Annotated[str, AfterValidator(_check_pattern)] = r"^\d{8}$"


class AppointmentHours(_Section):
    """One weekly window in which the staff take appointments (offered by `/appointment request`)."""

    day: Weekday
    start: TimeOfDay
    end: TimeOfDay

    @model_validator(mode="after")
    def _ordered(self) -> AppointmentHours:
        if self.end <= self.start:
            raise ValueError(f"end {self.end:%H:%M} is not after start {self.start:%H:%M}")
        return self


class AppointmentsSection(_Section):
    length_minutes: int = Field(default=30, ge=5, le=240)  # how long one appointment is
    max_pending: PositiveInt = 2  # requests a student may have waiting for an answer at a time
    remind: Offsets = (timedelta(hours=1),)  # before an accepted one, to the student and the staff member
    place: str = ""  # where appointments are held, shown in the messages ("" = not said)
    hours: tuple[AppointmentHours, ...] = ()  # the staff's appointment hours, offered as free slots


class ExcusesSection(_Section):
    evidence_keep_days: int = Field(default=30, ge=0, le=3660)  # evidence is deleted this long after the term


class Deadline(_Section):
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


class RolesSection(_Section):
    instructor: Reference = "Instructor"
    ta: Reference = "TA"
    student: Reference = "Student"


class ChannelsSection(_Section):
    announcements: Reference = "announcements"
    ta_log: Reference = "ta-log"
    fallback: Reference = "bot-notices"


class DiscordSection(_Section):
    guild_id: int = Field(default=0, ge=0)
    sync_commands: bool = True
    api_base: str = ""
    gateway_url: str = ""
    roles: RolesSection = RolesSection()
    channels: ChannelsSection = ChannelsSection()


class DatabaseSection(_Section):
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


class TalksSection(_Section):
    """Talk day: a thread per talk, slides, questions from the room."""

    threads: bool = False  # a thread per talk for slides and questions
    channel: Reference = "talks"  # a text or forum channel
    thread_lead_hours: int = Field(default=24, ge=0, le=24 * 14)
    archive_after_days: PositiveInt = 7  # the thread is archived (and questions close) this long after
    slides_max_mb: int = Field(default=25, ge=1, le=100)
    questions_per_talk: PositiveInt = 5  # /talk ask per student per talk
    engagement_reminder: str = ""  # "HH:MM" on talk days: a DM to students with no engagement that week


class CalendarSection(_Section):
    """The course calendar on Discord: Scheduled Events kept in step with the data."""

    scheduled_events: bool = False  # talk days, office hours and the poster session as Scheduled Events
    lectures: bool = False  # ... and each lecture
    horizon_days: int = Field(default=14, ge=1, le=60)  # only events starting this soon exist


class OnboardingSection(_Section):
    grant_student_role: bool = False  # /register gives the student role (roster-checked when loaded)
    welcome_dm: bool = False  # DM new members how to register


class HttpSection(_Section):
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


class LoggingSection(_Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    format: Literal["text", "json"] = "text"

    @field_validator("level", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value


class Config(_Section):
    """The whole validated configuration. `token` is a secret: it never appears in a repr or log."""

    course: CourseSection
    lectures: LecturesSection
    schedule: ScheduleSection
    papers: PapersSection = PapersSection()
    groups: GroupsSection = GroupsSection()
    attendance: AttendanceSection = AttendanceSection()
    office_hours: OfficeHoursSection
    reminders: RemindersSection = RemindersSection()
    registration: RegistrationSection = RegistrationSection()
    appointments: AppointmentsSection = AppointmentsSection()
    excuses: ExcusesSection = ExcusesSection()
    reviews: ReviewsSection = ReviewsSection()
    deadlines: tuple[Deadline, ...] = ()
    discord: DiscordSection = DiscordSection()
    database: DatabaseSection = DatabaseSection()
    onboarding: OnboardingSection = OnboardingSection()
    talks: TalksSection = TalksSection()
    calendar: CalendarSection = CalendarSection()
    http: HttpSection = HttpSection()
    logging: LoggingSection = LoggingSection()
    token: SecretStr | None = None
    source: str = ""

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.course.timezone)

    def deadline(self, key: str) -> Deadline | None:
        return next((d for d in self.deadlines if d.key == key), None)


class Environment(BaseSettings):
    """What comes from the environment: the token (a secret) and an optional database URL."""

    model_config = SettingsConfigDict(env_prefix="", extra="ignore")

    discord_token: SecretStr | None = None
    database_url: str | None = None


def _format_location(loc: tuple[int | str, ...]) -> str:
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts[-1:] = [f"{parts[-1]}[{item}]"] if parts else [f"[{item}]"]
        elif not item.startswith(("function-", "tagged-union")):
            parts.append(item)
    return ".".join(parts) or "(top level)"


def _name_deadlines(loc: tuple[int | str, ...], data: dict[str, Any]) -> tuple[int | str, ...]:
    """`deadlines[2]` → `deadlines[signup]`: a TA finds a deadline by its key, not by counting tables."""
    if len(loc) >= 2 and loc[0] == "deadlines" and isinstance(loc[1], int):
        entries = data.get("deadlines")
        entry = entries[loc[1]] if isinstance(entries, list) and loc[1] < len(entries) else None
        key = entry.get("key") if isinstance(entry, dict) else None
        if isinstance(key, str) and key:
            return (f"deadlines[{key}]", *loc[2:])
    return loc


def _explain(error: ValidationError, data: dict[str, Any]) -> list[str]:
    lines = []
    for item in error.errors():
        message = item["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
        if item["type"] == "missing":
            message = "is required but missing"
        elif item["type"] == "extra_forbidden":
            message = "is not a known key (typo?)"
        lines.append(f"{_format_location(_name_deadlines(tuple(item['loc']), data))}: {message}")
    return lines


def resolve_database_url(url: str, base: Path) -> str:
    """A SQLite URL with a relative path made absolute against `base` (the config file's folder);
    other URLs unchanged. Raises nothing: a URL that does not parse is left to validation."""
    if not url.startswith("sqlite"):
        return url
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except ArgumentError:
        return url
    path = parsed.database
    if not path or path == ":memory:" or path.startswith("file:") or Path(path).is_absolute():
        return url
    return parsed.set(database=str((base / path).resolve())).render_as_string(hide_password=False)


def parse_config(
    data: dict[str, Any],
    *,
    environment: Environment | None = None,
    source: str = "",
    base: Path | None = None,
) -> Config:
    """Validate a decoded TOML document; a relative SQLite path is resolved against `base` (default:
    the folder of `source`, else the current one). Raises ConfigError listing every problem."""
    environment = environment if environment is not None else Environment()
    base = base if base is not None else (Path(source).resolve().parent if source else Path.cwd())
    data = dict(data)
    # `token` and `source` are filled in here, never from the file (and a token's value is never echoed).
    misplaced = [
        "token: the bot token is read from the environment variable DISCORD_TOKEN, never from the file"
        if key == "token"
        else f"{key}: is not a known key (typo?)"
        for key in ("token", "source")
        if key in data
    ]
    if environment.database_url:
        data["database"] = {**data.get("database", {}), "url": environment.database_url}
    database = data.get("database")
    if isinstance(database, dict) and isinstance(database.get("url"), str):
        data["database"] = {**database, "url": resolve_database_url(database["url"], base)}
    data["token"] = environment.discord_token
    data["source"] = source
    try:
        config = Config.model_validate(data)
    except ValidationError as error:
        raise ConfigError(misplaced + _explain(error, data)) from None
    if misplaced:
        raise ConfigError(misplaced)
    problems = CourseCalendar(config).problems()  # what needs the dates resolved
    if problems:
        raise ConfigError(problems)
    return config


def load_environment(folder: Path) -> Environment:
    """The environment, with `DISCORD_TOKEN` / `DATABASE_URL` also read from `folder/.env` (the
    environment wins). Raises ConfigError when the `.env` file cannot be read."""
    env_file = folder / ".env"
    try:
        return Environment(_env_file=env_file if env_file.is_file() else None)  # type: ignore[call-arg]
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError([f"{env_file}: cannot be read ({error})"]) from None


def load_config(path: str | Path, *, environment: Environment | None = None) -> Config:
    """Read and validate `path`; the token may also come from a `.env` next to it. Raises ConfigError
    (missing file, a folder, unreadable, bad TOML, invalid values)."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError([f"{path}: no such file (give the config with --config FILE)"]) from None
    except IsADirectoryError:
        raise ConfigError([f"{path}: is a folder, not a config file (give --config FILE)"]) from None
    except PermissionError:
        raise ConfigError([f"{path}: permission denied"]) from None
    except UnicodeDecodeError:
        raise ConfigError([f"{path}: not a text file (UTF-8 TOML expected)"]) from None
    except OSError as error:
        raise ConfigError([f"{path}: cannot be read ({error.strerror})"]) from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError([f"{path}: not valid TOML: {error}"]) from None
    folder = path.resolve().parent
    if environment is None:
        environment = load_environment(folder)
    return parse_config(data, environment=environment, source=str(path), base=folder)
