"""Attendance: check-in sessions with (rotating) codes, lockout, manual marks, excuses, the absence
rule and its warnings.

Rules: one record per student per held lecture; a check-in counts only with the right code while
check-in is open — `present` within `late_after_minutes` of the lecture's start, `late` after; after
`max_wrong_attempts` wrong codes a student is locked out of that session. With rotation the code
shown and the one before it are accepted. A lecture is *held* once it has a session (check-in was
opened, or staff marked someone for it). Absences = lectures held since the student joined, minus
present, late and excused ones.

What the close of a session sets off is planned in the outbox in the transaction of the close: the
warning DMs, the staff's notes on who is one absence from (or at) the fail line — each said once per
student and count — and the close report in ta-log. A crash right after a close loses none of them.
"""

from __future__ import annotations

import asyncio
import secrets
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db import Database, audit
from bot.db.audit import audit_values
from bot.db.engine import WriteWait, is_busy, limit_write_wait, write_wait
from bot.db.models import (
    AbsenceWarning,
    AttendanceRecord,
    AttendanceSession,
    AuditEntry,
    CheckinAttempt,
    ExcuseRequest,
    Notification,
    Student,
)
from bot.errors import Conflict, InvalidInput, NotAllowed, NotFound
from bot.notify.outbox import Planned, direct_dm, enqueue, staff_note
from bot.services import Services
from bot.services.codes import derived_code, normalise
from bot.services.students import ensure_student, ensure_students

STATUSES = ("present", "late", "excused", "absent")
REASON_MAX = 500
ATTENDANCE_LOCK = "attendance"


class NoLectureToday(NotAllowed):
    """Opening check-in on a day without a lecture needs the staff's confirmation."""


class OutsideLectureTime(NoLectureToday):
    """Opening check-in long before today's lecture or after it ended needs the staff's confirmation."""


class Outcome(StrEnum):
    PRESENT = "present"
    LATE = "late"
    ALREADY = "already"  # checked in before
    WRONG = "wrong"  # wrong code, tries left
    LOCKED_NOW = "locked_now"  # this wrong code used the last try
    LOCKED = "locked"  # locked out earlier


@dataclass(frozen=True)
class SessionInfo:
    id: int
    lecture_date: date
    starts_at: datetime
    extra: bool
    rotate_seconds: int
    opened_at: datetime | None
    closes_at: datetime | None
    closed_at: datetime | None
    live_channel_id: int | None
    live_message_id: int | None

    def is_open(self, now: datetime) -> bool:
        return (
            self.opened_at is not None
            and self.closed_at is None
            and self.closes_at is not None
            and now < self.closes_at
        )


@dataclass(frozen=True)
class CheckinResult:
    outcome: Outcome
    session: SessionInfo
    at: datetime | None  # when the (first) check-in happened
    tries_left: int = 0


@dataclass(frozen=True)
class LectureStatus:
    lecture_date: date
    status: str  # present, late, excused, absent, or "not counted" before the student joined


@dataclass(frozen=True)
class StudentRecord:
    discord_id: int
    held: int  # lectures held since the student joined (or that they attended)
    present: int
    late: int
    excused: int
    absent: int
    fail_at: int
    lectures: tuple[LectureStatus, ...]

    @property
    def absences_left(self) -> int:
        """Absences still possible before reaching the fail line."""
        return max(0, self.fail_at - 1 - self.absent)

    @property
    def failed(self) -> bool:
        return self.absent >= self.fail_at


@dataclass(frozen=True)
class ExcuseInfo:
    id: int
    discord_id: int
    lecture_date: date
    reason: str
    status: str
    created_at: datetime


@dataclass(frozen=True)
class CloseReport:
    session: SessionInfo
    checked_in: int
    warnings: tuple[tuple[int, int], ...]  # (student, absences) newly reaching a warning count
    one_from_fail: tuple[int, ...]  # newly one absence from the fail line (the staff are told once)
    failed: tuple[int, ...]  # newly at or past the fail line, once per count of absences


def _info(row: AttendanceSession) -> SessionInfo:
    return SessionInfo(
        row.id,
        row.lecture_date,
        row.starts_at,
        row.extra,
        row.rotate_seconds,
        row.opened_at,
        row.closes_at,
        row.closed_at,
        row.live_channel_id,
        row.live_message_id,
    )


# ---- codes ----------------------------------------------------------------------------------
def _step(row: AttendanceSession | SessionInfo, now: datetime) -> int:
    if not row.rotate_seconds or row.opened_at is None:
        return 0
    return max(0, int((now - row.opened_at).total_seconds() // row.rotate_seconds))


def current_code(services: Services, row: AttendanceSession) -> str:
    """The code to show now (it changes every `rotate_seconds` when rotating)."""
    return derived_code(row.secret, _step(row, services.now()), services.config.attendance.code_length)


def _accepted_codes(services: Services, row: AttendanceSession) -> set[str]:
    step, length = _step(row, services.now()), services.config.attendance.code_length
    return {derived_code(row.secret, s, length) for s in {step, max(0, step - 1)}}


# ---- sessions ---------------------------------------------------------------------------------
async def _open_row(session: AsyncSession, now: datetime) -> AttendanceSession | None:
    query = select(AttendanceSession).where(
        AttendanceSession.opened_at.is_not(None),
        AttendanceSession.closed_at.is_(None),
        AttendanceSession.closes_at > now,
    )
    return await session.scalar(query.order_by(AttendanceSession.id.desc()))


async def open_session(
    services: Services,
    *,
    actor_id: int,
    minutes: int | None = None,
    rotate: bool = False,
    extra_ok: bool = False,
) -> tuple[SessionInfo, str]:
    """Open check-in for today's lecture; returns the session and its current code.

    Raises InvalidInput (minutes out of range), Conflict (already open), NoLectureToday (no lecture
    today) or OutsideLectureTime (more than `open_grace_minutes` before today's lecture or after its
    end); the last two only while `extra_ok` is False: the staff confirm, then it opens anyway.
    """
    settings = services.config.attendance
    minutes = settings.minutes_open if minutes is None else minutes
    if not 1 <= minutes <= 240:
        raise InvalidInput("Minutes must be between 1 and 240.")
    now = services.now()
    today = services.calendar.local_date(now)
    lecture = services.calendar.lecture_on(today)
    if lecture is None and not extra_ok:
        raise NoLectureToday(f"There is no lecture today ({today:%a %Y-%m-%d}).")
    if lecture is not None and not extra_ok:
        grace = timedelta(minutes=settings.open_grace_minutes)
        start, end = int(lecture.starts_at.timestamp()), int(lecture.ends_at.timestamp())
        span = f"the lecture of {today:%a %Y-%m-%d} (<t:{start}:t>–<t:{end}:t>)"
        if now > lecture.ends_at + grace:
            raise OutsideLectureTime(
                f"It is after {span}: it ended <t:{end}:R>, so everyone who checks in now is marked late."
            )
        if now < lecture.starts_at - grace:
            closes = int((now + timedelta(minutes=minutes)).timestamp())
            raise OutsideLectureTime(
                f"It is well before {span}: it starts <t:{start}:R>, and check-in opened now closes "
                f"<t:{closes}:t>."
            )
    async with services.db.write(ATTENDANCE_LOCK) as session:
        current = await _open_row(session, now)
        if current is not None and current.closes_at is not None:
            until = int(current.closes_at.timestamp())
            raise Conflict(f"Check-in is already open until <t:{until}:t>; `/ta attendance close` first.")
        row = await session.scalar(
            select(AttendanceSession).where(AttendanceSession.lecture_date == today).with_for_update()
        )
        if row is None:
            row = AttendanceSession(
                lecture_date=today,
                starts_at=lecture.starts_at if lecture else now,
                extra=lecture is None,
                secret="",
            )
            session.add(row)
        row.secret = secrets.token_hex(16)
        row.rotate_seconds = settings.rotate_seconds if rotate else 0
        row.opened_at, row.closes_at, row.closed_at, row.opened_by = (
            now,
            now + timedelta(minutes=minutes),
            None,
            actor_id,
        )
        row.live_channel_id = row.live_message_id = None
        await session.flush()
        audit(
            session,
            at=now,
            actor_id=actor_id,
            action="attendance.open",
            date=str(today),
            minutes=minutes,
            rotate=rotate,
            extra=row.extra,
        )
        return _info(row), current_code(services, row)


async def open_now(services: Services) -> tuple[SessionInfo, str] | None:
    """The session open now and its current code, if any."""
    async with services.db.read() as session:
        row = await _open_row(session, services.now())
        return (_info(row), current_code(services, row)) if row else None


async def sessions_to_close(services: Services) -> list[SessionInfo]:
    """Sessions still marked open (at start-up: those whose time ran out while the bot was down, too)."""
    async with services.db.read() as session:
        rows = await session.scalars(
            select(AttendanceSession).where(
                AttendanceSession.opened_at.is_not(None), AttendanceSession.closed_at.is_(None)
            )
        )
        return [_info(r) for r in rows.all()]


async def set_live_message(services: Services, *, session_id: int, channel_id: int, message_id: int) -> None:
    async with services.db.write(ATTENDANCE_LOCK) as session:
        row = await session.get(AttendanceSession, session_id, with_for_update=True)
        if row is not None:
            row.live_channel_id, row.live_message_id = channel_id, message_id


async def close_session(
    services: Services,
    *,
    actor_id: int | None,
    students: Sequence[tuple[int, datetime | None]] = (),
    session_id: int | None = None,
) -> CloseReport:
    """Close the open session (or `session_id`) and, in the same transaction, plan what follows in
    the outbox: the warnings of `students` (discord id, Discord join time: pass every student, or
    they are not warned until a later close), the staff's fail-line notes and the close report in
    ta-log. Raises Conflict when nothing is open."""
    now = services.now()
    async with services.db.write(ATTENDANCE_LOCK) as session:
        if session_id is not None:
            row = await session.get(AttendanceSession, session_id, with_for_update=True)
            if row is None or row.closed_at is not None or row.opened_at is None:
                raise Conflict("That check-in is already closed.")
        else:
            row = await _open_row(session, now)
            if row is None:
                raise Conflict("No check-in is open.")
        row.closed_at = min(now, row.closes_at) if row.closes_at else now
        audit(session, at=now, actor_id=actor_id, action="attendance.close", date=str(row.lecture_date))
        await session.flush()
        return await _plan_after_close(services, session, row, students)


# ---- check-in ---------------------------------------------------------------------------------
CHECKIN_BATCH_MAX = 250  # requests per transaction: bound parameters stay far below SQLite's limit


@dataclass
class _CheckinRequest:
    discord_id: int
    discord_name: str | None
    joined_at: datetime | None
    typed: str
    now: datetime  # when the request came, like a check-in in a transaction of its own
    future: asyncio.Future[CheckinResult]
    wait: WriteWait | None = field(default_factory=write_wait)  # the caller's bound on waiting to write


class _CheckinQueue:
    """Group commit for check-ins.

    A lecture hall typing the code at once would otherwise be hundreds of write transactions, one
    after another behind the database's write lock, each several queries. Requests that arrive while
    a transaction runs wait for it and then go together, in arrival order, in the next one, so a
    burst costs a handful of queries per batch. The rules run per request, in order, on the state the
    earlier requests left: each caller gets exactly what a transaction of its own would have given.
    An idle bot sends a lone request through at once (a batch of one)."""

    def __init__(self) -> None:
        self.pending: list[_CheckinRequest] = []
        self.worker: asyncio.Task[None] | None = None

    async def submit(self, services: Services, request: _CheckinRequest) -> CheckinResult:
        self.pending.append(request)
        if self.worker is None or self.worker.done():
            self.worker = asyncio.get_running_loop().create_task(self._work(services))
        return await request.future

    async def _work(self, services: Services) -> None:
        batch: list[_CheckinRequest] = []
        try:
            while self.pending:
                batch, self.pending = self.pending[:CHECKIN_BATCH_MAX], self.pending[CHECKIN_BATCH_MAX:]
                try:
                    limit_write_wait(batch[0].wait)  # the oldest request's: it has the least time left
                    outcomes = await _check_in_batch(services, batch)
                except Exception as error:
                    if len(batch) == 1 or is_busy(error):  # busy: so is every request (nothing written)
                        outcomes = [error] * len(batch)
                    else:  # one request's failure must not fail the others: each in its own transaction
                        outcomes = [await _check_in_alone(services, request) for request in batch]
                for request, outcome in zip(batch, outcomes, strict=True):
                    if request.future.done():  # the caller gave up (cancelled)
                        continue
                    if isinstance(outcome, BaseException):
                        request.future.set_exception(outcome)
                    else:
                        request.future.set_result(outcome)
                batch = []
        except BaseException:  # cancelled (shutdown): nobody may wait forever
            for request in batch + self.pending:
                request.future.cancel()
            self.pending = []
            raise


_queues: weakref.WeakKeyDictionary[Database, _CheckinQueue] = weakref.WeakKeyDictionary()


async def check_in(
    services: Services, *, discord_id: int, discord_name: str | None, joined_at: datetime | None, code: str
) -> CheckinResult:
    """Check in to the lecture open now. Wrong codes are counted (and committed) even though they
    change nothing else. Raises NotAllowed when no check-in is open.

    Concurrent check-ins share write transactions (see `_CheckinQueue`); the outcome is the same as
    if each had its own."""
    loop = asyncio.get_running_loop()
    request = _CheckinRequest(
        discord_id, discord_name, joined_at, normalise(code), services.now(), loop.create_future()
    )
    queue = _queues.get(services.db)
    if queue is None:
        queue = _queues[services.db] = _CheckinQueue()
    return await queue.submit(services, request)


async def _check_in_alone(services: Services, request: _CheckinRequest) -> CheckinResult | Exception:
    limit_write_wait(request.wait)
    try:
        return (await _check_in_batch(services, [request]))[0]
    except Exception as error:
        return error


async def _check_in_batch(
    services: Services, requests: Sequence[_CheckinRequest]
) -> list[CheckinResult | Exception]:
    """The check-ins of `requests`, in order, in one write transaction. A request's expected refusal
    (no check-in open) is returned as its NotAllowed, not raised."""
    settings = services.config.attendance
    async with services.db.write(ATTENDANCE_LOCK) as session:
        # Sessions open at the earliest request's time; each request takes the newest still open at its own
        # time, like `_open_row` would have (the database's time comparison, done here per request).
        open_rows = list(
            (
                await session.scalars(
                    select(AttendanceSession)
                    .where(
                        AttendanceSession.opened_at.is_not(None),
                        AttendanceSession.closed_at.is_(None),
                        AttendanceSession.closes_at > min(r.now for r in requests),
                    )
                    .order_by(AttendanceSession.id.desc())
                )
            ).all()
        )
        chosen = [
            next((row for row in open_rows if row.closes_at is not None and row.closes_at > r.now), None)
            for r in requests
        ]
        session_ids = {row.id for row in chosen if row is not None}
        people = {r.discord_id for r, row in zip(requests, chosen, strict=True) if row is not None}
        records: dict[tuple[int, int], AttendanceRecord] = {}
        attempts: dict[tuple[int, int], CheckinAttempt] = {}
        if people:
            for record in await session.scalars(
                select(AttendanceRecord).where(
                    AttendanceRecord.session_id.in_(session_ids), AttendanceRecord.discord_id.in_(people)
                )
            ):
                records[(record.session_id, record.discord_id)] = record
            for attempt in await session.scalars(
                select(CheckinAttempt).where(
                    CheckinAttempt.session_id.in_(session_ids), CheckinAttempt.discord_id.in_(people)
                )
            ):
                attempts[(attempt.session_id, attempt.discord_id)] = attempt
        accepted = {row.id: _accepted_codes(services, row) for row in open_rows}
        infos = {row.id: _info(row) for row in open_rows}

        # 1. Decide, in order, on the state the earlier requests leave (nothing is written yet).
        state = {key: (record.status, record.at) for key, record in records.items()}
        wrong = {key: attempt.wrong for key, attempt in attempts.items()}
        results: list[CheckinResult | Exception] = []
        # (request, session, "present" | "late" | "wrong") for each request that changes something
        changes: list[tuple[_CheckinRequest, AttendanceSession, str]] = []
        for request, row in zip(requests, chosen, strict=True):
            if row is None:
                results.append(NotAllowed("No check-in is open right now."))
                continue
            info, key = infos[row.id], (row.id, request.discord_id)
            status, at = state.get(key, (None, None))
            if status in ("present", "late"):
                results.append(CheckinResult(Outcome.ALREADY, info, at))
                continue
            if key in wrong and wrong[key] >= settings.max_wrong_attempts:
                results.append(CheckinResult(Outcome.LOCKED, info, None))
                continue
            if request.typed not in accepted[row.id]:
                wrong[key] = wrong.get(key, 0) + 1
                left = settings.max_wrong_attempts - wrong[key]
                changes.append((request, row, "wrong"))
                results.append(
                    CheckinResult(Outcome.LOCKED_NOW, info, None)
                    if left <= 0
                    else CheckinResult(Outcome.WRONG, info, None, left)
                )
                continue
            late_from = row.starts_at + timedelta(minutes=settings.late_after_minutes)
            status = "present" if request.now <= late_from else "late"
            state[key] = (status, request.now)
            changes.append((request, row, status))
            results.append(CheckinResult(Outcome(status), info, request.now))

        # 2. The students checking in exist before their records (foreign key).
        await ensure_students(
            session,
            {
                request.discord_id: (request.discord_name, min(request.joined_at or request.now, request.now))
                for request, _, status in changes
                if status != "wrong"
            },
        )

        # 3. Write. New records and the audit rows go in as bulk inserts (a burst's rows in a few
        # statements, not one ORM object each); audit rows in request order, as if one by one.
        new_records: list[dict[str, object]] = []
        audit_rows: list[dict[str, object]] = []
        for request, row, status in changes:
            key = (row.id, request.discord_id)
            if status == "wrong":
                tries = attempts.get(key)
                if tries is None:
                    tries = attempts[key] = CheckinAttempt(
                        session_id=row.id, discord_id=request.discord_id, wrong=0
                    )
                    session.add(tries)
                tries.wrong += 1
                if tries.wrong >= settings.max_wrong_attempts:
                    audit_rows.append(
                        audit_values(
                            at=request.now,
                            actor_id=request.discord_id,
                            action="attendance.lockout",
                            target_id=request.discord_id,
                            date=str(row.lecture_date),
                        )
                    )
                    await enqueue(
                        session,
                        staff_note(
                            f"attendance-lockout:{row.id}:{request.discord_id}:{secrets.token_hex(4)}",
                            f"🔒 <@{request.discord_id}> is locked out of check-in for {row.lecture_date} "
                            "after too many wrong codes",
                            request.now,
                        ),
                    )
                continue
            existing = records.get(key)
            if existing is None:
                new_records.append(
                    {
                        "session_id": row.id,
                        "discord_id": request.discord_id,
                        "status": status,
                        "source": "checkin",
                        "at": request.now,
                    }
                )
            else:  # a manual "absent" or an excuse is overridden by actually being there
                existing.status, existing.source, existing.at = status, "checkin", request.now
            audit_rows.append(
                audit_values(
                    at=request.now,
                    actor_id=request.discord_id,
                    action="attendance.checkin",
                    target_id=request.discord_id,
                    date=str(row.lecture_date),
                    status=status,
                )
            )
        if new_records:
            await session.execute(insert(AttendanceRecord), new_records)
        if audit_rows:
            await session.execute(insert(AuditEntry), audit_rows)
        return results


# ---- staff marks ------------------------------------------------------------------------------
def parse_day(text: str) -> date:
    """A YYYY-MM-DD date. Raises InvalidInput."""
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInput(f"`{text[:20]}` is not a date like 2025-03-12.") from None


async def _session_for_day(
    services: Services, session: AsyncSession, day: date, *, create: bool
) -> AttendanceSession | None:
    row = await session.scalar(
        select(AttendanceSession).where(AttendanceSession.lecture_date == day).with_for_update()
    )
    if row is not None or not create:
        return row
    lecture = services.calendar.lecture_on(day)
    if lecture is None:
        raise NotFound(f"There was no lecture on {day:%a %Y-%m-%d}.")
    if lecture.starts_at > services.now():
        raise NotAllowed(f"The lecture of {day:%Y-%m-%d} has not happened yet.")
    row = AttendanceSession(
        lecture_date=day,
        starts_at=lecture.starts_at,
        extra=False,
        secret=secrets.token_hex(16),
        rotate_seconds=0,
    )
    session.add(row)
    await session.flush()
    return row


async def mark(
    services: Services,
    *,
    actor_id: int,
    discord_id: int,
    discord_name: str | None,
    joined_at: datetime | None,
    day: date,
    status: str,
) -> str | None:
    """Set a record by hand (this makes the lecture held). Returns the previous status.
    Raises InvalidInput (status), NotFound (no lecture that day) or NotAllowed (future lecture)."""
    if status not in STATUSES:
        raise InvalidInput(f"Status must be one of {', '.join(STATUSES)}.")
    now = services.now()
    async with services.db.write(ATTENDANCE_LOCK) as session:
        row = await _session_for_day(services, session, day, create=True)
        assert row is not None
        await ensure_student(
            session, discord_id=discord_id, discord_name=discord_name, joined_at=min(joined_at or now, now)
        )
        record = await session.scalar(
            select(AttendanceRecord).where(
                AttendanceRecord.session_id == row.id, AttendanceRecord.discord_id == discord_id
            )
        )
        previous = record.status if record else None
        if record is None:
            session.add(
                AttendanceRecord(
                    session_id=row.id, discord_id=discord_id, status=status, source="manual", at=now
                )
            )
        else:
            record.status, record.source, record.at = status, "manual", now
        audit(
            session,
            at=now,
            actor_id=actor_id,
            action="attendance.mark",
            target_id=discord_id,
            date=str(day),
            status=status,
            previous=previous,
        )
        return previous


# ---- records and the absence rule ------------------------------------------------------------
async def records(
    services: Services, students: Sequence[tuple[int, datetime | None]]
) -> dict[int, StudentRecord]:
    """Each student's record. `students` are (discord id, Discord join time); the join time on file
    wins when the bot knew the student earlier."""
    async with services.db.read() as session:
        return await _records(services, session, students)


async def _records(
    services: Services, session: AsyncSession, students: Sequence[tuple[int, datetime | None]]
) -> dict[int, StudentRecord]:
    now = services.now()
    held = list(
        (await session.scalars(select(AttendanceSession).order_by(AttendanceSession.lecture_date))).all()
    )
    ids = [s for s, _ in students]
    known = {
        s.discord_id: s.joined_at
        for s in (await session.scalars(select(Student).where(Student.discord_id.in_(ids)))).all()
    }
    marks: dict[tuple[int, int], str] = {}
    rows = await session.execute(
        select(AttendanceRecord.session_id, AttendanceRecord.discord_id, AttendanceRecord.status).where(
            AttendanceRecord.discord_id.in_(ids)
        )
    )
    for session_id, discord_id, status in rows.all():
        marks[(session_id, discord_id)] = status
    excused_days = {
        (e.discord_id, e.lecture_date)
        for e in (
            await session.scalars(
                select(ExcuseRequest).where(
                    ExcuseRequest.status == "approved", ExcuseRequest.discord_id.in_(ids)
                )
            )
        ).all()
    }
    fail_at = services.config.attendance.fail_at
    result = {}
    for discord_id, discord_joined in students:
        # The earliest we know of; never later than now (a clock started with --now may be behind Discord's).
        joined = min([t for t in (known.get(discord_id), discord_joined) if t is not None] + [now])
        counts = dict.fromkeys(STATUSES, 0)
        lectures = []
        for lecture in held:
            marked = marks.get((lecture.id, discord_id))
            if marked is not None:
                status = marked
            else:
                still_open = (
                    lecture.closed_at is None and lecture.closes_at is not None and lecture.closes_at > now
                )
                if lecture.starts_at < joined or still_open:
                    lectures.append(LectureStatus(lecture.lecture_date, "not counted"))
                    continue  # before they joined, or check-in still open
                status = "excused" if (discord_id, lecture.lecture_date) in excused_days else "absent"
            counts[status] += 1
            lectures.append(LectureStatus(lecture.lecture_date, status))
        result[discord_id] = StudentRecord(
            discord_id,
            sum(counts.values()),
            counts["present"],
            counts["late"],
            counts["excused"],
            counts["absent"],
            fail_at,
            tuple(lectures),
        )
    return result


async def held_lectures(services: Services) -> list[SessionInfo]:
    async with services.db.read() as session:
        rows = await session.scalars(select(AttendanceSession).order_by(AttendanceSession.lecture_date))
        return [_info(r) for r in rows.all()]


async def warnings_due(
    services: Services, *, session_id: int, students: Sequence[tuple[int, datetime | None]]
) -> CloseReport:
    """Plan again what the close of session `session_id` sets off (see `close_session`); what was
    planned before is not planned twice. Raises NotFound."""
    async with services.db.write(ATTENDANCE_LOCK) as session:
        last = await session.get(AttendanceSession, session_id, with_for_update=True)
        if last is None:
            raise NotFound("That check-in session does not exist.")
        return await _plan_after_close(services, session, last, students)


async def plan_missed_close(
    services: Services, *, students: Sequence[tuple[int, datetime | None]]
) -> CloseReport | None:
    """At start-up: when the last closed session has no close report in the outbox (it was closed by
    a version that planned its warnings after the close, and stopped in between), plan it now.
    Returns None when there is nothing to catch up."""
    async with services.db.write(ATTENDANCE_LOCK) as session:
        last = await session.scalar(
            select(AttendanceSession)
            .where(AttendanceSession.opened_at.is_not(None), AttendanceSession.closed_at.is_not(None))
            .order_by(AttendanceSession.closed_at.desc(), AttendanceSession.id.desc())
            .limit(1)
            .with_for_update()
        )
        if last is None:
            return None
        marker = await session.scalar(
            select(Notification.id).where(Notification.source_key == _close_key(last))
        )
        if marker is not None:
            return None
        return await _plan_after_close(services, session, last, students, late=True)


def _close_key(row: AttendanceSession) -> str:
    """The close report's outbox key: one per close (a session reopened the same day closes again)."""
    assert row.closed_at is not None
    return f"attendance-close:{row.id}:{int(row.closed_at.timestamp())}"


async def _plan_after_close(
    services: Services,
    session: AsyncSession,
    last: AttendanceSession,
    students: Sequence[tuple[int, datetime | None]],
    *,
    late: bool = False,
) -> CloseReport:
    """Inside the transaction of a close: who newly reached a warning count (recorded, so each count
    warns once, and the warning DM planned), the staff's notes on the fail line (once per student and
    count of absences) and the close report, all in the outbox."""
    now = services.now()
    settings = services.config.attendance
    by_student = await _records(services, session, students)
    sent = {(w.discord_id, w.absences) for w in (await session.scalars(select(AbsenceWarning))).all()}
    warnings = []
    one_from_fail: list[int] = []
    failed: list[int] = []
    for discord_id, record in by_student.items():
        due = [
            count for count in settings.warn_at if record.absent >= count and (discord_id, count) not in sent
        ]
        if due:
            await ensure_student(session, discord_id=discord_id, discord_name=None, joined_at=now)
            for count in due:
                session.add(AbsenceWarning(discord_id=discord_id, absences=count, at=now))
            warnings.append((discord_id, record.absent))
            await enqueue(session, warning_notice(services, discord_id, record, now))
        note = fail_line_note(services, discord_id, record, now)
        if note is not None and await enqueue(session, note):
            (failed if record.failed else one_from_fail).append(discord_id)
    checked_in = len(
        (
            await session.scalars(
                select(AttendanceRecord.id).where(
                    AttendanceRecord.session_id == last.id, AttendanceRecord.source == "checkin"
                )
            )
        ).all()
    )
    if last.closed_at is not None:
        text = f"Check-in for {last.lecture_date:%a %Y-%m-%d} closed: {checked_in} checked in."
        if late:
            text += " (Reported at start-up: the bot stopped before it could report it.)"
        await enqueue(session, staff_note(_close_key(last), text, now))
    return CloseReport(_info(last), checked_in, tuple(warnings), tuple(one_from_fail), tuple(failed))


def warning_notice(services: Services, discord_id: int, record: StudentRecord, now: datetime) -> Planned:
    """The warning DM, through the outbox (category `attendance`), once per student and count."""
    fail_at, left = services.config.attendance.fail_at, record.absences_left
    text = (
        f"Attendance notice: you have {record.absent} absence{'s' if record.absent != 1 else ''} in "
        f"{services.config.course.code}. {fail_at} or more absences mean an F; you can miss {left} more "
        f"lecture{'s' if left != 1 else ''}. If an absence had a good reason, use `/excuse`."
    )
    key = f"attendance-warning:{discord_id}:{record.absent}"
    return Planned(key, "attendance_warning", "dm", text, now, category="attendance", user_id=discord_id)


def fail_line_note(
    services: Services, discord_id: int, record: StudentRecord, now: datetime
) -> Planned | None:
    """The staff's note in ta-log when a student is one absence from the fail line or at (or past)
    it; keyed by student and count of absences, so the outbox says each once."""
    fail_at = services.config.attendance.fail_at
    if record.absent >= fail_at:
        text = f"⛔ <@{discord_id}> has reached the fail line: {record.absent} absences ({fail_at} or more mean an F)."
    elif record.absent == fail_at - 1 and record.absent > 0:
        text = f"⚠️ <@{discord_id}> is one absence from the fail line: {record.absent} absences ({fail_at} mean an F)."
    else:
        return None
    return staff_note(f"attendance-fail-line:{discord_id}:{record.absent}", text, now)


# ---- excuses ----------------------------------------------------------------------------------
def _excuse(row: ExcuseRequest) -> ExcuseInfo:
    return ExcuseInfo(row.id, row.discord_id, row.lecture_date, row.reason, row.status, row.created_at)


async def request_excuse(
    services: Services,
    *,
    discord_id: int,
    discord_name: str | None,
    joined_at: datetime | None,
    day: date,
    reason: str,
) -> ExcuseInfo:
    """Ask to excuse an absence on a lecture date (the staff are told in ta-log, through the outbox).
    Raises InvalidInput, NotFound (no lecture) or Conflict (already requested, or you were there)."""
    reason = " ".join(reason.split())
    if not 1 <= len(reason) <= REASON_MAX:
        raise InvalidInput(f"The reason must be 1–{REASON_MAX} characters.")
    now = services.now()
    async with services.db.write(ATTENDANCE_LOCK) as session:
        held = await _session_for_day(services, session, day, create=False)
        if held is None and services.calendar.lecture_on(day) is None:
            raise NotFound(f"There is no lecture on {day:%a %Y-%m-%d}.")
        await ensure_student(
            session, discord_id=discord_id, discord_name=discord_name, joined_at=min(joined_at or now, now)
        )
        if held is not None:
            record = await session.scalar(
                select(AttendanceRecord).where(
                    AttendanceRecord.session_id == held.id, AttendanceRecord.discord_id == discord_id
                )
            )
            if record is not None and record.status in ("present", "late", "excused"):
                raise Conflict(f"You are already recorded as {record.status} on {day:%Y-%m-%d}.")
        duplicate = await session.scalar(
            select(ExcuseRequest).where(
                ExcuseRequest.discord_id == discord_id,
                ExcuseRequest.lecture_date == day,
                ExcuseRequest.status.in_(("pending", "approved")),
            )
        )
        if duplicate is not None:
            raise Conflict(f"You already asked to excuse {day:%Y-%m-%d} (it is {duplicate.status}).")
        row = ExcuseRequest(
            discord_id=discord_id, lecture_date=day, reason=reason, status="pending", created_at=now
        )
        session.add(row)
        await session.flush()
        audit(
            session,
            at=now,
            actor_id=discord_id,
            action="excuse.request",
            target_id=discord_id,
            date=str(day),
            excuse=row.id,
        )
        await enqueue(
            session,
            staff_note(
                f"excuse-request:{row.id}",
                f"📝 <@{discord_id}> asks to excuse {day} (#{row.id}); `/ta excuse review`",
                now,
            ),
        )
        return _excuse(row)


async def pending_excuses(services: Services) -> list[ExcuseInfo]:
    async with services.db.read() as session:
        rows = await session.scalars(
            select(ExcuseRequest).where(ExcuseRequest.status == "pending").order_by(ExcuseRequest.id)
        )
        return [_excuse(r) for r in rows.all()]


async def decide_excuse(services: Services, *, actor_id: int, excuse_id: int, approve: bool) -> ExcuseInfo:
    """Approve or deny a pending request; approval marks the lecture excused (unless the student
    was there). The student is told by DM through the outbox. Raises NotFound or Conflict (already
    decided)."""
    now = services.now()
    async with services.db.write(ATTENDANCE_LOCK) as session:
        row = await session.get(ExcuseRequest, excuse_id, with_for_update=True)
        if row is None:
            raise NotFound("That excuse request does not exist.")
        if row.status != "pending":
            raise Conflict(f"That request was already {row.status}.")
        row.status, row.decided_by, row.decided_at = ("approved" if approve else "denied"), actor_id, now
        if approve:
            held = await _session_for_day(services, session, row.lecture_date, create=False)
            if held is not None:
                record = await session.scalar(
                    select(AttendanceRecord).where(
                        AttendanceRecord.session_id == held.id, AttendanceRecord.discord_id == row.discord_id
                    )
                )
                if record is None:
                    session.add(
                        AttendanceRecord(
                            session_id=held.id,
                            discord_id=row.discord_id,
                            status="excused",
                            source="excuse",
                            at=now,
                        )
                    )
                elif record.status == "absent":
                    record.status, record.source, record.at = "excused", "excuse", now
        audit(
            session,
            at=now,
            actor_id=actor_id,
            action=f"excuse.{row.status}",
            target_id=row.discord_id,
            date=str(row.lecture_date),
            excuse=row.id,
        )
        text = (
            f"Your excuse request for the lecture of {row.lecture_date:%a %Y-%m-%d} was {row.status} "
            "by the staff."
        )
        await enqueue(session, direct_dm(f"excuse-decision:{row.id}", row.discord_id, text, now))
        return _excuse(row)
