"""End to end: the real `python -m bot run` process against the local fake Discord.

One bot process serves the whole module (a module-scoped fixture); the tests run in file order and
tell one story: start-up and sync, the course card, registration, the staff's CSV import, a sign-up,
the server-side staff check, a swap offer to a member whose DMs are closed, and a clean SIGTERM.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import tomllib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_asyncio
from bot_process import clean_env, fake_token, start_bot, with_discord_section
from fake_discord import FakeChannel, FakeDiscord, FakeGuild, FakeMember

in_module_loop = pytest.mark.asyncio(loop_scope="module")  # the loop the shared fixture lives in

ROOT = Path(__file__).resolve().parents[2]
NOW = "2025-03-10 11:00"  # week 2: paper sign-up is open
MANAGE_GUILD = 1 << 5
EPHEMERAL = 1 << 6
READY_TIMEOUT = 20.0
ANSWER_TIMEOUT = 10.0
STAFF_ONLY = "Only the course staff (TA or instructor role) can do that."


@dataclass
class Course:
    fd: FakeDiscord
    guild: FakeGuild
    general: FakeChannel
    ta_log: FakeChannel
    prof: FakeMember
    ta: FakeMember
    alice: FakeMember
    bob: FakeMember
    proc: asyncio.subprocess.Process
    output: Path
    token: str
    database: Path

    def log_text(self) -> str:
        return self.output.read_text(encoding="utf-8", errors="replace")

    async def slash(self, member: FakeMember, name: str, options: dict | None = None):  # type: ignore[no-untyped-def]
        return await self.fd.invoke_slash(
            self.guild, self.general, member, name, options, timeout=ANSWER_TIMEOUT
        )


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def course(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Course]:
    tmp = tmp_path_factory.mktemp("e2e_run")
    token = fake_token()
    fd = FakeDiscord(token=token)
    await fd.start()
    guild = fd.add_guild("EECE695D Spring 2025")
    for name, permissions in (("Instructor", 0), ("TA", MANAGE_GUILD), ("Student", 0)):
        fd.add_role(guild, name, permissions=permissions)
    general = fd.add_channel(guild, "general")
    fd.add_channel(guild, "announcements")
    ta_log = fd.add_channel(guild, "ta-log")
    fd.add_channel(guild, "bot-notices")
    prof = fd.add_member(guild, "prof", roles=["Instructor"])
    ta = fd.add_member(guild, "ta", roles=["TA"])
    alice = fd.add_member(guild, "alice", roles=["Student"])
    bob = fd.add_member(guild, "bob", roles=["Student"])
    fd.dm_closed.add(bob.id)

    config_text = with_discord_section(
        (ROOT / "config.toml").read_text(encoding="utf-8"),
        {
            "guild_id": str(guild.id),
            "sync_commands": "true",
            "api_base": f'"{fd.api_base}"',
            "gateway_url": f'"{fd.gateway_url}"',
        },
    )
    parsed = tomllib.loads(config_text)["discord"]
    assert (parsed["guild_id"], parsed["api_base"], parsed["gateway_url"], parsed["sync_commands"]) == (
        guild.id,
        fd.api_base,
        fd.gateway_url,
        True,
    )
    assert parsed["roles"]["ta"] == "TA" and parsed["channels"]["ta_log"] == "ta-log"
    config = tmp / "config.toml"
    config.write_text(config_text, encoding="utf-8")

    output = tmp / "bot.log"
    database = tmp / "course.db"
    env = clean_env(DISCORD_TOKEN=token, DATABASE_URL=f"sqlite+aiosqlite:///{database}")
    proc = await start_bot(config, NOW, cwd=tmp, env=env, log=output)
    world = Course(fd, guild, general, ta_log, prof, ta, alice, bob, proc, output, token, database)
    try:
        try:
            await fd.wait_commands_synced(guild, timeout=READY_TIMEOUT)
            await fd.wait_ready(timeout=READY_TIMEOUT)
        except TimeoutError as error:
            pytest.fail(f"{error}; bot exit code {proc.returncode}, its output:\n{world.log_text()}")
        yield world
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        await fd.stop()


@in_module_loop
async def test_starts_identifies_and_syncs_commands(course: Course) -> None:
    fd = course.fd  # the fixture waited for the sync and the READY
    synced = fd.commands_for(course.guild)
    assert fd.identify_payload is not None and fd.identify_payload["token"] == course.token
    names = {c["name"] for c in synced}
    assert {"course", "schedule", "register", "papers", "signup", "ta"} <= names, names
    ta = next(c for c in synced if c["name"] == "ta")
    assert int(ta["default_member_permissions"]) == MANAGE_GUILD  # clients hide /ta from students
    assert all(c["guild_id"] == str(course.guild.id) for c in synced)
    assert fd.commands_for(None) == []  # nothing synced globally
    assert f"to server {course.guild.id}" in course.log_text()
    assert course.database.is_file()  # DATABASE_URL was honoured and migrated


@in_module_loop
async def test_course_card_is_ephemeral_embed(course: Course) -> None:
    result = await course.slash(course.alice, "course")
    assert result.type == 4
    assert result.flags & EPHEMERAL
    assert result.embeds, result.data
    assert "EECE695D" in result.embeds[0]["title"]


@in_module_loop
async def test_register(course: Course) -> None:
    result = await course.slash(course.alice, "register", {"student_id": "20251234", "name": "Alice Kim"})
    assert result.ephemeral
    assert result.content and result.content.startswith("Registered"), result.content
    assert "20251234" in result.content and "Alice Kim" in result.content


@in_module_loop
async def test_ta_imports_the_paper_list(course: Course) -> None:
    csv = (ROOT / "data" / "papers.sample.csv").read_bytes()
    result = await course.slash(course.ta, "ta paper import", {"file": ("papers.csv", csv)})
    assert result.type == 5  # deferred, then the followup edits the "thinking" message
    assert result.ephemeral
    assert result.content and result.content.startswith("Imported: 21 added"), result.content
    await course.fd.wait_until(
        lambda: any("imported papers" in m["content"] for m in course.fd.messages(course.ta_log)),
        ANSWER_TIMEOUT,
        "the import notice in ta-log",
    )
    [notice] = [m for m in course.fd.messages(course.ta_log) if "imported papers" in m["content"]]
    assert f"<@{course.ta.id}>" in notice["content"] and "21 added" in notice["content"]


@in_module_loop
async def test_student_signs_up_for_a_paper(course: Course) -> None:
    result = await course.slash(course.alice, "signup paper", {"number": 4})
    assert result.ephemeral
    assert result.content and result.content.startswith("You present paper 4"), result.content


@in_module_loop
async def test_staff_command_refused_to_a_student(course: Course) -> None:
    # The fake shows /ta to everyone, so only the bot's own check stands between alice and the command.
    result = await course.slash(course.alice, "ta student", {"member": course.bob})
    assert result.ephemeral
    assert result.content == STAFF_ONLY
    assert not result.embeds  # no registration card leaked


@in_module_loop
async def test_swap_offer_when_their_dms_are_closed(course: Course) -> None:
    assigned = await course.slash(course.ta, "ta paper assign", {"member": course.bob, "number": 5})
    assert assigned.content and f"<@{course.bob.id}> now presents paper 5" in assigned.content, (
        assigned.content
    )
    result = await course.slash(course.alice, "signup swap", {"member": course.bob})
    assert result.ephemeral
    assert result.content and result.content.startswith("Swap offered"), result.content
    assert "/signup status" in result.content and "DMs are closed" in result.content
    assert course.fd.dms(course.bob) == []  # both DMs (assignment, offer) were refused


@in_module_loop
async def test_no_unknown_routes_and_no_errors(course: Course) -> None:
    assert not course.fd.unknown_requests, course.fd.unknown_requests
    text = course.log_text()
    assert "Traceback" not in text and " ERROR " not in text, text


@in_module_loop
async def test_sigterm_stops_cleanly_and_token_never_logged(course: Course) -> None:
    proc = course.proc
    assert proc.returncode is None, course.log_text()
    proc.send_signal(signal.SIGTERM)
    try:
        code = await asyncio.wait_for(proc.wait(), 10)
    except TimeoutError:
        pytest.fail(f"the bot did not stop within 10 s of SIGTERM:\n{course.log_text()}")
    text = course.log_text()
    assert code == 0, f"exit code {code}:\n{text}"
    assert "Traceback" not in text, text
    assert course.token not in text
    for part in course.token.split("."):  # nor any recognizable piece of it
        assert len(part) < 16 or part not in text


def test_run_without_token_exits_2(tmp_path: Path) -> None:
    env = clean_env(DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'unused.db'}")
    done = subprocess.run(
        [sys.executable, "-m", "bot", "run", "--config", str(ROOT / "config.toml")],
        cwd=tmp_path,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, (done.returncode, done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "DISCORD_TOKEN" in lines[0]
    assert done.stdout == ""
    assert not (tmp_path / "unused.db").exists()
