"""Attendance: check-in sessions with (rotating) codes, the check-in rule and its group commit,
lockout, manual marks, excuses, the absence rule and its warnings. One module per job:

- `sessions`: opening and closing times, codes, the session of a lecture day;
- `checkin`: the rule for one check-in request (pure); `batching`: the group commit that runs it;
- `marks`: the staff's marks; `excuses`: asking for and deciding excuses;
- `absences`: the absence rule and its messages; `closing`: the close and what it sets off.

Rules: one record per student per held lecture; a check-in counts only with the right code while
check-in is open — `present` within `late_after_minutes` of the lecture's start, `late` after; after
`max_wrong_attempts` wrong codes a student is locked out of that session. With rotation the code
shown and the one before it are accepted. A lecture is *held* once it has a session (check-in was
opened, or staff marked someone for it). Absences = lectures held since the student joined, minus
present, late and excused ones.
"""

from bot.services.attendance.absences import (
    STATUSES,
    WARNING_KIND,
    LectureStatus,
    StudentRecord,
    fail_line_note,
    record_of,
    records,
    register_kinds,
    warning_notice,
)
from bot.services.attendance.batching import CHECKIN_BATCH_MAX, check_in
from bot.services.attendance.checkin import CheckinResult, Decision, Outcome, decide
from bot.services.attendance.closing import CloseReport, close_session, plan_missed_close, warnings_due
from bot.services.attendance.excuses import (
    EVIDENCE_MAX_BYTES,
    REASON_MAX,
    Evidence,
    EvidenceFile,
    EvidenceInfo,
    ExcuseCounts,
    ExcuseInfo,
    check_evidence,
    check_evidence_size,
    decide_excuse,
    evidence_file,
    excuse_counts,
    excuse_counts_of,
    pending_excuses,
    purge_expired_evidence,
    request_excuse,
    withdraw_excuse,
)
from bot.services.attendance.marks import mark
from bot.services.attendance.sessions import (
    ATTENDANCE_LOCK,
    NoLectureToday,
    OutsideLectureTime,
    SessionInfo,
    current_code,
    held_lectures,
    open_now,
    open_session,
    sessions_to_close,
    set_live_message,
)
from bot.services.text import parse_day

__all__ = [
    "ATTENDANCE_LOCK",
    "CHECKIN_BATCH_MAX",
    "EVIDENCE_MAX_BYTES",
    "REASON_MAX",
    "STATUSES",
    "WARNING_KIND",
    "CheckinResult",
    "CloseReport",
    "Decision",
    "Evidence",
    "EvidenceFile",
    "EvidenceInfo",
    "ExcuseCounts",
    "ExcuseInfo",
    "LectureStatus",
    "NoLectureToday",
    "Outcome",
    "OutsideLectureTime",
    "SessionInfo",
    "StudentRecord",
    "check_evidence",
    "check_evidence_size",
    "check_in",
    "close_session",
    "current_code",
    "decide",
    "decide_excuse",
    "evidence_file",
    "excuse_counts",
    "excuse_counts_of",
    "fail_line_note",
    "held_lectures",
    "mark",
    "open_now",
    "open_session",
    "parse_day",
    "pending_excuses",
    "plan_missed_close",
    "purge_expired_evidence",
    "record_of",
    "records",
    "register_kinds",
    "request_excuse",
    "sessions_to_close",
    "set_live_message",
    "warning_notice",
    "warnings_due",
    "withdraw_excuse",
]
