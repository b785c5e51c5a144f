"""`/excuse date reason evidence` and `/ta excuse review` through discord.py and simcord: the file is
downloaded and stored at once, shown to the staff as a file (and never to a student), refused with a
one-line reason when it is no PDF, PNG or JPEG of at most 8 MB, and deleted by Withdraw.

The clock stands at Mon 2025-03-10 11:00 KST; the lecture of Wed 2025-03-05 is in the past.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from sqlalchemy import func, select

from bot.db.models import ExcuseEvidence, ExcuseRequest
from tests.cogs.conftest import card_of, dms, embed_text, one_line
from tests.cogs.test_appointments_commands import press

if TYPE_CHECKING:
    from tests.cogs.conftest import Course

STAFF_ONLY = "Only the course staff (TA or instructor role) can do that."
PDF = b"%PDF-1.6\n" + os.urandom(200_000) + b"\n%%EOF\n"


async def excuse(course: Course, who: str, name: str, data: bytes) -> str:
    result = await course.members[who].slash(
        course.channel, "excuse", date="2025-03-05", reason="fever", evidence=(name, data)
    )
    return one_line(result)


async def counts(course: Course) -> tuple[int, int]:
    async with course.bot.services.db.read() as session:
        requests = await session.scalar(select(func.count()).select_from(ExcuseRequest)) or 0
        files = await session.scalar(select(func.count()).select_from(ExcuseEvidence)) or 0
    return requests, files


async def test_evidence_is_stored_and_shown_to_the_staff_as_a_file(course: Course) -> None:
    asked = await course.members["alice"].slash(
        course.channel, "excuse", date="2025-03-05", reason="fever", evidence=("진단서.pdf", PDF)
    )
    assert one_line(asked) == (
        "Your request #1 to excuse Wed 2025-03-05 is with the staff with your evidence 진단서.pdf "
        "(PDF, 195 kB), which only the staff can see; you will get a DM when they decide."
    )
    shown = await course.members["ta"].slash(course.channel, "ta excuse review")
    assert "📎 진단서.pdf (PDF, 195 kB)" in embed_text(card_of(shown))
    opened = await course.members["ta"].click(shown.response, label="Evidence #1")
    [attachment] = opened.response.attachments
    assert attachment.filename == "진단서.pdf"
    assert await attachment.read() == PDF  # byte for byte
    assert opened.ephemeral
    # a student never gets it, not even the one who sent it, whatever message the press comes from
    for who, message in (("alice", asked.response), ("bob", course.channels["ta-log"].history()[-1])):
        assert one_line(await press(course, who, message, "excuseevidence:1")) == STAFF_ONLY
    await course.members["ta"].click(shown.response, label="Approve #1")
    assert dms(course, "alice")[-1].endswith("Your evidence (진단서.pdf) was accepted.")


async def test_bad_files_are_refused_with_a_reason_and_nothing_is_stored(course: Course) -> None:
    for name, data, reason in (
        ("note.pdf", b"", "The evidence file `note.pdf` is empty; attach the document itself."),
        (
            "scan.pdf",
            b"%PDF-" + b"0" * (8 * 1024 * 1024),
            "The evidence file `scan.pdf` is 8.0 MB; the limit is 8 MB",
        ),
        ("note.pdf", b"MZ\x90\x00" + os.urandom(4000), "`note.pdf` is a program or script, not a document"),
        ("note.docx", b"PK\x03\x04" + os.urandom(4000), "`note.docx` is an archive or an Office document"),
        ("note.txt", PDF, "`note.txt` is not named as a PDF, PNG or JPEG"),
    ):
        assert (await excuse(course, "alice", name, data)).startswith(reason)
    assert await counts(course) == (0, 0)


async def test_withdraw_deletes_the_request_and_its_evidence(course: Course) -> None:
    asked = await course.members["alice"].slash(
        course.channel, "excuse", date="2025-03-05", reason="fever", evidence=("note.pdf", PDF)
    )
    assert await counts(course) == (1, 1)
    bob = await course.members["bob"].slash(course.channel, "attendance")
    assert one_line(await press(course, "bob", bob.response, "excusewithdraw:1")) == (
        "You have no such excuse request."
    )
    withdrawn = await course.members["alice"].click(asked.response, label="Withdraw #1")
    assert one_line(withdrawn) == (
        "Your request #1 to excuse Wed 2025-03-05 is withdrawn; anything you attached to it is deleted."
    )
    assert await counts(course) == (1, 0)
    assert one_line(await course.members["ta"].slash(course.channel, "ta excuse review")) == (
        "No pending excuse requests."
    )


async def test_a_request_without_evidence_has_no_evidence_button(course: Course) -> None:
    await course.members["alice"].slash(course.channel, "excuse", date="2025-03-05", reason="bus")
    shown = await course.members["ta"].slash(course.channel, "ta excuse review")
    labels = [button["label"] for row in shown.response.components for button in row["components"]]
    assert labels == ["Approve #1", "Deny #1"]
