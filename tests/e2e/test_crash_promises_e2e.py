# ruff: noqa: ASYNC109  (explicit timeout= arguments, like fake_discord.py)
"""End to end, with the process really killed: a promised message survives a SIGKILL right after the
change that promised it, because it was planned in the outbox in the transaction of that change.

1. `/ta attendance close`: the bot is killed the moment Discord has its reply (it never hears back),
   before any DM went out. After the restart the absent students get their warning DM, and ta-log
   the close report, exactly once each.
2. `/ta group autofill` Confirm: the bot is killed while the placements' DMs go out (Discord has
   stored one DM whose answer the bot never got). After the restart every placed student has been
   told exactly once (the row's nonce drops the repeat).
"""

from __future__ import annotations

import asyncio
import re
import signal
import sqlite3
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from bot_process import clean_env, fake_token, start_bot, with_discord_section
from fake_discord import FakeChannel, FakeDiscord, FakeGuild, FakeMember, InteractionResult

ROOT = Path(__file__).resolve().parents[2]
MANAGE_GUILD = 1 << 5
START_TIMEOUT = 30.0
ANSWER_TIMEOUT = 10.0
OUTBOX_TIMEOUT = 20.0
JOINED = "2025-02-24T00:00:00+00:00"  # everyone joined the server before the term
WARNING = "Attendance notice: you have 1 absence in EECE695D."
PLACED = "The staff placed you in project group "


class Gate:
    """Holds what the bot sends, so a kill lands at a chosen moment.

    - `hold_reply`: the next interaction answer is stored (the user sees it), but its HTTP answer is
      held: the bot waits for it until it is killed.
    - `hold_dms`: DM sends are held before Discord stores them, and then refused.
    - `hold_dm_answer`: the next DM is stored, but its HTTP answer is held (Discord has it; the bot
      does not know).
    """

    def __init__(self, fd: FakeDiscord) -> None:
        self.hold_reply = self.hold_dms = self.hold_dm_answer = False
        self.reply_held = asyncio.Event()
        self.dm_stored = asyncio.Event()
        self.release = asyncio.Event()
        self.held_dms = 0
        send, callback = fd._h_send, fd._h_callback

        def is_dm(request: Any) -> bool:
            channel = fd.channels.get(int(request.match_info["cid"]))
            return channel is not None and channel.type == 1

        async def held_send(request: Any, body: Any) -> Any:
            if self.hold_dms and is_dm(request):
                self.held_dms += 1
                await self.release.wait()
                raise RuntimeError("held until the bot was killed")
            answer = await send(request, body)
            if self.hold_dm_answer and is_dm(request):
                self.hold_dm_answer = False
                self.dm_stored.set()
                await self.release.wait()
            return answer

        async def held_callback(request: Any, body: Any) -> Any:
            answer = await callback(request, body)
            if self.hold_reply:
                self.hold_reply = False
                self.reply_held.set()
                await self.release.wait()
            return answer

        fd._h_send = held_send  # type: ignore[method-assign]
        fd._h_callback = held_callback  # type: ignore[method-assign]


@dataclass
class Course:
    fd: FakeDiscord
    guild: FakeGuild
    general: FakeChannel
    ta_log: FakeChannel
    ta: FakeMember
    students: list[FakeMember]
    gate: Gate
    tmp: Path
    config: Path
    database: Path
    token: str
    proc: asyncio.subprocess.Process | None = None
    logs: list[Path] = field(default_factory=list)

    def log_text(self) -> str:
        return "".join(
            f"--- run {n} ---\n" + p.read_text(encoding="utf-8", errors="replace")
            for n, p in enumerate(self.logs, start=1)
            if p.exists()
        )

    async def start(self, now: str) -> None:
        """`coursebot run --now NOW`; wait for its command sync and READY."""
        assert self.proc is None or self.proc.returncode is not None
        syncs, ready = self._syncs(), self.fd.ready_count
        env = clean_env(DISCORD_TOKEN=self.token, DATABASE_URL=f"sqlite+aiosqlite:///{self.database}")
        log = self.tmp / f"bot-{len(self.logs) + 1}.log"
        self.logs.append(log)
        self.proc = proc = await start_bot(self.config, now, cwd=self.tmp, env=env, log=log)

        def up() -> bool:
            if proc.returncode is not None:
                raise AssertionError(f"the bot exited with {proc.returncode}:\n{self.log_text()}")
            return self._syncs() > syncs and self.fd.ready_count > ready and self.fd._conn is not None

        await self.wait_for(f"the bot to sync and connect (--now {now})", up, START_TIMEOUT)

    async def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        await self.proc.wait()
        self.gate.release.set()  # whatever was held answers a bot that is gone

    async def stop(self) -> None:
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

    async def slash(
        self, member: FakeMember, name: str, options: dict[str, Any] | None = None
    ) -> InteractionResult:
        result = await self.fd.invoke_slash(
            self.guild, self.general, member, name, options, timeout=ANSWER_TIMEOUT
        )
        assert result.type is not None, f"/{name}: no answer; {result.rejected}\n{self.log_text()[-4000:]}"
        return result

    async def wait_for(self, what: str, predicate: Any, timeout: float = ANSWER_TIMEOUT) -> None:
        try:
            await self.fd.wait_until(predicate, timeout, what)
        except TimeoutError as error:
            pytest.fail(f"{error}; bot output:\n{self.log_text()[-6000:]}")

    def texts(self, where: FakeChannel | FakeMember, needle: str) -> list[str]:
        messages = self.fd.dms(where) if isinstance(where, FakeMember) else self.fd.messages(where)
        return [m["content"] for m in messages if needle in m["content"]]

    def query(self, sql: str, *args: object) -> list[tuple[Any, ...]]:
        connection = sqlite3.connect(self.database, timeout=30)
        try:
            return connection.execute(sql, args).fetchall()
        finally:
            connection.close()


@pytest_asyncio.fixture
async def make_course(tmp_path: Path) -> AsyncIterator[Any]:
    made: list[Course] = []

    async def make(students: int) -> Course:
        token = fake_token()
        fd = FakeDiscord(token=token, rate_limit_per_second=50, interaction_deadline=3.0)
        gate = Gate(fd)  # before start(): the routes are bound then
        await fd.start()
        guild = fd.add_guild("EECE695D Spring 2025")
        for name, permissions in (("Instructor", 0), ("TA", MANAGE_GUILD), ("Student", 0)):
            fd.add_role(guild, name, permissions=permissions)
        general = fd.add_channel(guild, "general")
        for name in ("announcements", "bot-notices"):
            fd.add_channel(guild, name)
        ta_log = fd.add_channel(guild, "ta-log")
        fd.add_member(guild, "prof", roles=["Instructor"]).joined_at = JOINED
        ta = fd.add_member(guild, "ta", roles=["TA"])
        members = []
        for number in range(students):
            member = fd.add_member(guild, f"student{number:02d}", roles=["Student"])
            member.joined_at = JOINED
            members.append(member)
        text = with_discord_section(
            (ROOT / "config.toml").read_text(encoding="utf-8"),
            {
                "guild_id": str(guild.id),
                "sync_commands": "true",
                "api_base": f'"{fd.api_base}"',
                "gateway_url": f'"{fd.gateway_url}"',
            },
        )
        config = tmp_path / "config.toml"
        config.write_text(text, encoding="utf-8")
        course = Course(
            fd, guild, general, ta_log, ta, members, gate, tmp_path, config, tmp_path / "course.db", token
        )
        made.append(course)
        return course

    yield make
    for course in made:
        if course.proc is not None and course.proc.returncode is None:
            course.proc.kill()
            await course.proc.wait()
        course.gate.release.set()
        await course.fd.stop()


async def test_killed_right_after_closing_check_in_the_warnings_still_arrive(make_course: Any) -> None:
    course: Course = await make_course(3)
    present, *absent = course.students
    await course.start("2025-03-10 11:00")
    opened = await course.slash(course.ta, "ta attendance open")
    code = re.search(r"Code: `([A-Z0-9]+)`", opened.content or "")
    assert code, opened.content
    checked = await course.slash(present, "checkin", {"code": code.group(1)})
    assert (checked.content or "").endswith("present."), checked.content

    course.gate.hold_reply = course.gate.hold_dms = True
    closed = await course.slash(course.ta, "ta attendance close")
    assert closed.content == "Check-in for Mon 2025-03-10 is closed.", closed.content
    assert course.gate.reply_held.is_set()
    await course.kill()  # the bot is still waiting for Discord's answer to its reply
    assert all(course.fd.dms(s) == [] for s in course.students)
    assert course.texts(course.ta_log, "closed:") == []
    pending = course.query(
        "SELECT user_id FROM notifications WHERE source_key LIKE 'attendance-warning:%' AND status != 'sent'"
    )
    assert sorted(user for (user,) in pending) == sorted(s.id for s in absent)

    course.gate.hold_dms = False
    await course.start("2025-03-10 11:05")
    await course.wait_for(
        "the warnings and the close report",
        lambda: (
            all(course.texts(s, WARNING) for s in absent)
            and course.texts(course.ta_log, "Check-in for Mon 2025-03-10 closed: 1 checked in.")
        ),
        OUTBOX_TIMEOUT,
    )
    await asyncio.sleep(1.0)  # anything sent twice would show up by now
    await course.stop()
    assert [len(course.texts(s, WARNING)) for s in absent] == [1, 1]
    assert course.texts(present, "Attendance notice") == []
    assert len(course.texts(course.ta_log, "closed: 1 checked in.")) == 1
    statuses = course.query("SELECT status FROM notifications WHERE source_key LIKE 'attendance-%'")
    assert {status for (status,) in statuses} == {"sent"}
    [post] = [
        r
        for r in course.fd.requests
        if r.method == "POST"
        and r.path == f"/channels/{course.ta_log.id}/messages"
        and "closed: 1 checked in." in (r.json or {}).get("content", "")
    ]
    assert re.fullmatch(r"cb\d+", str(post.json.get("nonce"))), post.json  # a staff note is an outbox row
    assert post.json.get("allowed_mentions") == {"parse": []}, post.json  # and pings nobody
    assert "Traceback" not in course.log_text().split("--- run 2 ---")[-1]


async def test_killed_while_autofill_tells_the_placed_students_each_is_told_once(make_course: Any) -> None:
    course: Course = await make_course(10)
    await course.start("2025-03-10 11:00")
    shown = await course.slash(course.ta, "ta group autofill")
    [plan] = [m for m in shown.messages if m.get("components")]
    assert "10 students without a group would be placed" in plan["content"], plan["content"]
    [confirm] = [
        button["custom_id"]
        for row in plan["components"]
        for button in row.get("components", [])
        if re.fullmatch(r"gautofill:[0-9a-f]{16}", button.get("custom_id", ""))
    ]

    course.gate.hold_dm_answer = True
    clicked = await course.fd.invoke_component(
        plan, confirm, course.ta, timeout=ANSWER_TIMEOUT, wait_deferred=False
    )
    assert clicked.type == 5, clicked.rejected
    await course.wait_for(
        "a placement DM stored with its answer held", course.gate.dm_stored.is_set, OUTBOX_TIMEOUT
    )
    await course.kill()
    told_before = sum(1 for s in course.students if course.texts(s, PLACED))
    assert 1 <= told_before < len(course.students)
    rows = course.query("SELECT user_id, status FROM notifications WHERE kind = 'direct_dm'")
    assert sorted(user for user, _ in rows) == sorted(s.id for s in course.students)  # planned with it

    await course.start("2025-03-10 11:01")
    await course.wait_for(
        "every placed student's DM",
        lambda: all(course.texts(s, PLACED) for s in course.students),
        OUTBOX_TIMEOUT,
    )
    await asyncio.sleep(1.0)
    await course.stop()
    copies = {s.user.username: len(course.texts(s, PLACED)) for s in course.students}
    assert set(copies.values()) == {1}, copies
    statuses = course.query("SELECT status FROM notifications WHERE kind = 'direct_dm'")
    assert [status for (status,) in statuses] == ["sent"] * len(course.students)
    groups = {
        text.split(PLACED, 1)[1].split(" with ")[0]
        for s in course.students
        for text in course.texts(s, PLACED)
    }
    assert len(groups) == 4  # ten students: groups of 3, 3, 2, 2
