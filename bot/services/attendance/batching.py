"""Group commit for check-ins, and its correctness contract.

A lecture hall typing the code at once would otherwise be hundreds of write transactions, one after
another behind the database's write lock, each several queries. Requests that arrive while a
transaction runs wait for it and then go together, in arrival order, in the next one (at most
CHECKIN_BATCH_MAX), so a burst costs a handful of queries per batch. An idle bot sends a lone
request through at once (a batch of one).

The contract: each caller gets exactly what a transaction of its own, at its own request time,
would have given. To keep it,
- the rule (`checkin.decide`) runs per request, in arrival order, on the state the earlier requests
  of the batch left, and each request picks the session open at its own time;
- the rows a batch writes (records, wrong tries, audit rows in request order, lockout notes) are
  exactly those the requests one by one would have written;
- a batch that fails because the database is busy fails every request with that error (nothing was
  written); any other failure re-runs each request in a transaction of its own, so one request's
  error never becomes another's;
- a caller that gives up (cancelled) gets nothing, and at shutdown no caller waits forever.
The queue is kept per database (one bot has one), in a map that forgets a database once it is gone.
"""

from __future__ import annotations

import asyncio
import secrets
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import insert, select

from bot.db import Database
from bot.db.audit import audit_values
from bot.db.engine import WriteWait, is_busy, limit_write_wait, write_wait
from bot.db.models import AttendanceRecord, AttendanceSession, AuditEntry, CheckinAttempt
from bot.errors import NotAllowed
from bot.notify.outbox import enqueue, staff_note
from bot.services import Services
from bot.services.attendance.checkin import CheckinResult, Decision, decide
from bot.services.attendance.sessions import ATTENDANCE_LOCK, accepted_codes, session_info
from bot.services.codes import normalise
from bot.services.students import ensure_students

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
    """The group commit of one database (see the module's docstring)."""

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

    Concurrent check-ins share write transactions (see this module's docstring); the outcome is the
    same as if each had its own."""
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
        # time, like `open_row` would have (the database's time comparison, done here per request).
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
        accepted = {row.id: accepted_codes(services, row) for row in open_rows}
        infos = {row.id: session_info(row) for row in open_rows}

        # 1. Decide, in order, on the state the earlier requests leave (nothing is written yet).
        state = {key: (record.status, record.at) for key, record in records.items()}
        wrong = {key: attempt.wrong for key, attempt in attempts.items()}
        results: list[CheckinResult | Exception] = []
        # (request, session, decision) for each request that changes something
        changes: list[tuple[_CheckinRequest, AttendanceSession, Decision]] = []
        for request, row in zip(requests, chosen, strict=True):
            if row is None:
                results.append(NotAllowed("No check-in is open right now."))
                continue
            key = (row.id, request.discord_id)
            status, at = state.get(key, (None, None))
            decision = decide(
                settings,
                infos[row.id],
                typed=request.typed,
                at=request.now,
                accepted=accepted[row.id],
                status=status,
                checked_in_at=at,
                wrong=wrong.get(key, 0),
            )
            results.append(decision.result)
            if decision.change == "wrong":
                wrong[key] = wrong.get(key, 0) + 1
            elif decision.change is not None:
                state[key] = (decision.change, request.now)
            if decision.change is not None:
                changes.append((request, row, decision))

        # 2. The students checking in exist before their records (foreign key).
        await ensure_students(
            session,
            {
                request.discord_id: (request.discord_name, min(request.joined_at or request.now, request.now))
                for request, _, decision in changes
                if decision.change != "wrong"
            },
        )

        # 3. Write. New records and the audit rows go in as bulk inserts (a burst's rows in a few
        # statements, not one ORM object each); audit rows in request order, as if one by one.
        new_records: list[dict[str, object]] = []
        audit_rows: list[dict[str, object]] = []
        for request, row, decision in changes:
            key = (row.id, request.discord_id)
            status = decision.change
            assert status is not None  # `changes` holds only the decisions that write
            if status == "wrong":
                tries = attempts.get(key)
                if tries is None:
                    tries = attempts[key] = CheckinAttempt(
                        session_id=row.id, discord_id=request.discord_id, wrong=0
                    )
                    session.add(tries)
                tries.wrong += 1
                if decision.locks_out:
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
