"""Meta-tests of the command surface: cogs load, names are unique, replies are ephemeral, /ta is staff-only."""

from __future__ import annotations

import importlib
import pkgutil
from typing import TYPE_CHECKING, Any

import discord
import pytest
import simcord
from discord import app_commands

import cogs
from bot.app import cog_extensions
from bot.services import students
from bot.tree import SOMETHING_WENT_WRONG

if TYPE_CHECKING:
    from tests.cogs.conftest import Course


def test_every_module_under_cogs_imports() -> None:
    names = [m.name for m in pkgutil.walk_packages(cogs.__path__, prefix="cogs.")]
    assert {"cogs.course", "cogs.registration", "cogs._base"} <= set(names)
    for name in names:
        importlib.import_module(name)


async def test_every_cog_extension_is_loaded(course: Course) -> None:
    extensions = cog_extensions()
    assert {"cogs.course", "cogs.registration"} <= set(extensions)
    assert not [e for e in extensions if e.rsplit(".", 1)[1].startswith("_")]
    assert set(extensions) <= set(course.bot.extensions)


async def test_no_two_commands_share_a_name(course: Course) -> None:
    names = [command.qualified_name for command in course.bot.tree.walk_commands()]
    assert len(names) == len(set(names)), sorted(n for n in names if names.count(n) > 1)
    assert {"course", "schedule", "register", "ta", "ta student"} <= set(names)


async def test_staff_commands_live_only_under_ta(course: Course) -> None:
    tree = course.bot.tree
    assert tree.get_command("student") is None
    staff = tree.get_command("ta")
    assert isinstance(staff, app_commands.Group)
    assert staff.guild_only
    assert staff.default_permissions is not None and staff.default_permissions.manage_guild
    assert staff.get_command("student") is not None


async def test_a_staff_cog_removed_and_loaded_again_leaves_the_rest_of_the_tree_alone(course: Course) -> None:
    """discord.py takes a removed cog's commands off the tree by name: `/ta attendance` must not take
    `/attendance` with it (bot/app.py, CourseBot.remove_cog)."""
    bot = course.bot
    staff = bot.tree.get_command("ta")
    assert isinstance(staff, app_commands.Group)
    top_level = {command.name for command in bot.tree.get_commands()}
    assert "attendance" in top_level and staff.get_command("attendance") is not None
    before = sorted(command.qualified_name for command in bot.tree.walk_commands())
    await bot.remove_cog("AttendanceStaffCog")
    after = {command.qualified_name for command in bot.tree.walk_commands()}
    assert staff.get_command("attendance") is None and "attendance" in after
    assert {command.name for command in bot.tree.get_commands()} == top_level
    await bot.reload_extension("cogs.attendance")
    assert sorted(command.qualified_name for command in bot.tree.walk_commands()) == before
    assert bot.tree.get_command("ta") is staff


async def test_names_and_descriptions_fit_discord_limits(course: Course) -> None:
    for command in course.bot.tree.walk_commands():
        assert 1 <= len(command.description) <= 100, command.qualified_name
        if isinstance(command, app_commands.Command):
            assert len(command.parameters) <= 25
            for parameter in command.parameters:
                assert 1 <= len(parameter.description) <= 100, f"{command.qualified_name} {parameter.name}"


SAMPLE: list[tuple[str, str, dict[str, Any]]] = [
    ("alice", "course", {}),
    ("alice", "schedule", {}),
    ("alice", "schedule", {"week": 9}),
    ("alice", "schedule", {"week": 40}),
    ("alice", "register", {"student_id": "20251234", "name": "Alice Kim"}),
    ("bob", "register", {"student_id": "nope", "name": "Bob"}),
    ("alice", "papers", {}),
    ("alice", "signup status", {}),
    ("ta", "ta student", {"member": "alice"}),
    ("prof", "ta student", {"member": "bob"}),
]


async def test_every_reply_is_ephemeral(course: Course) -> None:
    for who, command, options in SAMPLE:
        options = {k: course.members[v] if k == "member" else v for k, v in options.items()}
        result = await course.members[who].slash(course.channel, command, **options)
        replies = [result.response, *result.followups]
        assert replies[0] is not None, command
        assert all(reply.ephemeral for reply in replies), command
    assert course.channel.last_message is None  # nothing was posted for everyone to see


@pytest.mark.parametrize("permission", ["manage_guild", "administrator"])
async def test_ta_is_refused_on_the_server_side(
    course: Course, monkeypatch: pytest.MonkeyPatch, permission: str
) -> None:
    looked_up: list[int] = []
    real_lookup = students.get_student

    async def spy(services: Any, discord_id: int) -> Any:
        looked_up.append(discord_id)
        return await real_lookup(services, discord_id)

    monkeypatch.setattr(students, "get_student", spy)
    mallory = course.add("mallory", "student", permissions=discord.Permissions(**{permission: True}))
    assert "ta student" in mallory.available_commands(course.channel)  # the client shows /ta

    result = await mallory.slash(course.channel, "ta student", member=course.members["bob"])
    assert result.ephemeral
    assert result.response.content.startswith("Only the course staff")
    assert not result.response.embeds
    assert looked_up == []
    assert course.channels["ta-log"].last_message is None

    await course.members["ta"].slash(course.channel, "ta student", member=course.members["bob"])
    assert looked_up == [course.members["bob"].id]  # the spy does see real staff lookups


async def test_ta_is_hidden_from_a_plain_student(course: Course) -> None:
    alice = course.members["alice"]
    assert not [c for c in alice.available_commands(course.channel) if c.startswith("ta ")]
    with pytest.raises((simcord.SetupError, simcord.BackendError), match="default-member-permissions"):
        await alice.slash(course.channel, "ta student", member=course.members["bob"])


async def test_a_bug_is_reported_to_the_user_and_to_the_staff(
    course: Course, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("database on fire")

    monkeypatch.setattr(students, "register", broken)
    alice = course.members["alice"]
    result = await alice.slash(course.channel, "register", student_id="20251234", name="Alice Kim")
    assert result.ephemeral
    assert result.response.content == SOMETHING_WENT_WRONG
    log = course.channels["ta-log"].last_message
    assert log is not None
    assert "/register" in log.content and "RuntimeError" in log.content and alice.mention in log.content
    assert "database on fire" not in log.content  # details stay in the log file
    assert len(course.unexpected_errors()) == 1  # the fixture would fail the test without the next line
    course.take_error(RuntimeError, contains="database on fire")
    assert course.unexpected_errors() == []


async def test_shutdown_waits_for_a_command_in_progress(course: Course) -> None:
    """SIGTERM while a command is half-way (its reply sent, a post still to go) must not cut its HTTP
    session: close() lets running handlers finish first (bounded)."""
    import asyncio

    release, seen_closed = asyncio.Event(), []

    async def handler() -> None:
        course.bot.track_handler()
        await release.wait()
        seen_closed.append(course.bot.is_closed())

    running = asyncio.create_task(handler())
    await asyncio.sleep(0)
    closing = asyncio.create_task(course.bot.close())
    await asyncio.sleep(0.05)
    assert not closing.done(), "close() went on while a command was still running"
    release.set()
    await asyncio.wait_for(closing, 10)
    await running
    assert seen_closed == [False]
