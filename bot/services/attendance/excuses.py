"""Excuses: a student asks to excuse an absence (the staff are told in ta-log), optionally with a
document as evidence (a medical note, a 결석계); the staff approve or deny it (the student is told
by DM), and an approval marks the lecture excused unless the student was there. A pending request
can be withdrawn by its student. Every message goes through the outbox in the transaction of the
change.

Evidence is checked by its content (PDF, PNG or JPEG, 1 byte to 8 MB; the name's extension is
corrected to match), stored in the database with its request (see `ExcuseEvidence`), shown only to
the staff, and deleted when the request is withdrawn and `[excuses] evidence_keep_days` after the
term.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from sqlalchemy import case, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db import audit
from bot.db.models import AttendanceRecord, ExcuseEvidence, ExcuseRequest
from bot.errors import Conflict, InvalidInput, NotFound
from bot.notify.outbox import direct_dm, enqueue, staff_note
from bot.services import Services
from bot.services.attendance.sessions import ATTENDANCE_LOCK, session_for_day
from bot.services.students import ensure_student

REASON_MAX = 500
EVIDENCE_MAX_BYTES = 8 * 1024 * 1024  # 8 MB, what the contract promises to take
FILENAME_MAX = 120
# content type → (what people call it, the extension a stored file gets)
EVIDENCE_TYPES = {
    "application/pdf": ("PDF", ".pdf"),
    "image/png": ("PNG image", ".png"),
    "image/jpeg": ("JPEG image", ".jpg"),
}
_ALLOWED_EXTENSIONS = (".pdf", ".png", ".jpg", ".jpeg")
# Content that is certainly not a document, for a clearer reason than "not a PDF, PNG or JPEG".
_PROGRAMS = (b"MZ", b"\x7fELF", b"\xcf\xfa\xed\xfe", b"\xce\xfa\xed\xfe", b"\xca\xfe\xba\xbe", b"#!")
_ARCHIVES = (b"PK\x03\x04", b"Rar!", b"7z\xbc\xaf", b"\x1f\x8b")


@dataclass(frozen=True)
class EvidenceInfo:
    """What the staff see of a stored document before opening it."""

    filename: str
    content_type: str
    size: int

    @property
    def label(self) -> str:
        """ "note.pdf (PDF, 1.2 MB)"."""
        return f"{self.filename} ({EVIDENCE_TYPES[self.content_type][0]}, {size_text(self.size)})"


@dataclass(frozen=True)
class Evidence:
    """A checked upload, ready to store with a request (see `check_evidence`)."""

    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class EvidenceFile:
    """A stored document, for the staff."""

    excuse_id: int
    discord_id: int
    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class ExcuseInfo:
    id: int
    discord_id: int
    lecture_date: date
    reason: str
    status: str
    created_at: datetime
    evidence: EvidenceInfo | None = None


@dataclass(frozen=True)
class ExcuseCounts:
    """One student's excuse requests (withdrawn ones not counted) and how many came with evidence."""

    requested: int = 0
    approved: int = 0
    with_evidence: int = 0


def _excuse(row: ExcuseRequest, evidence: EvidenceInfo | None = None) -> ExcuseInfo:
    return ExcuseInfo(
        row.id, row.discord_id, row.lecture_date, row.reason, row.status, row.created_at, evidence
    )


def _evidence(row: ExcuseEvidence | None) -> EvidenceInfo | None:
    return EvidenceInfo(row.filename, row.content_type, row.size) if row is not None else None


# ---- evidence: the checks ----------------------------------------------------------------------
def size_text(size: int) -> str:
    """ "1.2 MB", "830 kB", "12 bytes"."""
    if size >= 1024 * 1024:
        return f"{size / (1024 * 1024):.1f} MB"
    if size >= 1024:
        return f"{size // 1024} kB"
    return f"{size} byte{'s' if size != 1 else ''}"


def sniff(data: bytes) -> str | None:
    """The content type the bytes really are (PDF, PNG or JPEG), or None."""
    if data.startswith(b"%PDF-"):
        return "application/pdf"
    if data.startswith(b"\x89PNG\r\n\x1a\n") and data[12:16] == b"IHDR":
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    return None


def check_evidence_size(filename: str, size: int) -> None:
    """Refuse an upload by the size Discord reports, before downloading it. Raises InvalidInput."""
    shown = _shown_name(filename)
    if size <= 0:
        raise InvalidInput(f"The evidence file `{shown}` is empty; attach the document itself.")
    if size > EVIDENCE_MAX_BYTES:
        raise InvalidInput(
            f"The evidence file `{shown}` is {size_text(size)}; the limit is 8 MB "
            "(a scan or photo at a lower resolution fits)."
        )


def check_evidence(filename: str, data: bytes) -> Evidence:
    """Check an uploaded document by its content: a PDF, PNG or JPEG of 1 byte to 8 MB, named .pdf,
    .png, .jpg or .jpeg. A name whose extension differs from the content is stored with the
    content's extension. Raises InvalidInput with the reason."""
    check_evidence_size(filename, len(data))
    shown = _shown_name(filename)
    extension = _extension(filename)
    kind = sniff(data)
    if kind is None:
        if data.startswith(_PROGRAMS):
            what = "a program or script, not a document"
        elif data.startswith(_ARCHIVES):
            what = "an archive or an Office document"
        else:
            what = "none of PDF, PNG or JPEG"
        raise InvalidInput(
            f"`{shown}` is {what} by its content; evidence must be a PDF, PNG or JPEG "
            "(export or scan the document as one)."
        )
    if extension not in _ALLOWED_EXTENSIONS:
        raise InvalidInput(
            f"`{shown}` is not named as a PDF, PNG or JPEG (.pdf, .png, .jpg); rename or export it as one."
        )
    stem = _clean_stem(filename) or "evidence"
    right = EVIDENCE_TYPES[kind][1]
    if extension in (".jpg", ".jpeg") and kind == "image/jpeg":
        right = extension
    return Evidence(f"{stem[: FILENAME_MAX - len(right)]}{right}", kind, data)


def _extension(filename: str) -> str:
    base = filename.replace("\\", "/").rsplit("/", 1)[-1]
    return ("." + base.rsplit(".", 1)[1].lower()) if "." in base else ""


def _clean_stem(filename: str) -> str:
    """The name without folders, extension, control or invisible characters."""
    base = filename.replace("\\", "/").rsplit("/", 1)[-1]
    stem = base.rsplit(".", 1)[0] if "." in base else base
    kept = "".join(c for c in stem if unicodedata.category(c)[0] not in "CZ" or c == " ")
    return re.sub(r"\s+", " ", kept).strip(" .")


def _shown_name(filename: str) -> str:
    return (_clean_stem(filename) or "the file")[:40] + (_extension(filename)[:8] if filename else "")


# ---- requests ----------------------------------------------------------------------------------
async def request_excuse(
    services: Services,
    *,
    discord_id: int,
    discord_name: str | None,
    joined_at: datetime | None,
    day: date,
    reason: str,
    evidence: Evidence | None = None,
) -> ExcuseInfo:
    """Ask to excuse an absence on a lecture date, with an optional checked document (the staff
    are told in ta-log, through the outbox). Raises InvalidInput, NotFound (no lecture) or Conflict
    (already requested, or you were there)."""
    reason = " ".join(reason.split())
    if not 1 <= len(reason) <= REASON_MAX:
        raise InvalidInput(f"The reason must be 1–{REASON_MAX} characters.")
    now = services.now()
    async with services.db.write(ATTENDANCE_LOCK) as session:
        held = await session_for_day(services, session, day, create=False)
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
            discord_id=discord_id,
            lecture_date=day,
            reason=reason,
            status="pending",
            created_at=now,
            had_evidence=evidence is not None,
        )
        session.add(row)
        await session.flush()
        stored = None
        if evidence is not None:
            stored = ExcuseEvidence(
                excuse_id=row.id,
                filename=evidence.filename,
                content_type=evidence.content_type,
                size=len(evidence.data),
                sha256=hashlib.sha256(evidence.data).hexdigest(),
                data=evidence.data,
                stored_at=now,
            )
            session.add(stored)
        audit(
            session,
            at=now,
            actor_id=discord_id,
            action="excuse.request",
            target_id=discord_id,
            date=str(day),
            excuse=row.id,
            evidence=stored.sha256 if stored else None,
        )
        info = _excuse(row, _evidence(stored))
        attached = f" with evidence: {info.evidence.label}" if info.evidence else ""
        await enqueue(
            session,
            staff_note(
                f"excuse-request:{row.id}",
                f"📝 <@{discord_id}> asks to excuse {day} (#{row.id}){attached}; `/ta excuse review`",
                now,
            ),
        )
        return info


async def pending_excuses(services: Services) -> list[ExcuseInfo]:
    """Pending requests, oldest first, with what their evidence is (not its bytes)."""
    async with services.db.read() as session:
        rows = await session.execute(
            select(ExcuseRequest, ExcuseEvidence.filename, ExcuseEvidence.content_type, ExcuseEvidence.size)
            .outerjoin(ExcuseEvidence, ExcuseEvidence.excuse_id == ExcuseRequest.id)
            .where(ExcuseRequest.status == "pending")
            .order_by(ExcuseRequest.id)
        )
        return [
            _excuse(row, EvidenceInfo(filename, content_type, size) if filename is not None else None)
            for row, filename, content_type, size in rows.all()
        ]


async def evidence_file(services: Services, *, excuse_id: int) -> EvidenceFile:
    """The stored document of a request, for the staff (the caller checks who asks). Raises
    NotFound when the request has none (never had one, withdrawn, or deleted after the term)."""
    async with services.db.read() as session:
        found = (
            await session.execute(
                select(ExcuseEvidence, ExcuseRequest.discord_id)
                .join(ExcuseRequest, ExcuseRequest.id == ExcuseEvidence.excuse_id)
                .where(ExcuseEvidence.excuse_id == excuse_id)
            )
        ).first()
    if found is None:
        raise NotFound(f"Excuse #{excuse_id} has no stored evidence (none was attached, or it was deleted).")
    evidence, discord_id = found
    return EvidenceFile(excuse_id, discord_id, evidence.filename, evidence.content_type, evidence.data)


async def withdraw_excuse(services: Services, *, discord_id: int, excuse_id: int) -> ExcuseInfo:
    """The student takes back a pending request; its evidence is deleted with it and the staff are
    told in ta-log. Raises NotFound (not theirs, or no such request) or Conflict (already decided)."""
    now = services.now()
    async with services.db.write(ATTENDANCE_LOCK) as session:
        row = await session.get(ExcuseRequest, excuse_id, with_for_update=True)
        if row is None or row.discord_id != discord_id:
            raise NotFound("You have no such excuse request.")
        if row.status != "pending":
            raise Conflict(
                f"Your request for {row.lecture_date} was already {row.status}; it cannot be withdrawn."
            )
        deleted = await session.execute(delete(ExcuseEvidence).where(ExcuseEvidence.excuse_id == row.id))
        row.status, row.decided_at = "withdrawn", now
        audit(
            session,
            at=now,
            actor_id=discord_id,
            action="excuse.withdraw",
            target_id=discord_id,
            date=str(row.lecture_date),
            excuse=row.id,
            evidence_deleted=bool(deleted.rowcount),  # type: ignore[attr-defined]
        )
        await enqueue(
            session,
            staff_note(
                f"excuse-withdraw:{row.id}",
                f"📝 <@{discord_id}> withdrew the excuse request #{row.id} for {row.lecture_date}.",
                now,
            ),
        )
        return _excuse(row)


async def decide_excuse(services: Services, *, actor_id: int, excuse_id: int, approve: bool) -> ExcuseInfo:
    """Approve or deny a pending request; approval marks the lecture excused (unless the student
    was there) and accepts its evidence. The student is told by DM through the outbox. Raises
    NotFound or Conflict (already decided: the reason says by whom)."""
    now = services.now()
    async with services.db.write(ATTENDANCE_LOCK) as session:
        row = await session.get(ExcuseRequest, excuse_id, with_for_update=True)
        if row is None:
            raise NotFound("That excuse request does not exist.")
        if row.status != "pending":
            by = f" by <@{row.decided_by}>" if row.decided_by and row.status != "withdrawn" else ""
            at = f" <t:{int(row.decided_at.timestamp())}:R>" if row.decided_at else ""
            raise Conflict(f"That request was already {row.status}{by}{at}.")
        row.status, row.decided_by, row.decided_at = ("approved" if approve else "denied"), actor_id, now
        if approve:
            held = await session_for_day(services, session, row.lecture_date, create=False)
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
        evidence = await session.scalar(select(ExcuseEvidence).where(ExcuseEvidence.excuse_id == row.id))
        audit(
            session,
            at=now,
            actor_id=actor_id,
            action=f"excuse.{row.status}",
            target_id=row.discord_id,
            date=str(row.lecture_date),
            excuse=row.id,
            evidence="accepted" if evidence and approve else "not accepted" if evidence else None,
        )
        text = (
            f"Your excuse request for the lecture of {row.lecture_date:%a %Y-%m-%d} was {row.status} "
            "by the staff."
        )
        if evidence is not None:
            text += f" Your evidence ({evidence.filename}) was {'accepted' if approve else 'not accepted'}."
        elif row.had_evidence:
            text += " Your evidence was no longer stored, so it was not looked at."
        await enqueue(session, direct_dm(f"excuse-decision:{row.id}", row.discord_id, text, now))
        return _excuse(row, _evidence(evidence))


# ---- privacy and counts ------------------------------------------------------------------------
def evidence_expiry(services: Services) -> datetime:
    """When stored evidence is deleted: the start of the day after the term, plus
    `[excuses] evidence_keep_days`."""
    day = services.calendar.term_end + timedelta(days=1 + services.config.excuses.evidence_keep_days)
    return services.calendar.at(day, time(0, 0))


async def purge_expired_evidence(services: Services) -> int:
    """Delete every stored document once the term is `evidence_keep_days` over (audited when
    anything was deleted). Returns how many were deleted; safe to run at any time and again."""
    now = services.now()
    if now < evidence_expiry(services):
        return 0
    async with services.db.write(ATTENDANCE_LOCK) as session:
        deleted = int((await session.execute(delete(ExcuseEvidence))).rowcount or 0)  # type: ignore[attr-defined]
        if deleted:
            audit(
                session,
                at=now,
                actor_id=None,
                action="excuse.evidence_purge",
                deleted=deleted,
                keep_days=services.config.excuses.evidence_keep_days,
            )
        return deleted


async def excuse_counts(
    session: AsyncSession, discord_ids: list[int] | None = None
) -> dict[int, ExcuseCounts]:
    """Per student: requests (withdrawn ones not counted), approved ones, and those with evidence
    (inside the caller's read). Raises nothing."""
    query = (
        select(
            ExcuseRequest.discord_id,
            func.count(),
            func.sum(case((ExcuseRequest.status == "approved", 1), else_=0)),
            func.sum(case((ExcuseRequest.had_evidence.is_(True), 1), else_=0)),
        )
        .where(ExcuseRequest.status != "withdrawn")
        .group_by(ExcuseRequest.discord_id)
    )
    if discord_ids is not None:
        query = query.where(ExcuseRequest.discord_id.in_(discord_ids))
    return {
        int(discord_id): ExcuseCounts(int(total), int(approved or 0), int(evidence or 0))
        for discord_id, total, approved, evidence in (await session.execute(query)).all()
    }


async def excuse_counts_of(services: Services, discord_id: int) -> ExcuseCounts:
    """One student's excuse counts (for `/ta student`)."""
    async with services.db.read() as session:
        return (await excuse_counts(session, [discord_id])).get(discord_id, ExcuseCounts())
