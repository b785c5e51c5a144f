"""The base of every feature cog: staff commands declared in a cog are moved under `/ta`, and the
one error path for buttons and modals."""

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
    """A feature's staff cog: every app command in it becomes a subcommand of `/ta`. Load it with
    `add_cogs`.

    `/ta` is one group shared by all features; the tree refuses it to non-staff (bot/permissions.py).
    A subcommand may share its name with a top-level command (`/ta attendance`, `/attendance`); see
    `CourseBot.remove_cog` for what that means when a cog is removed.
    """

    async def cog_load(self) -> None:
        # Runs before discord.py adds the cog's commands to the tree; once in the group, each of them
        # adds its root, `/ta`, instead of itself.
        self._moved = self.get_app_commands()  # (the cog's top-level ones: afterwards, none is)
        for command in self._moved:
            self.bot.staff_group.add_command(command)

    async def cog_unload(self) -> None:
        for command in getattr(self, "_moved", []):
            self.bot.staff_group.remove_command(command.name)


async def add_cogs(bot: CourseBot, *cogs: commands.Cog) -> None:
    """Load a feature's cogs. A staff cog's only top-level command is the shared `/ta` group, which
    every staff cog adds again: `override` lets it replace `/ta` with the same group (it has no
    other top-level command it could replace)."""
    for cog in cogs:
        await bot.add_cog(cog, override=isinstance(cog, StaffCog))


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
