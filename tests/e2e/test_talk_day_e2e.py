# ruff: noqa: ASYNC109  (explicit timeout= arguments, like fake_discord.py)
"""End to end, with the process really killed: a talk's thread is created once across a SIGKILL.

The real `coursebot run` with `[talks] threads = true`: papers imported and a presenter signed up in
week 2; then the bot is started at the thread's lead time (24 hours before the talk) and killed with
SIGKILL at the worst moment: Discord has stored the starter message (or made the thread) but the
bot never heard back. After the restart there is exactly one starter message and one thread, its
first message names the presenter, and an anonymous `/talk ask` is posted in it without a name.
Every request body is checked against Discord's OpenAPI description (tests/e2e/conftest.py).
"""

from __future__ import annotations

import asyncio
import signal
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from bot_process import clean_env, fake_token, start_bot, with_discord_section
from fake_discord import FakeChannel, FakeDiscord, FakeGuild, FakeMember

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = (ROOT / "data" / "papers.sample.csv").read_bytes()
MANAGE_GUILD = 1 << 5
START_TIMEOUT = 30.0
TIMEOUT = 15.0
PAPER_1 = "Paper 1 — Deduplicating Training Data Makes Language Models Better"


def answer(result: Any) -> str:
    """The text the user sees (a deferred reply arrives as a follow-up)."""
    message = result.followups[-1] if result.followups else (result.original or result.data)
    return str(message.get("content") or "")


def recorded(database: Path) -> bool:
    """Whether the bot has stored the thread of paper 1."""
    connection = sqlite3.connect(database, timeout=30)
    try:
        row = connection.execute("SELECT thread_id FROM talk_threads WHERE paper_number = 1").fetchone()
    except sqlite3.OperationalError:
        return False
    finally:
        connection.close()
    return row is not None and row[0] is not None


class Held:
    """Holds the HTTP answer of the first starter message (`starter`) or thread creation
    (`thread`) in the talks channel after Discord did the work, until the bot is killed."""

    def __init__(self, fd: FakeDiscord, talks: FakeChannel, what: str) -> None:
        self.done = asyncio.Event()
        self.release = asyncio.Event()
        self.armed = True
        send, thread = fd._h_send, fd._h_thread_from_message

        async def held(handler: Any, request: Any, body: Any) -> Any:
            answer = await handler(request, body)
            if self.armed and int(request.match_info["cid"]) == talks.id:
                self.armed = False
                self.done.set()
                await self.release.wait()
            return answer

        if what == "starter":
            fd._h_send = lambda r, b: held(send, r, b)  # type: ignore[method-assign]
        else:
            fd._h_thread_from_message = lambda r, b: held(thread, r, b)  # type: ignore[method-assign]


@pytest.mark.parametrize("held", ["starter", "thread"])
async def test_a_sigkill_while_the_thread_is_made_leaves_exactly_one(tmp_path: Path, held: str) -> None:
    token = fake_token()
    fd = FakeDiscord(token=token, rate_limit_per_second=50, interaction_deadline=3.0)
    guild: FakeGuild = fd.add_guild("EECE695D Spring 2025")
    for name, permissions in (("Instructor", 0), ("TA", MANAGE_GUILD), ("Student", 0)):
        fd.add_role(guild, name, permissions=permissions)
    general = fd.add_channel(guild, "general")
    for name in ("announcements", "bot-notices", "ta-log"):
        fd.add_channel(guild, name)
    talks = fd.add_channel(guild, "talks")
    gate = Held(fd, talks, held)  # before start(): the routes are bound then
    await fd.start()
    ta = fd.add_member(guild, "ta", roles=["TA"])
    presenter: FakeMember = fd.add_member(guild, "alice", roles=["Student"])
    asker: FakeMember = fd.add_member(guild, "carol", roles=["Student"])
    text = with_discord_section(
        (ROOT / "config.toml").read_text(encoding="utf-8"),
        {
            "guild_id": str(guild.id),
            "sync_commands": "true",
            "api_base": f'"{fd.api_base}"',
            "gateway_url": f'"{fd.gateway_url}"',
        },
    )
    assert text.count("threads = false") == 1
    config = tmp_path / "config.toml"
    config.write_text(text.replace("threads = false", "threads = true"), encoding="utf-8")
    database = tmp_path / "course.db"
    env = clean_env(DISCORD_TOKEN=token, DATABASE_URL=f"sqlite+aiosqlite:///{database}")
    logs: list[Path] = []
    proc: asyncio.subprocess.Process | None = None

    def output() -> str:
        return "".join(p.read_text(encoding="utf-8", errors="replace") for p in logs if p.exists())

    async def start(now: str) -> asyncio.subprocess.Process:
        ready = fd.ready_count
        logs.append(tmp_path / f"bot-{len(logs) + 1}.log")
        started = await start_bot(config, now, cwd=tmp_path, env=env, log=logs[-1])

        def up() -> bool:
            if started.returncode is not None:
                raise AssertionError(f"the bot exited with {started.returncode}:\n{output()}")
            return fd.ready_count > ready and fd._conn is not None and guild.id in fd.commands

        await wait(f"the bot to connect (--now {now})", up, START_TIMEOUT)
        return started

    async def wait(what: str, predicate: Any, timeout: float = TIMEOUT) -> None:
        try:
            await fd.wait_until(predicate, timeout, what)
        except TimeoutError as error:
            pytest.fail(f"{error}; bot output:\n{output()[-6000:]}")

    def starters() -> list[dict[str, Any]]:
        return [m for m in fd.messages(talks) if m["content"].startswith("🎤 **Paper 1 —")]

    try:
        # week 2: the paper list, and Alice signs up for paper 1 (week 9, Wed 2025-04-30 11:00)
        proc = await start("2025-03-10 11:00")
        imported = await fd.invoke_slash(guild, general, ta, "ta paper import", {"file": ("p.csv", SAMPLE)})
        assert "21" in answer(imported), answer(imported)
        signed = await fd.invoke_slash(guild, general, presenter, "signup paper", {"number": 1})
        assert "paper 1" in answer(signed).lower(), answer(signed)
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 15) == 0, output()

        # the lead time: killed once Discord did the work but before the bot heard back
        proc = await start("2025-04-29 11:00")
        await asyncio.wait_for(gate.done.wait(), TIMEOUT)
        proc.send_signal(signal.SIGKILL)
        await proc.wait()
        gate.release.set()
        assert len(starters()) == 1

        proc = await start("2025-04-29 11:02")
        await wait("the bot to record the thread", lambda: recorded(database), TIMEOUT)
        await asyncio.sleep(1.0)  # a second thread or starter would show by now
        [thread] = fd.threads(talks)
        [first] = starters()
        assert thread.name == PAPER_1 and int(first["id"]) == thread.id
        assert f"<@{presenter.id}>" in first["content"]
        assert fd.messages(talks) == [first]  # nothing else in the channel

        asked = await fd.invoke_slash(
            guild, general, asker, "talk ask", {"paper": 1, "question": "Does it scale?"}, timeout=TIMEOUT
        )
        await wait("the question", lambda: fd.messages(thread))
        [question] = fd.messages(thread)
        assert question["content"] == "❓ **A question from the room** (anonymous):\n> Does it scale?"
        assert str(asker.id) not in question["content"] and "carol" not in question["content"]
        assert question["id"] in answer(asked), answer(asked)
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 15) == 0, output()
    finally:
        if proc is not None and proc.returncode is None:
            proc.kill()
            await proc.wait()
        gate.release.set()
        await fd.stop()
