"""Reading what a person types into the sandbox: durations and instants for the clock, slash
commands with their options, button labels. Every mistake is one LineError whose message is the
sentence to show: which option, what it expects, the valid choices, the closest name."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any

from discord import AppCommandOptionType, app_commands

from bot.calendar import CourseCalendar

MAX_ADVANCE = timedelta(days=366)
_DURATION_PART = re.compile(r"(\d+)\s*(w|d|h|m|s)", re.IGNORECASE)
_UNIT = {
    "w": timedelta(weeks=1),
    "d": timedelta(days=1),
    "h": timedelta(hours=1),
    "m": timedelta(minutes=1),
    "s": timedelta(seconds=1),
}
_WORD = re.compile(r"[a-z_][a-z0-9_]*", re.IGNORECASE)
_OPTION_START = re.compile(r"(?:^|\s)([A-Za-z_][A-Za-z0-9_]*):")
_INTEGER = re.compile(r"[+-]?[0-9]+")
_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")
_TRUE, _FALSE = ("true", "yes", "on", "1", "y"), ("false", "no", "off", "0", "n")
_HHMM = re.compile(r"(\d{1,2}):(\d{2})")


class LineError(Exception):
    """A line the sandbox cannot run as typed; the message is the one sentence to show."""


def closest(word: str, choices: Iterable[str]) -> str | None:
    """The choice most like `word` (for "did you mean"), or None."""
    found = difflib.get_close_matches(word.lower(), [c.lower() for c in choices], n=1, cutoff=0.6)
    if not found:
        return None
    return next(c for c in choices if c.lower() == found[0])


def did_you_mean(word: str, choices: Iterable[str], shown: str = "{}") -> str:
    """` — did you mean X?` when one choice is close, else ""."""
    choices = list(choices)
    match = closest(word, choices)
    return f"; did you mean {shown.format(match)}?" if match else ""


def clip(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


# ---- the clock ------------------------------------------------------------------------------
def parse_duration(text: str) -> timedelta:
    """`1d`, `2h`, `30m`, `1w`, `1d2h`, `1h 30m` → a positive duration of at most 366 days.
    Raises LineError."""
    given = text.strip()
    example = "e.g. !advance 1d, 2h, 30m, 1w or 1d2h"
    if not given:
        raise LineError(f"say how far to move the clock, {example}")
    if given.startswith("-"):
        raise LineError(f"`{clip(given)}`: the sandbox clock only moves forward, {example}")
    if "," in given:
        raise LineError(f"`{clip(given)}`: one duration, not a list ({example})")
    compact = re.sub(r"\s+", "", given)
    parts = _DURATION_PART.findall(compact)
    if not parts or "".join(n + u for n, u in parts).lower() != compact.lower():
        raise LineError(f"`{clip(given)}` is not a duration: {example}")
    total = timedelta(0)
    for number, unit in parts:
        if len(number) > 7:
            raise LineError(
                f"`{clip(given)}` is more than {MAX_ADVANCE.days} days; move the clock in smaller steps"
            )
        total += int(number) * _UNIT[unit.lower()]
    if total <= timedelta(0):
        raise LineError(f"`{clip(given)}` is no time at all: {example}")
    if total > MAX_ADVANCE:
        raise LineError(
            f"`{clip(given)}` is more than {MAX_ADVANCE.days} days; move the clock in smaller steps"
        )
    return total


def parse_instant(text: str, calendar: CourseCalendar, now: datetime) -> datetime:
    """`2025-03-12 11:00`, ISO 8601 with an offset, `W9 Wed 11:00`, a deadline key (`signup`), a date
    (its midnight) or `HH:MM` (the next such time) → an instant after `now`. Raises LineError."""
    given = text.strip()
    example = "e.g. !until 2025-03-12 11:00, !until W9 Wed 11:00, !until signup or !until 17:00"
    if not given:
        raise LineError(f"say until when, {example}")
    hhmm = _HHMM.fullmatch(given)
    if hhmm:
        hours, minutes = int(hhmm[1]), int(hhmm[2])
        if hours > 23 or minutes > 59:
            raise LineError(f"`{given}` is not a time of day")
        day = calendar.local_date(now)
        today = calendar.at(day, time(hours, minutes))
        return today if today > now else calendar.at(day + timedelta(days=1), time(hours, minutes))
    try:
        instant = calendar.resolve_moment(given)
    except (ValueError, KeyError, OverflowError):
        raise LineError(f"`{clip(given)}` is not an instant: {example}") from None
    if instant is None:
        raise LineError(f"say until when, {example}")
    if instant <= now:
        raise LineError(
            f"`{clip(given)}` is not after now ({now.astimezone(calendar.tz):%a %Y-%m-%d %H:%M}); "
            "the sandbox clock only moves forward"
        )
    if instant - now > MAX_ADVANCE:
        raise LineError(
            f"`{clip(given)}` is more than {MAX_ADVANCE.days} days ahead; move the clock in smaller steps"
        )
    return instant


# ---- slash commands -------------------------------------------------------------------------
Command = app_commands.Command[Any, ..., Any]
Group = app_commands.Group


def usage(command: Command) -> str:
    """`/signup paper number:…` with optional options in brackets."""
    options = [f"{p.name}:…" if p.required else f"[{p.name}:…]" for p in command.parameters]
    return " ".join([f"/{command.qualified_name}", *options])


def leaf_commands(items: Iterable[Command | Group]) -> list[Command]:
    """Every runnable command under `items`, groups expanded."""
    found: list[Command] = []
    for item in items:
        if isinstance(item, Group):
            found.extend(leaf_commands(item.commands))
        else:
            found.append(item)
    return found


def resolve_command(roots: Mapping[str, Command | Group], words: list[str]) -> tuple[Command, int]:
    """The command named by the first words of `words` and how many words it took. Raises LineError
    (no such command, a group without a subcommand, no such subcommand)."""
    if not words or not _WORD.fullmatch(words[0].split(":")[0] or "-"):
        raise LineError(
            f"type a command after the slash, e.g. /course (commands: {', '.join('/' + n for n in sorted(roots))})"
        )
    name = words[0].lower()
    item = roots.get(name)
    if item is None:
        raise LineError(
            f"/{clip(words[0])} is not a command{did_you_mean(name, roots, '/{}')} "
            f"(commands: {', '.join('/' + n for n in sorted(roots))})"
        )
    used = 1
    while isinstance(item, Group):
        subcommands = {c.name: c for c in item.commands}
        listed = ", ".join(sorted(subcommands))
        if used >= len(words) or ":" in words[used]:
            raise LineError(
                f"/{item.qualified_name} needs a subcommand: {listed} (e.g. /{item.qualified_name} {sorted(subcommands)[0]})"
            )
        word = words[used].lower()
        found = subcommands.get(word)
        if found is None:
            raise LineError(
                f"/{item.qualified_name} has no subcommand `{clip(words[used])}`"
                f"{did_you_mean(word, subcommands, '`{}`')} (its subcommands: {listed})"
            )
        item, used = found, used + 1
    return item, used


def split_options(command: Command, text: str) -> dict[str, str]:
    """`number:4 reason:prose with: colons` → raw values by option name. An unknown `word:` stays
    part of the value before it (prose), unless it is the first thing or close to an option's name.
    Raises LineError."""
    names = {p.name for p in command.parameters}
    text = text.strip()
    if not text:
        return {}
    starts = [m for m in _OPTION_START.finditer(text)]
    known = [m for m in starts if m.group(1).lower() in names]
    for match in starts:
        word = match.group(1)
        if word.lower() in names:
            continue
        unused = [n for n in names if n not in {m.group(1).lower() for m in known}]
        near = closest(word, unused)
        if match.start() == 0 or near is not None:
            raise LineError(
                f"/{command.qualified_name} has no option `{clip(word)}`"
                + (f"; did you mean `{near}:`?" if near else "")
                + f" ({_options_listed(command)})"
            )
    if not known or known[0].start() != 0:
        first = known[0].start() if known else len(text)
        raise LineError(
            f"`{clip(text[:first].strip())}` is not an option of /{command.qualified_name}: write name:value "
            f"({_options_listed(command)})"
        )
    values: dict[str, str] = {}
    for index, match in enumerate(known):
        name = match.group(1).lower()
        end = known[index + 1].start() if index + 1 < len(known) else len(text)
        if name in values:
            raise LineError(f"`{name}:` is given twice; give each option once")
        values[name] = text[match.end() : end].strip()
    return values


def _options_listed(command: Command) -> str:
    if not command.parameters:
        return f"/{command.qualified_name} takes no options"
    return f"usage: {usage(command)}"


def check_required(command: Command, given: Mapping[str, object]) -> None:
    """Raises LineError naming the first required option missing."""
    for parameter in command.parameters:
        if parameter.required and parameter.name not in given:
            what = (
                f" ({parameter.description})"
                if parameter.description and parameter.description != "…"
                else ""
            )
            raise LineError(
                f"/{command.qualified_name} needs `{parameter.name}:`{what}; usage: {usage(command)}"
            )


@dataclass(frozen=True)
class People:
    """Who can be named in a user option: name → the actor to pass (and their id)."""

    actors: Mapping[str, Any]
    ids: Mapping[int, str]


def coerce(command: Command, name: str, value: str, people: People, folders: Sequence[Path]) -> Any:
    """The value to pass for option `name`, checked against its type, range and choices.
    Raises LineError."""
    parameter = next(p for p in command.parameters if p.name == name)
    kind = parameter.type
    if not value:
        raise LineError(f"`{name}:` has no value; usage: {usage(command)}")
    if parameter.choices:
        return _choice(parameter, value)
    if kind is AppCommandOptionType.integer:
        if not _INTEGER.fullmatch(value):
            raise LineError(f"`{name}:` expects a whole number{_range(parameter)}, not `{clip(value)}`")
        return _in_range(parameter, int(value), "a whole number")
    if kind is AppCommandOptionType.number:
        if not _NUMBER.fullmatch(value):
            raise LineError(f"`{name}:` expects a number{_range(parameter)}, not `{clip(value)}`")
        return _in_range(parameter, float(value), "a number")
    if kind is AppCommandOptionType.boolean:
        word = value.lower()
        if word in _TRUE or word in _FALSE:
            return word in _TRUE
        raise LineError(f"`{name}:` expects true or false, not `{clip(value)}`")
    if kind in (AppCommandOptionType.user, AppCommandOptionType.mentionable):
        return _person(name, value, people)
    if kind is AppCommandOptionType.attachment:
        return _attachment(name, value, folders)
    return value


def _range(parameter: app_commands.Parameter) -> str:
    low, high = parameter.min_value, parameter.max_value
    if low is not None and high is not None:
        return f" from {low:g} to {high:g}"
    if low is not None:
        return f" of at least {low:g}"
    if high is not None:
        return f" of at most {high:g}"
    return ""


def _in_range(parameter: app_commands.Parameter, number: float, kind: str) -> Any:
    low, high = parameter.min_value, parameter.max_value
    if (low is not None and number < low) or (high is not None and number > high):
        raise LineError(f"`{parameter.name}:` expects {kind}{_range(parameter)}, not {number:g}")
    return number


def _choice(parameter: app_commands.Parameter, value: str) -> Any:
    for choice in parameter.choices:
        if value.lower() in (choice.name.lower(), str(choice.value).lower()):
            return choice.value
    names = [c.name for c in parameter.choices]
    raise LineError(
        f"`{parameter.name}:` is one of {', '.join(names)}, not `{clip(value)}`"
        + did_you_mean(value, names, "`{}`")
    )


_MENTION = re.compile(r"<@!?(\d+)>")


def _person(name: str, value: str, people: People) -> Any:
    mention = _MENTION.fullmatch(value)
    who = people.ids.get(int(mention[1]), "") if mention else value.lstrip("@").strip().lower()
    if who in people.actors:
        return people.actors[who]
    raise LineError(
        f"`{name}:` names a person here, not `{clip(value)}`{did_you_mean(who, people.actors)} "
        f"(people: {', '.join(people.actors)})"
    )


def _attachment(name: str, value: str, folders: Sequence[Path]) -> tuple[str, bytes]:
    path = Path(value).expanduser()
    candidates = [path] if path.is_absolute() else [folder / path for folder in folders]
    for candidate in candidates:
        if candidate.is_file():
            try:
                return candidate.name, candidate.read_bytes()
            except OSError as error:
                raise LineError(
                    f"`{name}:` cannot read `{clip(value)}` ({error.strerror or error})"
                ) from None
    if any(candidate.is_dir() for candidate in candidates):
        raise LineError(f"`{name}:` `{clip(value)}` is a folder; give a file")
    raise LineError(f"`{name}:` there is no file `{clip(value)}` (paths are relative to {folders[0]})")


# ---- buttons --------------------------------------------------------------------------------
def pick_button(found: Sequence[tuple[str, bool]], wanted: str, whose: str) -> str:
    """The label of the button `wanted` names: the exact label, else the one label it starts (or is
    inside), ignoring case. Raises LineError listing the buttons."""
    labels = [label for label, _ in found]
    shown = " ".join(f"[{label}]" for label in labels)
    key = " ".join(wanted.split()).casefold()
    if not key:
        raise LineError(f"say which button to click: {shown}")
    for test in (
        lambda label: label == wanted,
        lambda label: label.casefold() == key,
        lambda label: label.casefold().startswith(key),
        lambda label: key in label.casefold(),
    ):
        matches = [label for label in labels if test(label)]
        if len(matches) == 1:
            label = matches[0]
            if dict(found)[label]:
                raise LineError(f"[{label}] on {whose} is disabled")
            return label
        if len(matches) > 1:
            raise LineError(
                f"`{clip(wanted)}` matches {' '.join(f'[{m}]' for m in matches)} on {whose}; type more of the label"
            )
    raise LineError(
        f"{whose} has no button `{clip(wanted)}`{did_you_mean(wanted, labels, '[{}]')}; its buttons: {shown}"
    )
