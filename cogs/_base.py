"""The base of every feature cog: staff commands declared in a cog are moved under `/ta`."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

import discord
from discord.ext import commands

from bot.app import CourseBot
from bot.tree import bound_writes, handle_interaction_error


class FeatureCog(commands.Cog):
    """A feature's cog: its app commands are top-level slash commands."""

    def __init__(self, bot: CourseBot) -> None:
        self.bot = bot


class StaffCog(FeatureCog):
    """A feature's staff cog: every app command in it becomes a subcommand of `/ta`.

    `/ta` is one group shared by all features; the tree refuses it to non-staff (bot/permissions.py).
    """

    async def cog_load(self) -> None:
        # Runs before the cog's commands reach the tree, so they never become top-level commands.
        moved, self.__cog_app_commands__ = list(self.__cog_app_commands__), []
        for command in moved:
            self.bot.staff_group.add_command(command)
        self._moved = moved

    async def cog_unload(self) -> None:
        for command in getattr(self, "_moved", []):
            self.bot.staff_group.remove_command(command.name)


async def guarded(interaction: discord.Interaction, action: Callable[[], Awaitable[None]]) -> None:
    """Run a button or modal callback through the same error path (and the same bound on waiting
    for the database) as slash commands."""
    bound_writes(interaction)
    client = interaction.client
    assert isinstance(client, CourseBot)
    client.track_handler()
    started, outcome = time.perf_counter(), "ok"
    try:
        await action()
    except Exception as error:
        outcome = await handle_interaction_error(client, interaction, error)
    # Counted by kind, never by custom id (ids in it name students and messages).
    kind = "modal" if interaction.type is discord.InteractionType.modal_submit else "button"
    client.metrics.command_handled(f"({kind})", outcome, time.perf_counter() - started)
