"""The check-in rule for one request, pure: given what the student typed and when, the open session,
the codes it accepts now and the student's state in it, the outcome and what must be written. A
check-in counts only with an accepted code: `present` within `late_after_minutes` of the lecture's
start, `late` after; one already present or late stays so; after `max_wrong_attempts` wrong codes
the student is locked out of that session. No database and no clock: `batching.py` runs it per
request, in order, on the state the earlier requests of its transaction left.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from bot.config import AttendanceSection
from bot.services.attendance.sessions import SessionInfo


class Outcome(StrEnum):
    PRESENT = "present"
    LATE = "late"
    ALREADY = "already"  # checked in before
    WRONG = "wrong"  # wrong code, tries left
    LOCKED_NOW = "locked_now"  # this wrong code used the last try
    LOCKED = "locked"  # locked out earlier


@dataclass(frozen=True)
class CheckinResult:
    outcome: Outcome
    session: SessionInfo
    at: datetime | None  # when the (first) check-in happened
    tries_left: int = 0


@dataclass(frozen=True)
class Decision:
    result: CheckinResult
    # What to write: "present" or "late" (the record), "wrong" (one more wrong try), or None.
    change: str | None
    locks_out: bool = False  # this wrong try is the last one (the staff are told)


def decide(
    settings: AttendanceSection,
    session: SessionInfo,
    *,
    typed: str,
    at: datetime,
    accepted: Collection[str],
    status: str | None,
    checked_in_at: datetime | None,
    wrong: int,
) -> Decision:
    """One check-in into `session`: `typed` is the normalised code, `at` the request's time,
    `status`/`checked_in_at` the student's record in the session (None without one) and `wrong` the
    wrong tries so far. Raises nothing."""
    if status in ("present", "late"):
        return Decision(CheckinResult(Outcome.ALREADY, session, checked_in_at), None)
    if wrong >= settings.max_wrong_attempts:
        return Decision(CheckinResult(Outcome.LOCKED, session, None), None)
    if typed not in accepted:
        left = settings.max_wrong_attempts - (wrong + 1)
        if left <= 0:
            return Decision(CheckinResult(Outcome.LOCKED_NOW, session, None), "wrong", locks_out=True)
        return Decision(CheckinResult(Outcome.WRONG, session, None, left), "wrong")
    late_from = session.starts_at + timedelta(minutes=settings.late_after_minutes)
    counted = "present" if at <= late_from else "late"
    return Decision(CheckinResult(Outcome(counted), session, at), counted)
