"""How the sandbox shows what Discord would: timestamps in the course timezone (relative ones as
Discord words them), mentions as names, embeds, attachments and buttons as text lines."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

import discord

TIMESTAMP = re.compile(r"<t:(-?\d+)(?::([tTdDfFR]))?>")
_USER = re.compile(r"<@!?(\d+)>")
_ROLE = re.compile(r"<@&(\d+)>")
_CHANNEL = re.compile(r"<#(\d+)>")

# Discord's relative timestamps (the wording of moment.js's `fromNow`): each unit rounded, and a
# larger unit from these thresholds on.
_SECONDS_FEW, _SECONDS, _MINUTES, _HOURS, _DAYS, _MONTHS = 44, 45, 45, 22, 26, 11


def relative(delta: timedelta) -> str:
    """`delta` from now as Discord shows `<t:…:R>`: "in a few seconds", "in a day", "3 hours ago"."""
    span = abs(delta.total_seconds())

    def rounded(size: float) -> int:
        return int(span / size + 0.5)

    seconds, minutes, hours, days = rounded(1), rounded(60), rounded(3600), rounded(86400)
    months = int(span / 86400 * 4800 / 146097 + 0.5)  # moment.js's days-to-months
    years = int(span / 86400 * 400 / 146097 + 0.5)
    if seconds <= _SECONDS_FEW:
        text = "a few seconds"
    elif seconds < _SECONDS:
        text = f"{seconds} seconds"
    elif minutes <= 1:
        text = "a minute"
    elif minutes < _MINUTES:
        text = f"{minutes} minutes"
    elif hours <= 1:
        text = "an hour"
    elif hours < _HOURS:
        text = f"{hours} hours"
    elif days <= 1:
        text = "a day"
    elif days < _DAYS:
        text = f"{days} days"
    elif months <= 1:
        text = "a month"
    elif months < _MONTHS:
        text = f"{months} months"
    elif years <= 1:
        text = "a year"
    else:
        text = f"{years} years"
    return f"in {text}" if delta.total_seconds() > 0 else f"{text} ago"


def timestamp(instant: datetime, style: str | None, now: datetime, tz: tzinfo) -> str:
    """One `<t:…:style>` in the course timezone."""
    local = instant.astimezone(tz)
    if style == "R":
        return relative(instant - now)
    if style == "t":
        return f"{local:%H:%M}"
    if style == "T":
        return f"{local:%H:%M:%S}"
    if style == "d":
        return f"{local:%Y-%m-%d}"
    if style == "D":
        return f"{local:%a %Y-%m-%d}"
    return f"{local:%a %Y-%m-%d %H:%M} {local.tzname()}"


def moment(instant: datetime, tz: tzinfo) -> str:
    """The tag of a post: `Mon 11:00`, with seconds when they are not zero."""
    local = instant.astimezone(tz)
    return f"{local:%a %H:%M:%S}" if local.second else f"{local:%a %H:%M}"


class Renderer:
    """Turns message text into what a reader sees, with `names` for user, role and channel ids."""

    def __init__(
        self,
        tz: tzinfo,
        users: Mapping[int, str],
        roles: Mapping[int, str],
        channels: Mapping[int, str],
    ) -> None:
        self.tz, self.users, self.roles, self.channels = tz, users, roles, channels

    def text(self, text: str, now: datetime) -> str:
        def stamp(match: re.Match[str]) -> str:
            return timestamp(datetime.fromtimestamp(int(match.group(1)), UTC), match.group(2), now, self.tz)

        text = TIMESTAMP.sub(stamp, text)
        text = _USER.sub(lambda m: f"@{self.users.get(int(m.group(1)), 'someone')}", text)
        text = _ROLE.sub(lambda m: f"@{self.roles.get(int(m.group(1)), 'a role')}", text)
        return _CHANNEL.sub(lambda m: f"#{self.channels.get(int(m.group(1)), 'a channel')}", text)

    def message(
        self,
        now: datetime,
        content: str,
        embeds: Sequence[discord.Embed],
        components: Any = None,
        attachments: Sequence[str] = (),
    ) -> list[str]:
        """The lines of one message: content, each embed (title, description, fields, footer),
        attachments and buttons."""
        lines = self.text(content, now).splitlines() if content else []
        for item in embeds:
            if item.title:
                lines.append(f"== {self.text(item.title, now)} ==")
            if item.description:
                lines.extend(self.text(item.description, now).splitlines())
            for field in item.fields:
                lines.append(f"-- {self.text(field.name or '', now)}:")
                lines.extend(f"   {line}" for line in self.text(field.value or "", now).splitlines())
            if item.footer and item.footer.text:
                lines.append(f"({self.text(item.footer.text, now)})")
        if attachments:
            lines.append("attachments: " + ", ".join(attachments) + "  (!files saves them)")
        labels = button_labels(components)
        if labels:
            lines.append("buttons: " + " ".join(f"[{label}]" for label in labels))
        return lines or ["(empty message)"]


def components_of(message: discord.Message) -> list[dict[str, Any]]:
    return [row.to_dict() for row in message.components]  # type: ignore[misc]


def buttons(components: Any) -> list[tuple[str, bool]]:
    """(label, disabled) of each button in message components (rows of children), in order."""
    found: list[tuple[str, bool]] = []
    for row in components or []:
        for child in row.get("components", []) if isinstance(row, dict) else []:
            if child.get("type") == 2 and child.get("label"):
                found.append((str(child["label"]), bool(child.get("disabled"))))
    return found


def button_labels(components: Any) -> list[str]:
    return [label + (" (disabled)" if disabled else "") for label, disabled in buttons(components)]


def signature(message: discord.Message) -> tuple[Any, ...]:
    """What a reader sees of a message, to notice an edit."""
    return (
        message.content,
        tuple(repr(e.to_dict()) for e in message.embeds),
        repr(components_of(message)),
        tuple(a.id for a in message.attachments),
    )
