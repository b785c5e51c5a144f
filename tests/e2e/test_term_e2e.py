# ruff: noqa: ASYNC109  (explicit timeout= arguments, like fake_discord.py)
"""End to end, a compressed term: the real `python -m bot run` process against the local fake Discord,
restarted with a later `--now` to jump in time (the SQLite database persists between runs).

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

import asyncio
import csv
import io
import os
import re
import signal
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from bot_process import fake_token, start_bot, with_discord_section
from fake_discord import FakeChannel, FakeDiscord, FakeGuild, FakeMember, InteractionResult

ROOT = Path(__file__).resolve().parents[2]
MANAGE_GUILD = 1 << 5
START_TIMEOUT = 30.0  # process start to commands synced and READY (generous: CI machines are shared)
ANSWER_TIMEOUT = 10.0
OUTBOX_TIMEOUT = 20.0  # the dispatcher waits for on_ready (~2 s after READY), then paces DMs at 5/s
REMINDER_TIMEOUT = 60.0  # the reminders fall due ~20 s after the third start
JOINED = "2025-02-24T00:00:00+00:00"  # everyone joined the server before the term


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


@dataclass
class Term:
    fd: FakeDiscord
    guild: FakeGuild
    general: FakeChannel
    announcements: FakeChannel
    ta_log: FakeChannel
    notices: FakeChannel
    ta: FakeMember
    students: dict[str, FakeMember]
    tmp: Path
    config: Path
    database: Path
    token: str
    proc: asyncio.subprocess.Process | None = None
    logs: list[Path] = field(default_factory=list)

    def log_text(self) -> str:
        return "".join(p.read_text(encoding="utf-8", errors="replace") for p in self.logs if p.exists())

    # ---- the process ---------------------------------------------------------------------------
    async def start(self, now: str) -> None:
        """Start `coursebot run --now NOW`; wait for its command sync and READY."""
        assert self.proc is None or self.proc.returncode is not None
        syncs = self._syncs()
        ready = self.fd.ready_count
        env = {k: v for k, v in os.environ.items() if k not in ("DISCORD_TOKEN", "DATABASE_URL")}
        env.update(
            PYTHONUNBUFFERED="1",
            DISCORD_TOKEN=self.token,
            DATABASE_URL=f"sqlite+aiosqlite:///{self.database}",
        )
        log = self.tmp / f"bot-{len(self.logs) + 1}.log"
        self.logs.append(log)
        self.proc = await start_bot(self.config, now, cwd=self.tmp, env=env, log=log)
        proc = self.proc

        def up() -> bool:
            if proc.returncode is not None:
                raise AssertionError(f"the bot exited with {proc.returncode}:\n{self.log_text()}")
            return self._syncs() > syncs and self.fd.ready_count > ready and self.fd._conn is not None

        try:
            await self.fd.wait_until(up, START_TIMEOUT, f"the bot to sync and connect (--now {now})")
        except TimeoutError as error:
            pytest.fail(f"{error}; its output:\n{self.log_text()}")

    async def stop(self) -> None:
        """SIGTERM; the bot must exit 0 within 15 s."""
        proc = self.proc
        assert proc is not None and proc.returncode is None, self.log_text()
        proc.send_signal(signal.SIGTERM)
        try:
            code = await asyncio.wait_for(proc.wait(), 15)
        except TimeoutError:
            pytest.fail(f"the bot did not stop within 15 s of SIGTERM:\n{self.log_text()}")
        assert code == 0, f"exit code {code}:\n{self.log_text()}"

    def _syncs(self) -> int:
        path = re.compile(rf"^/applications/\d+/guilds/{self.guild.id}/commands$")
        return sum(
            1 for r in self.fd.requests if r.method == "PUT" and path.match(r.path) and r.status == 200
        )

    # ---- driving -------------------------------------------------------------------------------
    async def slash(
        self, member: FakeMember, name: str, options: dict[str, Any] | None = None
    ) -> InteractionResult:
        result = await self.fd.invoke_slash(
            self.guild, self.general, member, name, options, timeout=ANSWER_TIMEOUT
        )
        assert not result.late, f"/{name} was answered after Discord's 3 s deadline"
        assert result.type is not None, f"/{name}: no answer; {result.rejected}"
        return result

    async def click(self, message: dict[str, Any], custom_id: str, member: FakeMember) -> InteractionResult:
        result = await self.fd.invoke_component(message, custom_id, member, timeout=ANSWER_TIMEOUT)
        assert not result.late and result.type is not None, (custom_id, result.rejected)
        return result

    async def wait_for(self, what: str, predicate: Any, timeout: float = ANSWER_TIMEOUT) -> None:
        try:
            await self.fd.wait_until(predicate, timeout, what)
        except TimeoutError as error:
            pytest.fail(f"{error}; bot output:\n{self.log_text()[-6000:]}")

    def texts(self, where: FakeChannel | FakeMember) -> list[str]:
        messages = self.fd.dms(where) if isinstance(where, FakeMember) else self.fd.messages(where)
        return [m["content"] for m in messages]


@pytest_asyncio.fixture
async def term(tmp_path: Path) -> AsyncIterator[Term]:
    token = fake_token()
    fd = FakeDiscord(token=token, rate_limit_per_second=50, interaction_deadline=3.0)
    await fd.start()
    guild = fd.add_guild("EECE695D Spring 2025")
    for name, permissions in (("Instructor", 0), ("TA", MANAGE_GUILD), ("Student", 0)):
        fd.add_role(guild, name, permissions=permissions)
    general = fd.add_channel(guild, "general")
    announcements = fd.add_channel(guild, "announcements")
    ta_log = fd.add_channel(guild, "ta-log")
    notices = fd.add_channel(guild, "bot-notices")
    fd.add_member(guild, "prof", roles=["Instructor"]).joined_at = JOINED
    ta = fd.add_member(guild, "ta", roles=["TA"])
    students = {}
    for name in ("alice", "bob", "carol", "dave", "erin"):
        students[name] = fd.add_member(guild, name, roles=["Student"])
        students[name].joined_at = JOINED
    fd.dm_closed.add(students["dave"].id)

    config_text = with_discord_section(
        (ROOT / "config.toml").read_text(encoding="utf-8"),
        {
            "guild_id": str(guild.id),
            "sync_commands": "true",
            "api_base": f'"{fd.api_base}"',
            "gateway_url": f'"{fd.gateway_url}"',
        },
    )
    config = tmp_path / "config.toml"
    config.write_text(config_text, encoding="utf-8")
    world = Term(
        fd, guild, general, announcements, ta_log, notices, ta, students, tmp_path, config,
        tmp_path / "course.db", token,
    )  # fmt: skip
    try:
        yield world
    finally:
        if world.proc is not None and world.proc.returncode is None:
            world.proc.kill()
            await world.proc.wait()
        await fd.stop()


async def test_a_compressed_term(term: Term) -> None:
    fd = term.fd
    alice, bob, carol, dave, erin = (term.students[n] for n in ("alice", "bob", "carol", "dave", "erin"))

    # ---- 1. Mon 2025-03-10, week 2: paper sign-up is open ---------------------------------------------
    await term.start("2025-03-10 10:00")
    for number, member in enumerate((alice, bob, carol, dave, erin), start=1):
        name = member.user.username.title()
        registered = await term.slash(member, "register", {"student_id": f"2025000{number}", "name": name})
        assert registered.ephemeral and (registered.content or "").startswith("Registered"), (
            registered.content
        )

    papers_csv = (ROOT / "data" / "papers.sample.csv").read_bytes()
    imported = await term.slash(term.ta, "ta paper import", {"file": ("papers.csv", papers_csv)})
    assert (imported.content or "").startswith("Imported: 21 added"), imported.content

    for member in (alice, bob):
        taken = await term.slash(member, "signup paper", {"number": 4})
        assert (taken.content or "").startswith("You present paper 4"), taken.content
    waiting = await term.slash(carol, "signup paper", {"number": 4})
    assert "waitlist at position 1" in (waiting.content or ""), waiting.content
    withdrawn = await term.slash(bob, "signup withdraw")
    assert withdrawn.content == "You no longer present paper 4.", withdrawn.content
    await term.wait_for(
        "carol's promotion DM", lambda: any("moved up from the waitlist" in t for t in term.texts(carol))
    )
    assert any("You now present paper 4" in t for t in term.texts(carol)), term.texts(carol)

    created = await term.slash(alice, "group create", {"name": "Sparse Squad"})
    code = re.search(r"invite code `([A-Z0-9]+)`", created.content or "")
    assert code, created.content
    joined = await term.slash(bob, "group join", {"code": code.group(1)})
    assert (joined.content or "").startswith("You joined group Sparse Squad"), joined.content
    invited = await term.slash(alice, "group invite", {"member": carol})
    assert invited.content == f"Invitation sent to <@{carol.id}> by DM.", invited.content
    [invitation] = [m for m in fd.dms(carol) if "invites you to project group Sparse Squad" in m["content"]]
    accepted = await term.click(invitation, find_custom_id(invitation, r"ginvite:\d+:accept"), carol)
    assert accepted.content == "You joined group Sparse Squad.", accepted.content
    await term.wait_for(
        "alice told that carol accepted",
        lambda: any(f"<@{carol.id}> accepted your invitation" in t for t in term.texts(alice)),
    )

    for member in (alice, dave):
        on = await term.slash(member, "reminders", {"category": "office_hours", "enabled": True})
        assert (on.content or "").startswith("office_hours reminders are now on"), on.content
    await term.stop()

    # ---- 2. Wed 2025-03-12 11:00: a lecture with check-in -------------------------------------------------
    await term.start("2025-03-12 11:00")
    status = await term.slash(carol, "signup status")  # the database survived the restart
    assert any("paper 4" in (f.get("value") or "") for f in status.embeds[0]["fields"]), status.embeds

    opened = await term.slash(term.ta, "ta attendance open")
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

    closed = await term.slash(term.ta, "ta attendance close")
    assert closed.content == "Check-in for Wed 2025-03-12 is closed.", closed.content
    await term.wait_for(
        "the close report in ta-log",
        lambda: any(
            "Check-in for Wed 2025-03-12 closed: 3 checked in." in t for t in term.texts(term.ta_log)
        ),
    )
    await term.wait_for(
        "erin's absence warning DM and dave's fallback",
        lambda: (
            any(t.startswith("Attendance notice: you have 1 absence") for t in term.texts(erin))
            and any(
                t.startswith(f"<@{dave.id}> (your DMs are closed) Attendance notice")
                for t in term.texts(term.notices)
            )
        ),
        OUTBOX_TIMEOUT,
    )
    assert not any("Attendance notice" in t for m in (alice, bob, carol) for t in term.texts(m))
    await term.stop()

    # ---- 3. Wed 2025-03-19 15:59:40: a deadline ping and the office-hours reminder at 16:00 -----------------
    await term.start("2025-03-19 15:59:40")
    added = await term.slash(
        term.ta,
        "ta deadline add",
        {"key": "quiz1", "title": "Quiz 1", "due": "2025-03-19 16:01", "remind": "1m"},
    )
    assert (added.content or "").startswith("Deadline `quiz1`: Quiz 1, due"), added.content
    assert "reminders 1m before" in (added.content or ""), added.content

    role = term.guild.role("Student")
    office = "☕ Office hours"
    quiz = "⏰ **Quiz 1** is due"

    def reminded() -> bool:
        posts = term.texts(term.announcements)
        notices = term.texts(term.notices)
        return (
            any(t.startswith(f"<@&{role.id}> {office}") for t in posts)
            and any(t.startswith(f"<@&{role.id}> {quiz}") for t in posts)
            and all(any(t.startswith(quiz) for t in term.texts(m)) for m in (alice, bob, carol, erin))
            and any(t.startswith(office) for t in term.texts(alice))
            and any(t.startswith(f"<@{dave.id}> (your DMs are closed) {office}") for t in notices)
            and any(t.startswith(f"<@{dave.id}> (your DMs are closed) {quiz}") for t in notices)
        )

    await term.wait_for("the 16:00 reminders (deadline and office hours)", reminded, REMINDER_TIMEOUT)
    for member in (bob, carol, erin):  # only alice and dave turned office-hours reminders on
        assert not any(t.startswith(office) for t in term.texts(member)), term.texts(member)
    for where in (term.announcements, term.notices, *term.students.values()):
        shown = term.texts(where)
        assert len(shown) == len(set(shown)), f"a message was shown twice in {where}: {shown}"

    exported = await term.slash(term.ta, "ta export")
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
            str(term.students[name].id),
        ), row
        assert (row["lectures_held"], row["present"], row["absent"]) == ("1", present, absent), row
        assert (row["paper_number"], row["group"]) == (paper, group), row
    await term.stop()

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
    text = term.log_text()
    assert "Traceback" not in text and " ERROR " not in text, text
    assert term.token not in text
