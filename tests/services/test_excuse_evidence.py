"""Excuse evidence against a real database: the checks by content (and the reasons for a refusal),
the byte-for-byte round trip, what the staff see, the decision DM, withdrawal and the deletion after
the term, the counts, and `coursebot backup` keeping the evidence.

The clock stands at Mon 2025-03-10 11:00 KST; the lecture of Wed 2025-03-05 is in the past.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.__main__ import main
from bot.db import Database
from bot.db.models import ExcuseEvidence, ExcuseRequest, Notification
from bot.errors import Conflict, InvalidInput, NotFound
from bot.services import Services, attendance
from bot.services.attendance import excuses
from tests.conftest import ROOT, audit_rows, seoul

ALICE, BOB, TA = 11, 12, 1
LECTURE = date(2025, 3, 5)
MB = 1024 * 1024
PDF = b"%PDF-1.7\n" + os.urandom(50_000) + b"\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + os.urandom(3000)
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + os.urandom(3000) + b"\xff\xd9"


async def ask(
    services: Services, who: int = ALICE, evidence: attendance.Evidence | None = None, day: date = LECTURE
) -> attendance.ExcuseInfo:
    return await attendance.request_excuse(
        services,
        discord_id=who,
        discord_name=f"user{who}",
        joined_at=seoul(2025, 3, 1, 9, 0),
        day=day,
        reason="fever",
        evidence=evidence,
    )


async def stored(services: Services) -> list[tuple[int, str, str, int, bytes]]:
    async with services.db.read() as session:
        rows = (await session.scalars(select(ExcuseEvidence).order_by(ExcuseEvidence.id))).all()
    return [(r.excuse_id, r.filename, r.content_type, r.size, r.data) for r in rows]


async def dms(services: Services) -> list[str]:
    async with services.db.read() as session:
        return list(
            (
                await session.scalars(
                    select(Notification.text)
                    .where(Notification.source_key.like("excuse-decision:%"))
                    .order_by(Notification.id)
                )
            ).all()
        )


# ---- the checks --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "data", "kind", "kept"),
    [
        ("note.pdf", PDF, "application/pdf", "note.pdf"),
        ("scan.PNG", PNG, "image/png", "scan.png"),
        ("photo.jpeg", JPEG, "image/jpeg", "photo.jpeg"),
        ("photo.JPG", JPEG, "image/jpeg", "photo.jpg"),
        ("scan.pdf", PNG, "image/png", "scan.png"),  # named wrongly: stored by what it is
        ("C:\\Users\\me\\결석계.pdf", PDF, "application/pdf", "결석계.pdf"),
        ("\u202eevil\u200b.pdf", PDF, "application/pdf", "evil.pdf"),
    ],
)
def test_accepted_documents(name: str, data: bytes, kind: str, kept: str) -> None:
    evidence = attendance.check_evidence(name, data)
    assert (evidence.filename, evidence.content_type, evidence.data) == (kept, kind, data)


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("note.pdf", b"", "The evidence file `note.pdf` is empty"),
        ("note.pdf", b"%PDF-" + b"x" * (8 * MB), "is 8.0 MB; the limit is 8 MB"),
        ("note.pdf", b"MZ\x90\x00" + b"\x00" * 500, "`note.pdf` is a program or script, not a document"),
        ("scan.png", b"\x7fELF\x02\x01" + b"\x00" * 500, "is a program or script, not a document"),
        ("note.pdf", b"#!/bin/sh\nrm -rf ~\n", "is a program or script"),
        ("note.docx", b"PK\x03\x04" + b"\x00" * 500, "is an archive or an Office document"),
        ("note.pdf", b"I was sick, really.\n", "is none of PDF, PNG or JPEG by its content"),
        ("note.gif", b"GIF89a" + b"\x00" * 100, "is none of PDF, PNG or JPEG"),
        ("note.txt", PDF, "`note.txt` is not named as a PDF, PNG or JPEG"),
        ("note", PDF, "is not named as a PDF, PNG or JPEG"),
    ],
)
def test_refused_uploads_say_why(name: str, data: bytes, reason: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        attendance.check_evidence(name, data)
    assert reason in refused.value.message
    assert "\n" not in refused.value.message


def test_the_size_is_checked_before_downloading() -> None:
    attendance.check_evidence_size("note.pdf", 8 * MB)  # exactly 8 MB is fine
    for size, reason in ((8 * MB + 1, "the limit is 8 MB"), (0, "is empty")):
        with pytest.raises(InvalidInput, match=reason):
            attendance.check_evidence_size("note.pdf", size)


# ---- stored with the request -------------------------------------------------------------------
async def test_evidence_round_trips_byte_for_byte(services: Services) -> None:
    big = b"%PDF-1.4\n" + os.urandom(8 * MB - 9)  # the largest allowed, every byte value
    request = await ask(services, evidence=attendance.check_evidence("note.pdf", big))
    assert request.evidence == attendance.EvidenceInfo("note.pdf", "application/pdf", 8 * MB)
    found = await attendance.evidence_file(services, excuse_id=request.id)
    assert found.data == big and hashlib.sha256(found.data).digest() == hashlib.sha256(big).digest()
    assert (found.filename, found.discord_id) == ("note.pdf", ALICE)
    [entry] = await audit_rows(services, "excuse.request")
    assert f'"evidence": "{hashlib.sha256(big).hexdigest()}"' in entry.details  # the audit names it by hash


async def test_the_staff_see_what_the_evidence_is(services: Services) -> None:
    with_file = await ask(services, evidence=attendance.check_evidence("scan.png", PNG))
    without = await ask(services, BOB)
    pending = {e.id: e.evidence for e in await attendance.pending_excuses(services)}
    assert pending == {
        with_file.id: attendance.EvidenceInfo("scan.png", "image/png", len(PNG)),
        without.id: None,
    }
    assert pending[with_file.id].label == "scan.png (PNG image, 2 kB)"  # type: ignore[union-attr]
    async with services.db.read() as session:
        note = await session.scalar(
            select(Notification.text).where(Notification.source_key == f"excuse-request:{with_file.id}")
        )
    assert (
        note
        == f"📝 <@{ALICE}> asks to excuse {LECTURE} (#{with_file.id}) with evidence: scan.png (PNG image, 2 kB); `/ta excuse review`"
    )
    with pytest.raises(NotFound, match="has no stored evidence"):
        await attendance.evidence_file(services, excuse_id=without.id)


async def test_the_decision_says_whether_the_evidence_was_accepted(services: Services) -> None:
    first = await ask(services, evidence=attendance.check_evidence("note.pdf", PDF))
    second = await ask(services, BOB, evidence=attendance.check_evidence("photo.jpg", JPEG))
    await attendance.decide_excuse(services, actor_id=TA, excuse_id=first.id, approve=True)
    await attendance.decide_excuse(services, actor_id=TA, excuse_id=second.id, approve=False)
    assert await dms(services) == [
        "Your excuse request for the lecture of Wed 2025-03-05 was approved by the staff. "
        "Your evidence (note.pdf) was accepted.",
        "Your excuse request for the lecture of Wed 2025-03-05 was denied by the staff. "
        "Your evidence (photo.jpg) was not accepted.",
    ]
    [approved] = await audit_rows(services, "excuse.approved")
    [denied] = await audit_rows(services, "excuse.denied")
    assert '"evidence": "accepted"' in approved.details
    assert '"evidence": "not accepted"' in denied.details


async def test_withdrawing_deletes_the_evidence(services: Services) -> None:
    request = await ask(services, evidence=attendance.check_evidence("note.pdf", PDF))
    with pytest.raises(NotFound):  # not Bob's
        await attendance.withdraw_excuse(services, discord_id=BOB, excuse_id=request.id)
    assert len(await stored(services)) == 1
    withdrawn = await attendance.withdraw_excuse(services, discord_id=ALICE, excuse_id=request.id)
    assert withdrawn.status == "withdrawn"
    assert await stored(services) == []
    assert await attendance.pending_excuses(services) == []
    with pytest.raises(Conflict, match="already withdrawn"):
        await attendance.decide_excuse(services, actor_id=TA, excuse_id=request.id, approve=True)
    with pytest.raises(Conflict, match="cannot be withdrawn"):
        await attendance.withdraw_excuse(services, discord_id=ALICE, excuse_id=request.id)
    [entry] = await audit_rows(services, "excuse.withdraw")
    assert '"evidence_deleted": true' in entry.details
    await ask(services, evidence=attendance.check_evidence("note.pdf", PDF))  # asking again is fine


async def test_a_decided_request_cannot_be_withdrawn(services: Services) -> None:
    request = await ask(services, evidence=attendance.check_evidence("note.pdf", PDF))
    await attendance.decide_excuse(services, actor_id=TA, excuse_id=request.id, approve=False)
    with pytest.raises(Conflict, match="already denied"):
        await attendance.withdraw_excuse(services, discord_id=ALICE, excuse_id=request.id)
    assert len(await stored(services)) == 1


async def test_evidence_is_deleted_the_configured_time_after_the_term(services: Services) -> None:
    request = await ask(services, evidence=attendance.check_evidence("note.pdf", PDF))
    await ask(services, BOB, evidence=attendance.check_evidence("scan.png", PNG))
    expiry = excuses.evidence_expiry(services)
    assert expiry == seoul(2025, 7, 23, 0, 0)  # the term ends Sun 06-22; 30 days are kept after it
    services.clock.set(expiry - timedelta(minutes=1))
    assert await attendance.purge_expired_evidence(services) == 0
    assert len(await stored(services)) == 2
    services.clock.set(expiry)
    assert await attendance.purge_expired_evidence(services) == 2
    assert await stored(services) == []
    assert await attendance.purge_expired_evidence(services) == 0  # again: nothing, no second audit
    [entry] = await audit_rows(services, "excuse.evidence_purge")
    assert '"deleted": 2' in entry.details
    await attendance.decide_excuse(services, actor_id=TA, excuse_id=request.id, approve=True)
    assert (await dms(services))[-1].endswith("Your evidence was no longer stored, so it was not looked at.")
    async with services.db.read() as session:
        counts = await attendance.excuse_counts(session)
    assert counts[ALICE] == attendance.ExcuseCounts(requested=1, approved=1, with_evidence=1)


async def test_counts_leave_out_withdrawn_requests(services: Services) -> None:
    withdrawn = await ask(services, evidence=attendance.check_evidence("note.pdf", PDF))
    await attendance.withdraw_excuse(services, discord_id=ALICE, excuse_id=withdrawn.id)
    await ask(services)
    with_file = await ask(services, BOB, evidence=attendance.check_evidence("note.pdf", PDF))
    await attendance.decide_excuse(services, actor_id=TA, excuse_id=with_file.id, approve=True)
    async with services.db.read() as session:
        counts = await attendance.excuse_counts(session)
        only_bob = await attendance.excuse_counts(session, [BOB])
    assert counts == {
        ALICE: attendance.ExcuseCounts(1, 0, 0),
        BOB: attendance.ExcuseCounts(1, 1, 1),
    }
    assert only_bob == {BOB: attendance.ExcuseCounts(1, 1, 1)}


async def test_a_request_whose_student_row_goes_takes_its_evidence(services: Services) -> None:
    request = await ask(services, evidence=attendance.check_evidence("note.pdf", PDF))
    async with services.db.write() as session:
        row = await session.get(ExcuseRequest, request.id)
        assert row is not None
        await session.delete(row)
    assert await stored(services) == []  # ON DELETE CASCADE: no orphan document


# ---- backup and restore ------------------------------------------------------------------------
async def test_backup_and_restore_keep_the_evidence(
    services: Services, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    if not services.db.is_sqlite:
        pytest.skip("coursebot backup copies SQLite databases (PostgreSQL: pg_dump)")
    data = b"%PDF-1.5\n" + bytes(range(256)) * 4000
    request = await ask(services, evidence=attendance.check_evidence("medical note.pdf", data))
    copy = tmp_path / "backup" / "coursebot.db"
    monkeypatch.setenv("DATABASE_URL", services.db.url)
    assert main(["backup", str(copy), "--config", str(ROOT / "config.toml")]) == 0
    capsys.readouterr()
    connection = sqlite3.connect(copy)
    try:
        [(name, blob)] = connection.execute("SELECT filename, data FROM excuse_evidence").fetchall()
    finally:
        connection.close()
    assert (name, blob) == ("medical note.pdf", data)
    # Restoring is putting the copy in place of the database: the bot reads the same document back.
    restored = Database(f"sqlite+aiosqlite:///{copy}")
    try:
        found = await attendance.evidence_file(
            Services(restored, services.clock, services.config, services.calendar), excuse_id=request.id
        )
    finally:
        await restored.dispose()
    assert found.data == data
