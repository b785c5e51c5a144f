"""The base of every feature cog: staff commands declared in a cog are moved under `/ta`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import ClassVar

import discord
from discord.ext import commands

from bot.app import CourseBot
from bot.tree import handle_interaction_error


class FeatureCog(commands.Cog):
    """A cog whose app commands named in `staff_commands` become subcommands of `/ta`.

    `/ta` is one group shared by all features; the tree refuses it to non-staff (bot/permissions.py).
    """

    staff_commands: ClassVar[tuple[str, ...]] = ()

    def __init__(self, bot: CourseBot) -> None:
        self.bot = bot

    async def cog_load(self) -> None:
        # Runs before the cog's commands reach the tree, so these never become top-level commands.
        moved = [c for c in self.__cog_app_commands__ if c.name in self.staff_commands]
        missing = set(self.staff_commands) - {c.name for c in moved}
        if missing:
            raise RuntimeError(f"{type(self).__name__}: no app command named {sorted(missing)}")
        self.__cog_app_commands__ = [c for c in self.__cog_app_commands__ if c not in moved]
        for command in moved:
            self.bot.staff_group.add_command(command)

    async def cog_unload(self) -> None:
        for name in self.staff_commands:
            self.bot.staff_group.remove_command(name)


async def guarded(interaction: discord.Interaction, action: Callable[[], Awaitable[None]]) -> None:
    """Run a button or modal callback through the same error path as slash commands."""
    try:
        await action()
    except Exception as error:
        client = interaction.client
        assert isinstance(client, CourseBot)
        await handle_interaction_error(client, interaction, error)
