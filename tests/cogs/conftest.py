"""Commands through discord.py's real machinery: the real bot on simcord's in-process Discord.

`course` gives a running bot on a course server with an instructor, a TA and students.
simcord records every exception a command raised (`env.errors`), including the refusals the tree
turns into one-line replies. At teardown the fixture fails the test on any other error (a bug)
unless the test took it with `course.take_error(...)`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import discord
import pytest
import simcord
from sqlalchemy import func, select

from bot.app import CourseBot
from bot.clock import Clock
from bot.config import Config
from bot.db.models import AuditEntry
from bot.tree import friendly_message

GUILD_ID = 1_100_000_000_000_000_001


@dataclass
class Course:
    """A simulated course server with the real bot in it."""

    env: simcord.Env
    bot: CourseBot
    guild: simcord.GuildHandle
    channel: simcord.ChannelHandle
    channels: dict[str, simcord.ChannelHandle]
    roles: dict[str, simcord.RoleHandle]
    members: dict[str, simcord.MemberActor] = field(default_factory=dict)
    users: dict[str, simcord.UserHandle] = field(default_factory=dict)
    taken_errors: set[int] = field(default_factory=set)

    def add(
        self, name: str, role: str | None = "student", *, permissions: discord.Permissions | None = None
    ) -> simcord.MemberActor:
        """Add a member with one of the course roles (or none)."""
        roles = [self.roles[role]] if role else []
        if permissions is not None:
            roles.append(self.guild.create_role(f"{name}-perms", permissions=permissions))
        self.users[name] = self.env.create_user(name)
        self.members[name] = self.guild.add_member(self.users[name], roles=roles)
        return self.members[name]

    def take_error(self, exc_type: type[BaseException], *, contains: str | None = None) -> BaseException:
        """Assert the bot raised `exc_type` (directly or wrapped) and accept it as expected."""
        error = simcord.assert_error(self.env, exc_type, contains=contains)
        self.taken_errors.add(id(error))
        return error

    def unexpected_errors(self) -> list[BaseException]:
        """Errors that are neither a refusal shown to the user nor taken by the test."""
        return [e for e in self.env.errors if friendly_message(e) is None and id(e) not in self.taken_errors]

    async def restart(self) -> None:
        """Restart the bot process on the same database (a new CourseBot instance)."""
        new_bot = CourseBot(self.bot.config, clock=self.bot.clock, poll_outbox=False)
        await self.env.restart_bot(new_bot)
        self.bot = new_bot


# ---- reading what the bot answered ---------------------------------------------------------------
def reply_of(result: simcord.InteractionResult) -> simcord.ResponseMessage:
    """The reply, also when it was deferred (then it arrives as a follow-up)."""
    message = result.followups[-1] if result.followups else result.response
    assert message is not None
    return message


def reply_text(result: simcord.InteractionResult) -> str:
    """The text of an ephemeral reply."""
    assert result.ephemeral
    return reply_of(result).content


def one_line(result: simcord.InteractionResult) -> str:
    """An ephemeral reply of one line of plain text (no embed, no form)."""
    assert result.modal is None
    assert result.ephemeral
    message = reply_of(result)
    assert not message.embeds
    text = message.content
    assert text and "\n" not in text
    return text


def card_of(result: simcord.InteractionResult) -> discord.Embed:
    """The one embed of an ephemeral reply."""
    assert result.ephemeral
    [card] = reply_of(result).embeds
    return card


def embed_text(embed: discord.Embed) -> str:
    """Everything an embed shows, as text: title, description, footer, then each field's name and value."""
    parts = [embed.title or "", embed.description or "", embed.footer.text or ""]
    parts += [f"{field.name}\n{field.value}" for field in embed.fields]
    return "\n".join(parts)


def dm_messages(course: Course, name: str) -> list[discord.Message]:
    """The DMs member `name` got from the bot, oldest first."""
    return course.users[name].dm_channel.history()


def dms(course: Course, name: str) -> list[str]:
    """The text of those DMs."""
    return [message.content for message in dm_messages(course, name)]


def close_dms(course: Course, name: str) -> None:
    """Member `name` closes their DMs: Discord's 403 (50007) on every send to them from now on
    (simcord refuses DMs only to bots by itself)."""
    course.env.inject_error(
        "POST",
        f"/channels/{course.users[name].dm_channel.id}/messages",
        status=403,
        code=50007,
        message="Cannot send messages to this user",
        times=None,
    )


async def audit_count(course: Course) -> int:
    """How many audit entries the bot has written."""
    async with course.bot.services.db.read() as session:
        return await session.scalar(select(func.count()).select_from(AuditEntry)) or 0


def course_config(config: Config, tmp_path: Path) -> Config:
    discord_config = config.discord.model_copy(update={"guild_id": GUILD_ID})
    database = config.database.model_copy(update={"url": f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}"})
    return config.model_copy(update={"discord": discord_config, "database": database})


@asynccontextmanager
async def course_server(
    config: Config,
    clock: Clock,
    tmp_path: Path,
    members: Iterable[tuple[str, str | None]],
    *,
    bot_permissions: discord.Permissions | None = None,
) -> AsyncIterator[Course]:
    """The real bot on a simulated course server (the course roles and channels), with `members`
    (name, course role or None) joined after start-up and the bot's own permissions as given. Fails
    the test on any error the bot raised that was neither shown to a user nor taken by the test."""
    bot = CourseBot(course_config(config, tmp_path), clock=clock, poll_outbox=False)
    env = simcord.Env(bot)
    guild = env.create_guild("EECE695D", id=GUILD_ID)
    if bot_permissions is not None:
        # simcord gives the bot a managed integration role with every permission but administrator
        [bot_role] = [r for r in env.backend.guilds[GUILD_ID].roles.values() if r.managed]
        bot_role.permissions = bot_permissions.value
    staff_permissions = discord.Permissions(manage_guild=True)
    roles = {
        "instructor": guild.create_role("Instructor", permissions=staff_permissions),
        "ta": guild.create_role("TA", permissions=staff_permissions),
        "student": guild.create_role("Student"),
    }
    channels = {
        name: guild.create_text_channel(name)
        for name in ("general", "announcements", "ta-log", "bot-notices")
    }
    await env.start()
    world = Course(env, bot, guild, channels["general"], channels, roles)
    for name, role in members:
        world.add(name, role)
    try:
        yield world
    finally:
        await env.shutdown()
    bugs = world.unexpected_errors()
    if bugs:
        pytest.fail(f"the bot raised {len(bugs)} unexpected error(s): {bugs!r}", pytrace=False)


def role_names(course: Course, who: str) -> set[str]:
    """The names of the roles a member has on the simulated server."""
    guild = course.env.backend.guilds[GUILD_ID]
    return {guild.roles[r].name for r in guild.members[course.members[who].id].role_ids}


@pytest.fixture
async def course(config: Config, clock: Clock, tmp_path: Path) -> AsyncIterator[Course]:
    members = [
        ("prof", "instructor"),
        ("ta", "ta"),
        ("alice", "student"),
        ("bob", "student"),
        ("carol", "student"),
    ]
    async with course_server(config, clock, tmp_path, members) as world:
        yield world
