"""The discord.py Bot: start-up (engine, migrations, scheduler, cogs, sync) and shutdown in reverse."""

from __future__ import annotations

import logging
import pkgutil
from datetime import UTC

import discord
import yarl
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from discord.ext import commands

import cogs
from bot.calendar import CourseCalendar
from bot.clock import Clock
from bot.config import Config, DiscordSection
from bot.db import Database
from bot.db.migrate import upgrade
from bot.notify.dispatcher import Dispatcher
from bot.permissions import Privilege, make_staff_group, privilege_of, role_matches
from bot.services import Services
from bot.services.reminders import plan_all
from bot.tree import CourseTree

log = logging.getLogger(__name__)


def cog_extensions() -> list[str]:
    """Every module or package directly under `cogs/`, in name order."""
    return sorted(
        f"cogs.{module.name}"
        for module in pkgutil.iter_modules(cogs.__path__)
        if not module.name.startswith("_")
    )


def use_endpoints(discord_config: DiscordSection) -> None:
    """Send REST calls to `api_base` and connect to `gateway_url` when they are set."""
    if discord_config.api_base:
        discord.http.Route.BASE = discord_config.api_base.rstrip("/")
    if discord_config.gateway_url:
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(discord_config.gateway_url)


def find_by_reference(items: list[discord.Role] | list[discord.TextChannel], reference: str) -> object | None:
    """The role or channel a config value (name or numeric id) refers to."""
    return next((item for item in items if role_matches(item, reference)), None)  # type: ignore[arg-type]


class CourseBot(commands.Bot):
    """The course bot. `services` is the Discord-free core every cog calls."""

    def __init__(
        self, config: Config, *, clock: Clock | None = None, migrate: bool = True, poll_outbox: bool = True
    ) -> None:
        intents = discord.Intents.default()
        intents.members = True  # privileged: needed to see who has the student role
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=intents,
            tree_cls=CourseTree,
            help_command=None,
            allowed_mentions=discord.AllowedMentions.none(),
        )
        self.config = config
        self.clock = clock or Clock()
        self.calendar = CourseCalendar(config)
        self.migrate = migrate
        self.poll_outbox = poll_outbox  # off in simulations, which send due reminders when they move time
        self.scheduler = AsyncIOScheduler(timezone=UTC)
        self.staff_group = make_staff_group()
        self.database: Database | None = None
        self._services: Services | None = None
        self.dispatcher: Dispatcher
        self.reported: set[str] = set()  # staff notices already posted in this process (said once)

    @property
    def services(self) -> Services:
        if self._services is None:
            raise RuntimeError("the bot has not been set up yet")
        return self._services

    async def login(self, token: str) -> None:
        use_endpoints(self.config.discord)
        await super().login(token)

    async def setup_hook(self) -> None:
        url = self.config.database.url
        if self.migrate:
            await upgrade(url)
        self.database = Database(url)
        self._services = Services(self.database, self.clock, self.config, self.calendar)
        self.scheduler.start()
        await plan_all(self._services)
        self.dispatcher = Dispatcher(self, poll=self.poll_outbox)
        await self.dispatcher.start()
        for extension in cog_extensions():
            await self.load_extension(extension)
        if self.staff_group.commands:
            self.tree.add_command(self.staff_group)
        if self.config.discord.sync_commands:
            await self.sync_commands()

    async def sync_commands(self) -> list[discord.app_commands.AppCommand]:
        """Sync to the configured server (instantly visible), or globally when guild_id is 0."""
        guild_id = self.config.discord.guild_id
        guild = discord.Object(guild_id) if guild_id else None
        if guild is not None:
            self.tree.copy_global_to(guild=guild)
        synced = await self.tree.sync(guild=guild)
        log.info("Synced %d commands %s", len(synced), f"to server {guild_id}" if guild else "globally")
        return synced

    async def close(self) -> None:
        """Undo setup_hook in reverse: the dispatcher first (a send in progress needs the HTTP session),
        then cogs and gateway, then the scheduler, then the database."""
        if hasattr(self, "dispatcher"):
            await self.dispatcher.stop()
        await super().close()
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        if self.database is not None:
            await self.database.dispose()
            self.database = None

    # ---- the course server ------------------------------------------------------------------
    @property
    def course_guild(self) -> discord.Guild | None:
        """The configured server, or the only server the bot is in when guild_id is 0."""
        guild_id = self.config.discord.guild_id
        if guild_id:
            return self.get_guild(guild_id)
        return self.guilds[0] if len(self.guilds) == 1 else None

    def course_channel(self, reference: str) -> discord.TextChannel | None:
        guild = self.course_guild
        if guild is None:
            return None
        channel = find_by_reference(list(guild.text_channels), reference)
        return channel if isinstance(channel, discord.TextChannel) else None

    def student_members(self) -> list[discord.Member]:
        """Everyone on the course server with the student role (and no staff role), bots excluded."""
        guild = self.course_guild
        if guild is None:
            return []
        roles = self.config.discord.roles
        members = (m for m in guild.members if not m.bot and privilege_of(m, roles) == Privilege.STUDENT)
        return sorted(members, key=lambda m: m.id)

    async def post_staff_log(self, text: str) -> None:
        """One line in the ta-log channel; a missing channel or permission is only logged."""
        channel = self.course_channel(self.config.discord.channels.ta_log)
        if channel is None:
            log.warning(
                "ta-log channel %r not found; dropping staff notice: %s",
                self.config.discord.channels.ta_log,
                text,
            )
            return
        try:
            await channel.send(text[:2000], allowed_mentions=discord.AllowedMentions.none())
        except discord.HTTPException as error:
            log.warning("Could not post to ta-log (%s): %s", error.status, text)

    async def send_dm(self, user_id: int, content: str, *, view: discord.ui.View | None = None) -> bool:
        """DM a member; False when Discord refuses (DMs closed) or the user is unknown."""
        try:
            user = self.get_user(user_id) or await self.fetch_user(user_id)
            if view is not None:
                await user.send(content[:2000], view=view, allowed_mentions=discord.AllowedMentions.none())
            else:
                await user.send(content[:2000], allowed_mentions=discord.AllowedMentions.none())
        except (discord.Forbidden, discord.NotFound):
            log.info("DM to %s refused", user_id)
            return False
        return True
