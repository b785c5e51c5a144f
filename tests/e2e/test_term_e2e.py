"""End to end, a compressed term: the real `python -m bot run` process against the local fake Discord,
restarted with a later `--now` to jump in time (the database persists between runs).

The fake behaves like Discord where it matters: a global limit of 50 REST requests/s answered with 429
and retry_after, nonces honoured, 403 (50007) for a student whose DMs are closed, and interaction
callbacks refused with 10062 after 3 s. Everything is asserted from what the fake received.

1. Mon 2025-03-10 10:00 (week 2, sign-up open): registration, the staff's paper import, sign-ups with a
   waitlist and a promotion by DM on withdrawal, a group created, joined by code and by an invitation
   accepted with the DM's button, and office-hours reminders switched on (one student's DMs are closed).
2. Wed 2025-03-12 11:00 (a lecture): the TA opens check-in, students check in with the code from the
   TA's reply (one wrong code first), the TA closes it, and the absence warnings go out by DM (or to
   the fallback channel for the closed DMs).
3. Wed 2025-03-19 15:59:40 (office hours at 17:00): a staff deadline due 16:01 with `remind:1m` and the
   1h-before office-hours reminder both fall due at 16:00 (~20 s in): channel posts and DMs with nonces.
   Then `/ta export`, whose CSV attachment is parsed, and a clean SIGTERM.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest_asyncio
from bot_process import CourseRun, running_course

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 30.0  # process start to commands synced and READY (generous: CI machines are shared)
ANSWER_TIMEOUT = 10.0
OUTBOX_TIMEOUT = 20.0  # the dispatcher waits for on_ready (~2 s after READY), then paces DMs at 5/s
REMINDER_TIMEOUT = 60.0  # the reminders fall due ~20 s after the third start
JOINED = "2025-02-24T00:00:00+00:00"  # everyone joined the server before the term
STUDENTS = ("alice", "bob", "carol", "dave", "erin")


def find_custom_id(message: dict[str, Any], pattern: str) -> str:
    """The custom_id of the first component on `message` matching `pattern`."""

    def walk(components: list[dict[str, Any]]) -> list[str]:
        found = []
        for c in components:
            if c.get("custom_id"):
                found.append(c["custom_id"])
            found += walk(c.get("components") or [])
        return found

    ids = walk(message.get("components") or [])
    match = next((i for i in ids if re.fullmatch(pattern, i)), None)
    assert match, f"no component matching {pattern!r} in {ids}"
    return match


@pytest_asyncio.fixture
async def term(tmp_path: Path) -> AsyncIterator[CourseRun]:
    async with running_course(
        tmp_path, students=STUDENTS, joined=JOINED, rate_limit_per_second=50, interaction_deadline=3.0
    ) as course:
        course.bot.ready_timeout = START_TIMEOUT
        course.fd.dm_closed.add(course.server.guild.member("dave").id)
        yield course


async def test_a_compressed_term(term: CourseRun) -> None:
    fd, guild, ta = term.fd, term.server.guild, term.server.ta
    alice, bob, carol, dave, erin = term.server.students
    announcements, ta_log, bot_notices = (
        guild.channel(n) for n in ("announcements", "ta-log", "bot-notices")
    )

    # ---- 1. Mon 2025-03-10, week 2: paper sign-up is open ---------------------------------------------
    await term.bot.start("2025-03-10 10:00")
    for number, member in enumerate((alice, bob, carol, dave, erin), start=1):
        name = member.user.username.title()
        registered = await term.slash(member, "register", {"student_id": f"2025000{number}", "name": name})
        assert registered.ephemeral and (registered.content or "").startswith("Registered"), (
            registered.content
        )

    papers_csv = (ROOT / "data" / "papers.sample.csv").read_bytes()
    imported = await term.slash(ta, "ta paper import", {"file": ("papers.csv", papers_csv)})
    assert (imported.content or "").startswith("Imported: 21 added"), imported.content

    for member in (alice, bob):
        taken = await term.slash(member, "signup paper", {"number": 4})
        assert (taken.content or "").startswith("You present paper 4"), taken.content
    waiting = await term.slash(carol, "signup paper", {"number": 4})
    assert "waitlist at position 1" in (waiting.content or ""), waiting.content
    withdrawn = await term.slash(bob, "signup withdraw")
    assert withdrawn.content == "You no longer present paper 4.", withdrawn.content
    await term.bot.wait_for(
        lambda: any("moved up from the waitlist" in t for t in term.texts(carol)),
        ANSWER_TIMEOUT,
        "carol's promotion DM",
    )
    assert any("You now present paper 4" in t for t in term.texts(carol)), term.texts(carol)

    created = await term.slash(alice, "group create", {"name": "Sparse Squad"})
    code = re.search(r"invite code `([A-Z0-9]+)`", created.content or "")
    assert code, created.content
    joined = await term.slash(bob, "group join", {"code": code.group(1)})
    assert (joined.content or "").startswith("You joined group Sparse Squad"), joined.content
    invited = await term.slash(alice, "group invite", {"member": carol})
    assert (invited.content or "").startswith(f"Invitation to <@{carol.id}> is on its way by DM"), (
        invited.content
    )

    def invitations() -> list[dict[str, Any]]:
        return [m for m in fd.dms(carol) if "invites you to project group Sparse Squad" in m["content"]]

    await term.bot.wait_for(
        lambda: bool(invitations()), ANSWER_TIMEOUT, "carol's invitation DM (through the outbox)"
    )
    [invitation] = invitations()
    accepted = await term.click(invitation, find_custom_id(invitation, r"ginvite:\d+:accept"), carol)
    assert accepted.content == "You joined group Sparse Squad.", accepted.content
    await term.bot.wait_for(
        lambda: any(f"<@{carol.id}> accepted your invitation" in t for t in term.texts(alice)),
        ANSWER_TIMEOUT,
        "alice told that carol accepted",
    )

    for member in (alice, dave):
        on = await term.slash(member, "reminders", {"category": "office_hours", "enabled": True})
        assert (on.content or "").startswith("office_hours reminders are now on"), on.content
    await term.bot.stop()

    # ---- 2. Wed 2025-03-12 11:00: a lecture with check-in -------------------------------------------------
    await term.bot.start("2025-03-12 11:00")
    status = await term.slash(carol, "signup status")  # the database survived the restart
    assert any("paper 4" in (f.get("value") or "") for f in status.embeds[0]["fields"]), status.embeds

    opened = await term.slash(ta, "ta attendance open")
    found = re.search(r"Code: `([A-Z0-9]+)`", opened.content or "")
    assert opened.ephemeral and found, opened.content
    checkin_code = found.group(1)
    for member in (alice, bob):
        checked = await term.slash(member, "checkin", {"code": checkin_code})
        assert checked.content == "Checked in to the lecture of Wed 2025-03-12: present.", checked.content
    wrong = await term.slash(carol, "checkin", {"code": "ZZZZZZ" if checkin_code != "ZZZZZZ" else "YYYYYY"})
    assert wrong.content == "Wrong code; 2 tries left.", wrong.content
    checked = await term.slash(carol, "checkin", {"code": checkin_code.lower()})
    assert checked.content == "Checked in to the lecture of Wed 2025-03-12: present.", checked.content
    again = await term.slash(alice, "checkin", {"code": checkin_code})
    assert (again.content or "").startswith("You already checked in"), again.content

    closed = await term.slash(ta, "ta attendance close")
    assert closed.content == "Check-in for Wed 2025-03-12 is closed.", closed.content
    await term.bot.wait_for(
        lambda: any("Check-in for Wed 2025-03-12 closed: 3 checked in." in t for t in term.texts(ta_log)),
        ANSWER_TIMEOUT,
        "the close report in ta-log",
    )
    await term.bot.wait_for(
        lambda: (
            any(t.startswith("Attendance notice: you have 1 absence") for t in term.texts(erin))
            and any(
                t.startswith(f"<@{dave.id}> (your DMs are closed) Attendance notice")
                for t in term.texts(bot_notices)
            )
        ),
        OUTBOX_TIMEOUT,
        "erin's absence warning DM and dave's fallback",
    )
    assert not any("Attendance notice" in t for m in (alice, bob, carol) for t in term.texts(m))
    await term.bot.stop()

    # ---- 3. Wed 2025-03-19 15:59:40: a deadline ping and the office-hours reminder at 16:00 -----------------
    await term.bot.start("2025-03-19 15:59:40")
    added = await term.slash(
        ta,
        "ta deadline add",
        {"key": "quiz1", "title": "Quiz 1", "due": "2025-03-19 16:01", "remind": "1m"},
    )
    assert (added.content or "").startswith("Deadline `quiz1`: Quiz 1, due"), added.content
    assert "reminders 1m before" in (added.content or ""), added.content

    role = guild.role("Student")
    office = "☕ Office hours"
    quiz = "⏰ **Quiz 1** is due"

    def reminded() -> bool:
        posts = term.texts(announcements)
        notices = term.texts(bot_notices)
        return (
            any(t.startswith(f"<@&{role.id}> {office}") for t in posts)
            and any(t.startswith(f"<@&{role.id}> {quiz}") for t in posts)
            and all(any(t.startswith(quiz) for t in term.texts(m)) for m in (alice, bob, carol, erin))
            and any(t.startswith(office) for t in term.texts(alice))
            and any(t.startswith(f"<@{dave.id}> (your DMs are closed) {office}") for t in notices)
            and any(t.startswith(f"<@{dave.id}> (your DMs are closed) {quiz}") for t in notices)
        )

    await term.bot.wait_for(reminded, REMINDER_TIMEOUT, "the 16:00 reminders (deadline and office hours)")
    for member in (bob, carol, erin):  # only alice and dave turned office-hours reminders on
        assert not any(t.startswith(office) for t in term.texts(member)), term.texts(member)
    for where in (announcements, bot_notices, *term.server.students):
        shown = term.texts(where)
        assert len(shown) == len(set(shown)), f"a message was shown twice in {where}: {shown}"

    exported = await term.slash(ta, "ta export")
    assert exported.type == 5 and exported.ephemeral, exported.type  # deferred, then the file
    assert exported.content == "Gradebook: 5 students.", exported.content
    [attachment] = exported.original["attachments"] if exported.original else []
    assert attachment["filename"] == "EECE695D-gradebook-20250319-1600.csv", attachment["filename"]
    data = fd.files[int(attachment["id"])]
    rows = {row["discord_name"]: row for row in csv.DictReader(io.StringIO(data.decode("utf-8-sig")))}
    assert set(rows) == {"alice", "bob", "carol", "dave", "erin"}, rows.keys()
    expected = {
        # name: (student id, present, absent, paper, group)
        "alice": ("20250001", "1", "0", "4", "Sparse Squad"),
        "bob": ("20250002", "1", "0", "", "Sparse Squad"),
        "carol": ("20250003", "1", "0", "4", "Sparse Squad"),
        "dave": ("20250004", "0", "1", "", ""),
        "erin": ("20250005", "0", "1", "", ""),
    }
    for name, (student_id, present, absent, paper, group) in expected.items():
        row = rows[name]
        assert (row["student_id"], row["name"], row["discord_id"]) == (
            student_id,
            name.title(),
            str(guild.member(name).id),
        ), row
        assert (row["lectures_held"], row["present"], row["absent"]) == ("1", present, absent), row
        assert (row["paper_number"], row["group"]) == (paper, group), row
    await term.bot.stop()

    # ---- what Discord saw, over the whole term -------------------------------------------------------
    assert not fd.unknown_requests, fd.unknown_requests
    posts = [
        r
        for r in fd.requests
        if r.method == "POST" and re.fullmatch(r"/channels/\d+/messages", r.path) and r.status == 200
    ]
    reminder_posts = [r for r in posts if any(k in (r.json or {}).get("content", "") for k in (office, quiz))]
    assert reminder_posts and all(
        r.json.get("nonce") and r.json.get("enforce_nonce") for r in reminder_posts
    ), "every reminder is sent with an enforced nonce"
    dm_channel = fd._dm_channels[dave.id]
    refused = [r for r in fd.requests if r.path == f"/channels/{dm_channel.id}/messages" and r.status == 403]
    assert len(refused) >= 3, "dave's DMs (warning, office hours, quiz) were refused with 403"
    text = term.bot.log_text()
    assert "Traceback" not in text and " ERROR " not in text, text
    assert term.bot.token not in text
