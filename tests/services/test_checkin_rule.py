"""The check-in rule for one request (bot/services/attendance/checkin.py), alone: no database, no
clock. The group commit that runs it per request is tested in test_attendance.py."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.config import Config
from bot.services.attendance import Decision, Outcome, SessionInfo, decide
from tests.conftest import seoul

START = seoul(2025, 3, 10, 11, 0)
SESSION = SessionInfo(
    7, START.date(), START, False, 0, START, START + timedelta(minutes=10), None, None, None
)
CODE = "ABC123"


def rule(
    config: Config, *, typed: str = CODE, minutes: float = 1, status: str | None = None, wrong: int = 0
) -> Decision:
    at = START + timedelta(minutes=minutes)
    earlier = START if status else None
    return decide(
        config.attendance,
        SESSION,
        typed=typed,
        at=at,
        accepted={CODE, "XYZ789"},
        status=status,
        checked_in_at=earlier,
        wrong=wrong,
    )


def test_the_right_code_on_time_is_present_and_written(config: Config) -> None:
    decision = rule(config, minutes=3)
    assert decision.change == "present" and not decision.locks_out
    assert (decision.result.outcome, decision.result.at) == (Outcome.PRESENT, START + timedelta(minutes=3))
    assert decision.result.session == SESSION


def test_late_from_the_minute_after_the_late_line(config: Config) -> None:
    line = config.attendance.late_after_minutes
    assert rule(config, minutes=line).result.outcome == Outcome.PRESENT  # at the line: still present
    later = rule(config, minutes=line + 1 / 60)
    assert (later.result.outcome, later.change) == (Outcome.LATE, "late")


def test_the_previous_rotating_code_is_accepted_too(config: Config) -> None:
    assert rule(config, typed="XYZ789").result.outcome == Outcome.PRESENT


@pytest.mark.parametrize("status", ["present", "late"])
def test_one_checked_in_stays_so_with_the_first_time(config: Config, status: str) -> None:
    decision = rule(config, status=status, minutes=30, typed="WRONG1", wrong=99)
    assert (decision.result.outcome, decision.result.at, decision.change) == (Outcome.ALREADY, START, None)


@pytest.mark.parametrize("status", [None, "absent", "excused"])
def test_a_manual_mark_is_overridden_by_being_there(config: Config, status: str | None) -> None:
    assert rule(config, status=status).change == "present"


def test_wrong_codes_count_down_then_lock_out(config: Config) -> None:
    tries = config.attendance.max_wrong_attempts
    for wrong in range(tries - 1):
        decision = rule(config, typed="NOPE00", wrong=wrong)
        assert (decision.result.outcome, decision.result.tries_left) == (Outcome.WRONG, tries - wrong - 1)
        assert (decision.change, decision.locks_out) == ("wrong", False)
    last = rule(config, typed="NOPE00", wrong=tries - 1)
    assert (last.result.outcome, last.change, last.locks_out) == (Outcome.LOCKED_NOW, "wrong", True)


def test_locked_out_the_right_code_changes_nothing(config: Config) -> None:
    decision = rule(config, wrong=config.attendance.max_wrong_attempts)
    assert (decision.result.outcome, decision.result.at, decision.change) == (Outcome.LOCKED, None, None)
