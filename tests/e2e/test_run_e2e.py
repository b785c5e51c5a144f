"""End to end: the real `python -m bot run` process against the local fake Discord.

One bot process serves the whole module (a module-scoped fixture); the tests run in file order and
tell one story: start-up and sync, the course card, registration, the staff's CSV import, a sign-up,
the server-side staff check, a swap offer to a member whose DMs are closed (posted in the fallback
channel, where only they can answer it), and a clean SIGTERM.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from bot_process import CourseRun, clean_env, running_course

in_module_loop = pytest.mark.asyncio(loop_scope="module")  # the loop the shared fixture lives in

ROOT = Path(__file__).resolve().parents[2]
NOW = "2025-03-10 11:00"  # week 2: paper sign-up is open
MANAGE_GUILD = 1 << 5
EPHEMERAL = 1 << 6
READY_TIMEOUT = 20.0
ANSWER_TIMEOUT = 10.0
STAFF_ONLY = "Only the course staff (TA or instructor role) can do that."


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def course(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[CourseRun]:
    tmp = tmp_path_factory.mktemp("e2e_run")
    async with running_course(tmp, students=["alice", "bob"], backend="sqlite") as world:
        fd, guild = world.fd, world.server.guild
        fd.dm_closed.add(guild.member("bob").id)
        parsed = tomllib.loads(world.bot.config.read_text(encoding="utf-8"))["discord"]
        assert (parsed["guild_id"], parsed["api_base"], parsed["gateway_url"], parsed["sync_commands"]) == (
            guild.id,
            fd.api_base,
            fd.gateway_url,
            True,
        )
        assert parsed["roles"]["ta"] == "TA" and parsed["channels"]["ta_log"] == "ta-log"
        world.bot.ready_timeout = READY_TIMEOUT
        await world.bot.start(NOW)
        yield world


@in_module_loop
async def test_starts_identifies_and_syncs_commands(course: CourseRun) -> None:
    fd = course.fd  # the fixture waited for the sync and the READY
    synced = fd.commands_for(course.server.guild)
    assert fd.identify_payload is not None and fd.identify_payload["token"] == course.bot.token
    names = {c["name"] for c in synced}
    assert {"course", "schedule", "register", "papers", "signup", "ta"} <= names, names
    ta = next(c for c in synced if c["name"] == "ta")
    assert int(ta["default_member_permissions"]) == MANAGE_GUILD  # clients hide /ta from students
    assert all(c["guild_id"] == str(course.server.guild.id) for c in synced)
    assert fd.commands_for(None) == []  # nothing synced globally
    assert f"to server {course.server.guild.id}" in course.bot.log_text()
    assert (course.bot.directory / "course.db").is_file()  # DATABASE_URL was honoured and migrated


@in_module_loop
async def test_course_card_is_ephemeral_embed(course: CourseRun) -> None:
    alice = course.server.guild.member("alice")
    result = await course.slash(alice, "course")
    assert result.type == 4
    assert result.flags & EPHEMERAL
    assert result.embeds, result.data
    assert "EECE695D" in result.embeds[0]["title"]


@in_module_loop
async def test_register(course: CourseRun) -> None:
    alice = course.server.guild.member("alice")
    result = await course.slash(alice, "register", {"student_id": "20251234", "name": "Alice Kim"})
    assert result.ephemeral
    assert result.content and result.content.startswith("Registered"), result.content
    assert "20251234" in result.content and "Alice Kim" in result.content


@in_module_loop
async def test_ta_imports_the_paper_list(course: CourseRun) -> None:
    csv = (ROOT / "data" / "papers.sample.csv").read_bytes()
    ta, ta_log = course.server.ta, course.server.guild.channel("ta-log")
    result = await course.slash(ta, "ta paper import", {"file": ("papers.csv", csv)})
    assert result.type == 5  # deferred, then the followup edits the "thinking" message
    assert result.ephemeral
    assert result.content and result.content.startswith("Imported: 21 added"), result.content
    await course.fd.wait_until(
        lambda: any("imported papers" in m["content"] for m in course.fd.messages(ta_log)),
        ANSWER_TIMEOUT,
        "the import notice in ta-log",
    )
    [notice] = [m for m in course.fd.messages(ta_log) if "imported papers" in m["content"]]
    assert f"<@{ta.id}>" in notice["content"] and "21 added" in notice["content"]


@in_module_loop
async def test_student_signs_up_for_a_paper(course: CourseRun) -> None:
    alice = course.server.guild.member("alice")
    result = await course.slash(alice, "signup paper", {"number": 4})
    assert result.ephemeral
    assert result.content and result.content.startswith("You present paper 4"), result.content


@in_module_loop
async def test_staff_command_refused_to_a_student(course: CourseRun) -> None:
    alice, bob = course.server.students
    # The fake shows /ta to everyone, so only the bot's own check stands between alice and the command.
    result = await course.slash(alice, "ta student", {"member": bob})
    assert result.ephemeral
    assert result.content == STAFF_ONLY
    assert not result.embeds  # no registration card leaked


@in_module_loop
async def test_swap_offer_when_their_dms_are_closed(course: CourseRun) -> None:
    alice, bob = course.server.students
    assigned = await course.slash(course.server.ta, "ta paper assign", {"member": bob, "number": 5})
    assert assigned.content and f"<@{bob.id}> now presents paper 5" in assigned.content, assigned.content
    result = await course.slash(alice, "signup swap", {"member": bob})
    assert result.ephemeral
    assert result.content and result.content.startswith("Swap offered"), result.content
    assert "They get it by DM and in `/signup status`" in result.content
    # The refused DM goes to the fallback channel, with the buttons that only Bob may use.
    notices = course.server.guild.channel("bot-notices")

    def offers() -> list[dict]:  # type: ignore[type-arg]
        return [m for m in course.fd.messages(notices) if m.get("components")]

    await course.fd.wait_until(lambda: bool(offers()), ANSWER_TIMEOUT, "the offer in bot-notices")
    [post] = offers()
    assert post["content"].startswith(f"<@{bob.id}> (your DMs are closed) <@{alice.id}> offers")
    ids = [b["custom_id"] for row in post["components"] for b in row["components"]]
    assert len(ids) == 2 and re.fullmatch(r"swap:\d+:accept", ids[0]), ids
    assert ids[1] == ids[0].replace(":accept", ":decline"), ids
    refused = await course.fd.invoke_component(post, ids[0], alice, timeout=ANSWER_TIMEOUT)
    assert refused.content == "That swap offer is not addressed to you.", refused.content
    assert course.fd.dms(bob) == []  # both DMs (assignment, offer) were refused


@in_module_loop
async def test_no_unknown_routes_and_no_errors(course: CourseRun) -> None:
    assert not course.fd.unknown_requests, course.fd.unknown_requests
    text = course.bot.log_text()
    assert "Traceback" not in text and " ERROR " not in text, text


@in_module_loop
async def test_sigterm_stops_cleanly_and_token_never_logged(course: CourseRun) -> None:
    await course.bot.stop(within=10)  # SIGTERM; it exits 0
    text = course.bot.log_text()
    assert "Traceback" not in text, text
    assert course.bot.token not in text
    for part in course.bot.token.split("."):  # nor any recognizable piece of it
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
