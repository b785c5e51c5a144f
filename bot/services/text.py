"""Text that people type and others read: the one rule for "does this show as anything at all",
the two ways the bot writes a time (a Discord timestamp, a reminder offset) and how it reads a
date.

A name made only of blank fillers (U+3164 HANGUL FILLER, U+2800 BRAILLE PATTERN BLANK, ...),
zero-width characters or combining marks passes every length check and shows as nothing in Discord
and in the exports. A character is visible when its Unicode category is not a separator (Z*), an
other (C*: controls, format characters such as U+200B or U+FEFF, private use, unassigned) or a mark
(M*), and it is not one of the fillers below, which Unicode files as letters or symbols.
"""

from __future__ import annotations

import unicodedata
from datetime import date, datetime, timedelta

from bot.errors import InvalidInput

FILLERS = frozenset(
    "\u115f\u1160"  # HANGUL CHOSEONG / JUNGSEONG FILLER
    "\u3164\uffa0"  # HANGUL FILLER, HALFWIDTH HANGUL FILLER
    "\u2800"  # BRAILLE PATTERN BLANK
    "\u200b\u200c\u200d\u2060\ufeff\u00ad"  # zero width space / non-joiner / joiner, word joiner, BOM, soft hyphen
    "\u180e\u2061\u2062\u2063\u2064"  # Mongolian vowel separator, invisible operators
    "\u034f\u17b4\u17b5"  # combining grapheme joiner, Khmer inherent vowels
    "\ufffc"  # OBJECT REPLACEMENT CHARACTER
)


def is_visible(char: str) -> bool:
    """Whether one character shows as something (see the module's rule)."""
    return char not in FILLERS and unicodedata.category(char)[0] not in "ZCM"


def require_visible(text: str, what: str) -> None:
    """Refuse `text` when it has no visible character. `what` starts the reason ("A group name").
    Raises InvalidInput."""
    if not any(is_visible(char) for char in text):
        raise InvalidInput(
            f"{what} needs at least one visible letter, digit or symbol; "
            "blank or invisible characters alone show as nothing."
        )


def stamp(instant: datetime) -> str:
    """A Discord timestamp every reader sees in their own timezone: full date, then relative."""
    return f"<t:{int(instant.timestamp())}:F> (<t:{int(instant.timestamp())}:R>)"


def offset_label(offset: timedelta) -> str:
    """A reminder offset the way `parse_offsets` reads it back: 7d, 1h, 30m (or seconds)."""
    seconds = int(offset.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def parse_day(text: str) -> date:
    """A YYYY-MM-DD date, as typed. Raises InvalidInput."""
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInput(f"`{text[:20]}` is not a date like 2025-03-12.") from None
