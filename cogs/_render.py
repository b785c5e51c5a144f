"""Rendering helpers shared by the cogs (a leading underscore keeps this module from loading as a cog)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

import discord

from bot.app import CourseBot

EMBED_COLOUR = discord.Colour.blurple()


def when(instant: datetime) -> str:
    """A Discord timestamp every reader sees in their own timezone: full date and relative."""
    return f"{discord.utils.format_dt(instant, 'F')} ({discord.utils.format_dt(instant, 'R')})"


def short_date(day: date) -> str:
    return f"{day:%a %b} {day.day}"


def embed(title: str, description: str | None = None) -> discord.Embed:
    return discord.Embed(
        title=title[:256], description=description[:4096] if description else None, colour=EMBED_COLOUR
    )


def bot_of(interaction: discord.Interaction) -> CourseBot:
    client = interaction.client
    assert isinstance(client, CourseBot)
    return client


def import_problems(errors: Sequence[str], shown: int = 20) -> str:
    """The reply to an import that was refused: nothing imported, and the first `shown` problems
    ("line N: reason"), within Discord's 2000 characters."""
    listed = "\n".join(errors[:shown]) + (
        f"\n… and {len(errors) - shown} more" if len(errors) > shown else ""
    )
    return f"Nothing was imported; fix these rows:\n{listed}"[:2000]
