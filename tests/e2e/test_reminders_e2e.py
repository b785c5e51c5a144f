"""End to end, with the process really killed: the real `python -m bot run` against the local fake
Discord (global limit 50 requests/s, nonces honoured as Discord does).

- Crash: a deadline ping fans out to 300 students while the bot is SIGKILLed five times in the middle
  of the fan-out (at random moments, and once while Discord has stored a DM whose answer the bot
  never got) and restarted; in the end every student has the DM exactly once.
- Downtime: the bot is down across a reminder's due time; restarted before the event it sends the
  reminder, restarted after the event it marks the row skipped with the reason (and an audit row).
- Closed DMs: those students get a mention in the bot-notices channel instead, recorded as fallback.

Each bot start gets `--now`, so the bot's clock starts where the test needs it. A first short run
plans the reminders (a reminder is promised only once it is stored before it is due).
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import signal
import sqlite3
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from bot_process import MANAGE_GUILD, clean_env, course_config, fake_token, start_bot
from fake_discord import FakeChannel, FakeDiscord, FakeGuild, FakeMember

READY_TIMEOUT = 30.0


class InFlight:
    """Wraps the fake's message route: once armed, the next DM is stored (Discord has it) but the
    answer is held back until `release`, so the bot dies not knowing it was sent."""

    def __init__(self, fd: FakeDiscord) -> None:
        self.armed = False
        self.stored = asyncio.Event()
        self.release = asyncio.Event()
        self.channel: str | None = None
        self.nonce: str | None = None
        self.arrivals: Counter[str] = Counter()  # DM sends by nonce (a held one is never recorded
        original = fd._h_send  # in fd.requests: aiohttp cancels it when the bot dies)

        async def send(request: Any, body: Any) -> Any:
            answer = await original(request, body)
            channel = fd.channels.get(int(request.match_info["cid"]))
            if channel is not None and channel.type == 1:
                self.arrivals[str((body or {}).get("nonce"))] += 1
            if self.armed and channel is not None and channel.type == 1:
                self.armed = False
                self.release.clear()
                self.channel, self.nonce = str(channel.id), str((body or {}).get("nonce"))
                self.stored.set()
                await self.release.wait()
            return answer

        fd._h_send = send  # type: ignore[method-assign]


@dataclass
class Course:
    """The fake server, the course's config and database, and the bot process of the moment."""

    fd: FakeDiscord
    guild: FakeGuild
    students: list[FakeMember]
    tmp: Path
    token: str
    config: Path
    database: Path
    held: InFlight
    proc: asyncio.subprocess.Process | None = None
    runs: int = 0
    logs: list[Path] = field(default_factory=list)

    @property
    def announcements(self) -> FakeChannel:
        return self.guild.channel("announcements")

    @property
    def notices(self) -> FakeChannel:
        return self.guild.channel("bot-notices")

    def log_text(self) -> str:
        return "\n".join(
            f"--- run {n} ---\n" + log.read_text(encoding="utf-8", errors="replace")
            for n, log in enumerate(self.logs, start=1)
        )

    async def start(self, now: str) -> None:
        """Start `python -m bot run --now NOW` and wait until it is connected and synced."""
        assert self.proc is None or self.proc.returncode is not None
        ready_before = self.fd.ready_count
        self.runs += 1
        log = self.tmp / f"bot-{self.runs}.log"
        self.logs.append(log)
        env = clean_env(DISCORD_TOKEN=self.token, DATABASE_URL=f"sqlite+aiosqlite:///{self.database}")
        self.proc = await start_bot(self.config, now, cwd=self.tmp, env=env, log=log)
        await self.wait_for(
            lambda: self.fd.ready_count > ready_before and self.fd._conn is not None,
            READY_TIMEOUT,
            f"bot run {self.runs} to connect",
        )

    async def wait_for(self, predicate: Callable[[], Any], seconds: float, what: str) -> None:
        """Poll `predicate`; fail with the bot's output if it takes longer or the bot exits."""
        deadline = time.monotonic() + seconds
        while not predicate():
            if self.proc is not None and self.proc.returncode is not None:
                pytest.fail(f"the bot exited ({self.proc.returncode}) waiting for {what}:\n{self.log_text()}")
            if time.monotonic() > deadline:
                pytest.fail(f"timed out after {seconds}s waiting for {what}:\n{self.log_text()[-6000:]}")
            await asyncio.sleep(0.02)

    async def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        await self.proc.wait()

    async def stop(self) -> None:
        """SIGTERM: a clean shutdown."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = await asyncio.wait_for(self.proc.wait(), 15)
        except TimeoutError:
            pytest.fail(f"the bot did not stop within 15 s of SIGTERM:\n{self.log_text()}")
        assert code == 0, self.log_text()

    def query(self, sql: str, *args: object) -> list[tuple[Any, ...]]:
        """Read the bot's SQLite file (WAL: safe while the bot runs)."""
        connection = sqlite3.connect(self.database, timeout=30)
        try:
            return connection.execute(sql, args).fetchall()
        finally:
            connection.close()

    def dm_texts(self, member: FakeMember, needle: str) -> list[str]:
        return [m["content"] for m in self.fd.dms(member) if needle in m["content"]]

    def posts(self, channel: FakeChannel, needle: str) -> list[dict[str, Any]]:
        return [m for m in self.fd.messages(channel) if needle in m["content"]]


@pytest.fixture
async def make_course(tmp_path: Path) -> AsyncIterator[Callable[..., Any]]:
    made: list[Course] = []

    async def make(*, students: int, dm_per_second: float, deadlines: list[dict[str, str]]) -> Course:
        token = fake_token()
        fd = FakeDiscord(token=token, rate_limit_per_second=50)
        held = InFlight(fd)  # before start(): the routes are bound then
        await fd.start()
        guild = fd.add_guild("EECE695D Spring 2025")
        for name, permissions in (("Instructor", 0), ("TA", MANAGE_GUILD), ("Student", 0)):
            fd.add_role(guild, name, permissions=permissions)
        for name in ("general", "announcements", "ta-log", "bot-notices"):
            fd.add_channel(guild, name)
        fd.add_member(guild, "prof", roles=["Instructor"])
        fd.add_member(guild, "ta", roles=["TA"])
        members = [fd.add_member(guild, f"student{i:03d}", roles=["Student"]) for i in range(students)]
        config = tmp_path / "config.toml"
        config.write_text(
            course_config(fd, guild, dm_per_second=dm_per_second, deadlines=deadlines), encoding="utf-8"
        )
        course = Course(fd, guild, members, tmp_path, token, config, tmp_path / "course.db", held)
        made.append(course)
        return course

    yield make
    for course in made:
        if course.proc is not None and course.proc.returncode is None:
            course.proc.kill()
            await course.proc.wait()
        await course.fd.stop()


# ---- a. crash: SIGKILL in the middle of a 300-student fan-out ----------------------------------------
async def test_killed_five_times_mid_fan_out_every_student_gets_the_dm_exactly_once(
    make_course: Callable[..., Any],
) -> None:
    started = time.monotonic()
    seed = random.randrange(1 << 30)
    chance = random.Random(seed)
    course: Course = await make_course(
        students=300,
        dm_per_second=25,
        deadlines=[{"key": "crash_quiz", "title": "Crash quiz", "due": "2025-03-10 11:02", "remind": "1m"}],
    )
    fd, students, needle = course.fd, course.students, "Crash quiz"

    def delivered() -> int:
        return sum(1 for s in students if course.dm_texts(s, needle))

    # the first run plans the ping (due 11:01, a minute before the deadline) and is stopped
    await course.start("2025-03-10 11:00")
    [(status,)] = course.query(
        "SELECT status FROM notifications WHERE source_key = 'deadline:crash_quiz:1m:dm'"
    )
    assert status == "pending"
    await course.kill()
    assert delivered() == 0

    # One kill lands at the worst moment: Discord has stored a DM, the bot never hears back (the
    # fake holds the response) and so never marks the row sent; after the restart it sends again.
    held = course.held

    # from now on every start is at 11:01, the ping's time; each run is killed mid-fan-out
    progress = []
    for run in range(5):
        await course.start("2025-03-10 11:01")
        before = delivered()
        await course.wait_for(lambda b=before: delivered() > b, 20, "the fan-out to go on")  # type: ignore[misc]
        if run == 2:
            held.armed = True
            await course.wait_for(held.stored.is_set, 20, "a DM to be stored and its answer held")
        else:
            await asyncio.sleep(chance.uniform(0.0, 1.0))
        await course.kill()
        held.release.set()  # the answer goes nowhere: the bot that asked is gone
        if run == 2:
            assert held.nonce is not None
            row = course.query("SELECT status FROM notifications WHERE id = ?", int(held.nonce[2:]))
            assert row == [("claimed",)]  # Discord has the DM; the outbox does not know
        progress.append(delivered())
    assert progress[-1] < len(students), f"the fan-out finished before the last kill: {progress}"

    await course.start("2025-03-10 11:01")
    await course.wait_for(lambda: delivered() == len(students), 40, "every student's DM")
    await asyncio.sleep(1.0)  # anything sent twice would show up by now
    await course.stop()

    copies = {s.user.username: len(course.dm_texts(s, needle)) for s in students}
    assert set(copies.values()) == {1}, {name: n for name, n in copies.items() if n != 1}
    assert len(course.posts(course.announcements, needle)) == 1
    [post] = course.posts(course.announcements, needle)
    assert post["content"].startswith(f"<@&{course.guild.role('Student').id}> ")
    # the database agrees: the post and the fan-out sent, one DM row per student, all sent
    rows = course.query(
        "SELECT source_key, status, user_id FROM notifications WHERE source_key LIKE 'deadline:crash_quiz:%'"
    )
    by_key = {key: (status, user) for key, status, user in rows}
    assert by_key.pop("deadline:crash_quiz:1m:channel") == ("sent", None)
    assert by_key.pop("deadline:crash_quiz:1m:dm") == ("sent", None)
    assert sorted(user for _, user in by_key.values()) == sorted(s.id for s in students)
    assert {status for status, _ in by_key.values()} == {"sent"}
    # every DM carried its row's nonce; the one sent again after the held kill was dropped by it
    dm_channels = {m["channel_id"] for s in students for m in fd.dms(s)}
    sends = [
        r
        for r in fd.requests
        if r.method == "POST"
        and r.status == 200
        and r.path.split("/")[1:3] in (["channels", c] for c in dm_channels)
    ]
    assert all(r.json and re.fullmatch(r"cb\d+", str(r.json.get("nonce"))) for r in sends)
    assert held.channel is not None and held.nonce is not None
    assert held.arrivals[held.nonce] >= 2, "the held DM was not sent again after the restart"
    assert len(fd.messages(int(held.channel))) == 1
    repeats = sum(n - 1 for n in held.arrivals.values())
    print(
        f"seed {seed}: delivered after each kill {progress}; {sum(held.arrivals.values())} DM sends "
        f"for {len(students)} DMs ({repeats} repeats dropped by their nonce); "
        f"{sum(r.status == 429 for r in fd.requests)} 429s; {time.monotonic() - started:.1f} s"
    )


# ---- b. downtime across the due time ------------------------------------------------------------------
@pytest.mark.parametrize(
    ("restart_at", "sent"),
    [("2025-03-10 11:45", True), ("2025-03-10 12:05", False)],
    ids=["restarted-before-the-event", "restarted-after-the-event"],
)
async def test_a_reminder_due_while_the_bot_was_down(
    make_course: Callable[..., Any], restart_at: str, sent: bool
) -> None:
    course: Course = await make_course(
        students=3,
        dm_per_second=20,
        deadlines=[{"key": "down_quiz", "title": "Down quiz", "due": "2025-03-10 12:00", "remind": "30m"}],
    )
    needle = "Down quiz"
    await course.start("2025-03-10 11:00")  # plans the ping for 11:30
    await course.stop()
    keys = "('deadline:down_quiz:30m:channel', 'deadline:down_quiz:30m:dm')"

    await course.start(restart_at)  # the bot was down at 11:30
    if sent:
        await course.wait_for(
            lambda: (
                all(course.dm_texts(s, needle) for s in course.students)
                and course.posts(course.announcements, needle)
            ),
            20,
            "the late reminder",
        )
        await asyncio.sleep(0.5)
        await course.stop()
        assert [len(course.dm_texts(s, needle)) for s in course.students] == [1, 1, 1]
        assert len(course.posts(course.announcements, needle)) == 1
        statuses = course.query(f"SELECT status FROM notifications WHERE source_key IN {keys}")
        assert sorted(statuses) == [("sent",), ("sent",)]
        assert course.query("SELECT count(*) FROM audit_log WHERE action = 'notify.skip'") == [(0,)]
        return

    await course.wait_for(
        lambda: (
            sorted(course.query(f"SELECT status FROM notifications WHERE source_key IN {keys}"))
            == [("skipped",), ("skipped",)]
        ),
        20,
        "the reminder to be skipped",
    )
    await asyncio.sleep(1.0)  # and nothing goes out
    await course.stop()
    assert all(course.fd.dms(s) == [] for s in course.students)
    assert course.posts(course.announcements, needle) == []
    rows = course.query(f"SELECT id, source_key, error FROM notifications WHERE source_key IN {keys}")
    for _, _, error in rows:
        assert error == "the event had passed (2025-03-10 03:00 UTC) when it could be sent"
    audits = course.query("SELECT details FROM audit_log WHERE action = 'notify.skip'")
    assert sorted(json.loads(d)["notification"] for (d,) in audits) == sorted(row_id for row_id, _, _ in rows)
    assert all("event had passed" in json.loads(d)["reason"] for (d,) in audits)
    assert "Skipped reminder" in course.log_text()


# ---- c. DMs closed ------------------------------------------------------------------------------------
async def test_students_with_closed_dms_are_mentioned_in_bot_notices(make_course: Callable[..., Any]) -> None:
    course: Course = await make_course(
        students=5,
        dm_per_second=20,
        deadlines=[{"key": "dm_quiz", "title": "DM quiz", "due": "2025-03-10 12:00", "remind": "30m"}],
    )
    needle, fd = "DM quiz", course.fd
    closed, open_ = course.students[:2], course.students[2:]
    fd.dm_closed.update(s.id for s in closed)
    await course.start("2025-03-10 11:00")
    await course.stop()

    await course.start("2025-03-10 11:30")
    await course.wait_for(
        lambda: (
            len(course.posts(course.notices, needle)) == len(closed)
            and all(course.dm_texts(s, needle) for s in open_)
        ),
        20,
        "the DMs and the fallback mentions",
    )
    await asyncio.sleep(0.5)
    await course.stop()

    assert all(fd.dms(s) == [] for s in closed)
    assert [len(course.dm_texts(s, needle)) for s in open_] == [1] * len(open_)
    notices = course.posts(course.notices, needle)
    assert sorted(m["content"].split(" ", 1)[0] for m in notices) == sorted(f"<@{s.id}>" for s in closed)
    assert all("(your DMs are closed)" in m["content"] for m in notices)
    assert all("@everyone" not in m["content"] for m in notices)
    rows = course.query(
        "SELECT user_id, status, fallback, error FROM notifications WHERE source_key LIKE 'deadline:dm_quiz:30m:dm#%'"
    )
    by_user = {user: (status, bool(fallback), error) for user, status, fallback, error in rows}
    for s in closed:
        assert by_user[s.id] == ("sent", True, "DMs closed: posted in the fallback channel")
    for s in open_:
        assert by_user[s.id] == ("sent", False, None)
    refused = [r for r in fd.requests if r.status == 403]
    assert len(refused) == len(closed)  # one refused DM each, then the fallback
