"""The one source of "now". Nothing else in the project calls `datetime.now()`.

`Clock()` follows the system clock; `Clock(start=...)` starts at an instant and then runs at normal
speed (`--now`); `Clock.frozen(...)` stands still until `advance`/`set` move it (tests).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


def system_now() -> datetime:
    return datetime.now(UTC)


class Clock:
    """Aware-UTC time, optionally shifted or frozen."""

    def __init__(self, start: datetime | None = None) -> None:
        if start is not None and start.tzinfo is None:
            raise ValueError("a clock needs an aware start instant")
        self._offset = (start - system_now()) if start is not None else timedelta(0)
        self._frozen_at: datetime | None = None

    @classmethod
    def frozen(cls, at: datetime) -> Clock:
        """A clock that stands still at `at` until moved."""
        clock = cls()
        clock.set(at)
        return clock

    def now(self) -> datetime:
        if self._frozen_at is not None:
            return self._frozen_at
        return system_now() + self._offset

    def set(self, at: datetime) -> None:
        """Freeze the clock at `at` (aware). Raises ValueError for a naive instant."""
        if at.tzinfo is None:
            raise ValueError("a clock needs an aware instant")
        self._frozen_at = at.astimezone(UTC)

    def advance(self, delta: timedelta) -> None:
        """Move a frozen clock forward (or shift a running one)."""
        if self._frozen_at is not None:
            self._frozen_at += delta
        else:
            self._offset += delta
