"""Typed settings: `config.toml` plus the environment, validated once at start and then injected.

`load_config(path)` returns a frozen `Config` or raises `ConfigError`, whose `problems` are
one-line explanations ("lectures.start: ...") that `coursebot check` prints. The models of the
file's tables live in `bot.config_sections`; every name there can be imported from here too.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.calendar import CourseCalendar
from bot.config_sections import (
    OFFSET_MAX,
    SUPPORTED_DATABASES,
    AppointmentHours,
    AppointmentsSection,
    AttendanceSection,
    CalendarSection,
    ChannelsSection,
    CourseSection,
    DatabaseSection,
    Deadline,
    DiscordSection,
    ExcusesSection,
    Grading,
    GroupsSection,
    Holiday,
    HttpSection,
    InstantSpec,
    LecturesSection,
    Link,
    LoggingSection,
    OfficeHoursSection,
    Offsets,
    OnboardingSection,
    PapersSection,
    PositiveInt,
    Reference,
    RegistrationSection,
    RemindersSection,
    ReviewsSection,
    RolesSection,
    ScheduleSection,
    Section,
    StaffMember,
    TalksSection,
    TimeOfDay,
    Timezone,
    Weekday,
    parse_offsets,
    reference_matches,
)

__all__ = [
    "OFFSET_MAX",
    "SUPPORTED_DATABASES",
    "AppointmentHours",
    "AppointmentsSection",
    "AttendanceSection",
    "CalendarSection",
    "ChannelsSection",
    "Config",
    "ConfigError",
    "CourseSection",
    "DatabaseSection",
    "Deadline",
    "DiscordSection",
    "Environment",
    "ExcusesSection",
    "Grading",
    "GroupsSection",
    "Holiday",
    "HttpSection",
    "InstantSpec",
    "LecturesSection",
    "Link",
    "LoggingSection",
    "OfficeHoursSection",
    "Offsets",
    "OnboardingSection",
    "PapersSection",
    "PositiveInt",
    "Reference",
    "RegistrationSection",
    "RemindersSection",
    "ReviewsSection",
    "RolesSection",
    "ScheduleSection",
    "Section",
    "StaffMember",
    "TalksSection",
    "TimeOfDay",
    "Timezone",
    "Weekday",
    "load_config",
    "load_environment",
    "parse_config",
    "parse_offsets",
    "reference_matches",
    "resolve_database_url",
]


class ConfigError(Exception):
    """The configuration cannot be used; `problems` holds one line per problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class Config(Section):
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
