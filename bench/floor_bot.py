"""The floor: a bare discord.py bot with one no-op slash command, `/noop`, that answers "ok"
ephemerally. Same intents as the course bot (members), discord.py's defaults for everything else.
Every benchmark figure is a ratio to this bot's cost, measured in the same run against the same fake
Discord with the same driver: what discord.py itself spends per interaction.

Not part of the bot. Started by the benchmarks (`bench/_harness.py`):

    DISCORD_TOKEN=... python bench/floor_bot.py API_BASE GATEWAY_URL GUILD_ID
"""

from __future__ import annotations

import logging
import os
import sys

import discord
import yarl
from discord import app_commands


def main() -> None:
    api_base, gateway_url, guild_id = sys.argv[1], sys.argv[2], int(sys.argv[3])
    discord.http.Route.BASE = api_base.rstrip("/")
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(gateway_url)
    discord.VoiceClient.warn_nacl = discord.VoiceClient.warn_dave = False
    intents = discord.Intents.default()
    intents.members = True  # like the course bot: it sees who has the student role
    client = discord.Client(intents=intents)
    tree = app_commands.CommandTree(client)
    guild = discord.Object(guild_id)

    @tree.command(name="noop", description="Answer ok", guild=guild)
    async def noop(interaction: discord.Interaction) -> None:
        await interaction.response.send_message("ok", ephemeral=True)

    async def setup_hook() -> None:
        await tree.sync(guild=guild)

    client.setup_hook = setup_hook  # type: ignore[method-assign]
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    client.run(os.environ["DISCORD_TOKEN"], log_handler=None)


if __name__ == "__main__":
    main()
