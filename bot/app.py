"""The discord.py Bot: start-up (engine, migrations, scheduler, cogs, sync) and shutdown in reverse."""

from __future__ import annotations

import asyncio
import gc
import logging
import math
import pkgutil
from collections.abc import Sequence
from datetime import UTC
from typing import TYPE_CHECKING, Any, cast

import aiohttp
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
from bot.metrics import Metrics
from bot.notify.dispatcher import Dispatcher
from bot.permissions import is_student, make_staff_group, role_matches
from bot.services import Services
from bot.services.reminder_kinds import course_kinds, plan_all
from bot.startup_errors import (
    MISSING_MEMBERS_INTENT,
    WRONG_TOKEN,
    DiscordUnreachable,
    StartupError,
    network_reason,
)
from bot.tree import CourseTree, LateAnswers

if TYPE_CHECKING:  # aiohttp's server side is imported only when [http] port is on
    from bot.http_server import HttpServer, Probes

log = logging.getLogger(__name__)
HANDLER_GRACE_SECONDS = 5.0  # how long shutdown waits for commands in progress
REST_CONNECTIONS = 64  # HTTP connections to Discord at once (the gateway's included)
# What "Discord cannot be reached" looks like while logging in (setup_hook's own errors excluded).
_REST_UNREACHABLE = (aiohttp.ClientError, discord.DiscordServerError, TimeoutError)
_GATEWAY_UNREACHABLE = (OSError, aiohttp.ClientError, discord.GatewayNotFound, TimeoutError)


def freeze_heap(*, collect: bool = True, refreeze: bool = False) -> None:
    """Move every object alive now (modules, config, the cogs, the server's cached members) out of
    the garbage collector's sight: later full collections walk only what was made since, not the whole
    start-up heap (tens of ms each, several per burst of commands). With `collect`, what is not frozen
    yet is collected first, and with `refreeze` what was frozen before too (after a new gateway
    session, whose cache replaces the old one); with neither it costs nothing measurable (for the end
    of start-up, before the gateway connects)."""
    if refreeze:
        gc.unfreeze()
    if collect or refreeze:
        gc.collect()
    gc.freeze()


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


def endpoint_host(url: str | yarl.URL) -> str:
    """`host` or `host:port` of an endpoint URL, for messages."""
    parsed = yarl.URL(url)
    host = parsed.host or str(url)
    return f"{host}:{parsed.explicit_port}" if parsed.explicit_port else host


class OneLineReconnects(logging.Filter):
    """discord.py logs every reconnect while running with a full traceback (and a blocked heartbeat
    with the loop's stack); an operator needs one line with the reason."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if error is not None and record.getMessage().startswith("Attempting a reconnect"):
            record.msg = (
                f"Connection to Discord lost ({network_reason(error)}); {record.getMessage().lower()}"
            )
            record.args, record.exc_info, record.exc_text = None, None, None
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        elif "\nLoop thread traceback" in record.getMessage():
            record.msg, record.args = record.getMessage().split("\nLoop thread traceback", 1)[0], None
        return True


_ONE_LINE_RECONNECTS = OneLineReconnects()


class _JobsCancelledAtShutdown(logging.Filter):
    """APScheduler logs a job still running at shutdown (e.g. one waiting for READY when the start
    failed) as "raised an exception" with a CancelledError traceback; that is no failure."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        return not isinstance(error, asyncio.CancelledError)


_JOBS_CANCELLED_AT_SHUTDOWN = _JobsCancelledAtShutdown()


class _ReconnectOnceConnected:
    """discord.py's `reconnect` flag, true once a gateway connection was made: from then on its loop
    reconnects with backoff, forever. Before that, its loop would read the sequence of a websocket that
    does not exist ("'NoneType' object has no attribute 'sequence'"), so a first failure ends connect()
    and the caller retries a bounded number of times."""

    def __init__(self, bot: discord.Client) -> None:
        self.bot = bot

    def __bool__(self) -> bool:
        return self.bot.ws is not None


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
        discord.VoiceClient.warn_nacl = discord.VoiceClient.warn_dave = False  # no voice: no warning
        for name, quiet in (
            ("discord.client", _ONE_LINE_RECONNECTS),
            ("discord.gateway", _ONE_LINE_RECONNECTS),
            ("apscheduler.executors.default", _JOBS_CANCELLED_AT_SHUTDOWN),
        ):
            if quiet not in logging.getLogger(name).filters:
                logging.getLogger(name).addFilter(quiet)
        metrics = Metrics()
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=intents,
            tree_cls=CourseTree,
            help_command=None,
            allowed_mentions=discord.AllowedMentions.none(),
            http_trace=metrics.trace_config(),  # counts Discord's 429s (see Metrics.trace_config)
        )
        self.metrics = metrics
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
        self._running_handlers: set[asyncio.Task[Any]] = set()  # interaction handlers running now
        self.reported: set[str] = set()  # staff notices already posted in this process (said once)
        self.late_answers = LateAnswers()  # interactions past Discord's deadline, logged in summary
        self._sessions = 0  # gateway sessions begun (READY) in this process
        self.setup_started = False  # login's errors after this are setup_hook's, not the network's
        # /healthz and /metrics; cogs may add routes to its `app` while they load
        self.http_server: HttpServer | None = None
        if config.http.port:
            from bot.http_server import HttpServer

            self.http_server = HttpServer(self.health_probes(), metrics)

    @property
    def services(self) -> Services:
        if self._services is None:
            raise RuntimeError("the bot has not been set up yet")
        return self._services

    async def login(self, token: str) -> None:
        use_endpoints(self.config.discord)
        if self.http.connector is discord.utils.MISSING:
            # discord.py's default has no bound: a burst of N answers opens N connections (N TLS
            # handshakes on Discord) and keeps them. A bound makes answers reuse kept-alive ones.
            self.http.connector = aiohttp.TCPConnector(limit=REST_CONNECTIONS)
        await super().login(token)

    async def start(self, token: str, *, reconnect: bool = True) -> None:
        """Log in, set up and connect; once connected, discord.py reconnects by itself, with backoff.
        Raises StartupError (a wrong token, the Server Members intent off) or DiscordUnreachable (REST or
        gateway not reachable at start-up; the caller may retry with a new bot)."""
        try:
            await self.login(token)
        except discord.LoginFailure:
            raise StartupError(WRONG_TOKEN) from None
        except _REST_UNREACHABLE as error:
            if self.setup_started:  # setup_hook's own failure, not Discord's
                raise
            reason = (
                f"HTTP {error.status}" if isinstance(error, discord.HTTPException) else network_reason(error)
            )
            raise DiscordUnreachable(endpoint_host(discord.http.Route.BASE), reason) from error
        try:
            await self.connect(reconnect=cast(bool, _ReconnectOnceConnected(self)) if reconnect else False)
        except discord.PrivilegedIntentsRequired:
            raise StartupError(MISSING_MEMBERS_INTENT) from None
        except discord.ConnectionClosed as error:
            if error.code in (4004, 4014):
                raise StartupError(WRONG_TOKEN if error.code == 4004 else MISSING_MEMBERS_INTENT) from None
            raise
        except _GATEWAY_UNREACHABLE as error:
            if self.ws is not None:
                raise
            gateway = discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
            raise DiscordUnreachable(endpoint_host(gateway), network_reason(error)) from error

    async def remove_cog(
        self,
        name: str,
        /,
        *,
        guild: discord.abc.Snowflake | None = discord.utils.MISSING,
        guilds: Sequence[discord.abc.Snowflake] = discord.utils.MISSING,
    ) -> commands.Cog | None:
        """Remove a cog (also at shutdown). discord.py takes a removed cog's app commands off the tree
        by name; a staff cog's live under `/ta`, so a top-level command that shares a name with one of
        them (`/attendance` beside `/ta attendance`) and belongs to another cog is put back."""
        cog = self.get_cog(name)
        owned = {command.name for command in cog.get_app_commands()} if cog is not None else set()
        before = self.tree.get_commands()
        removed = await super().remove_cog(name, guild=guild, guilds=guilds)
        for command in before:
            if command.name not in owned and self.tree.get_command(command.name) is None:
                self.tree.add_command(command)
        return removed

    async def setup_hook(self) -> None:
        self.setup_started = True
        url = self.config.database.url
        if self.migrate:
            await upgrade(url)
        self.database = Database(url)
        self._services = Services(self.database, self.clock, self.config, self.calendar)
        self.scheduler.start()
        kinds = course_kinds(self._services)  # every feature registers its reminder kinds
        await plan_all(self._services, kinds)
        self.dispatcher = Dispatcher(self, kinds, poll=self.poll_outbox)
        await self.dispatcher.start()
        for extension in cog_extensions():
            await self.load_extension(extension)
        if self.http_server is not None:  # raises StartupError when the port is taken
            await self.http_server.start(self.config.http.bind, self.config.http.port)
        if self.config.discord.sync_commands:
            await self.sync_commands()
        self._freeze_heap(collect=False)  # collected at READY, once the members are cached too

    async def sync_commands(self) -> list[discord.app_commands.AppCommand]:
        """Sync to the configured server (instantly visible), or globally when guild_id is 0."""
        guild_id = self.config.discord.guild_id
        guild = discord.Object(guild_id) if guild_id else None
        if guild is not None:
            self.tree.copy_global_to(guild=guild)
        synced = await self.tree.sync(guild=guild)
        log.info("Synced %d commands %s", len(synced), f"to server {guild_id}" if guild else "globally")
        return synced

    async def on_ready(self) -> None:
        """One line per (re)connection with a new session (discord.py's own gateway lines are off)."""
        log.info("Connected to Discord as %s (%d server(s))", self.user, len(self.guilds))
        # the server and its members are cached now; a later session's cache replaced the first's
        self._freeze_heap(refreeze=self._sessions > 0)
        self._sessions += 1

    def _freeze_heap(self, *, collect: bool = True, refreeze: bool = False) -> None:
        # Only a serving bot: simulations (the sandbox, the tests) make many short-lived bots in one
        # process, and a collection at each start would only slow them down.
        if self.poll_outbox:
            freeze_heap(collect=collect, refreeze=refreeze)

    async def on_resumed(self) -> None:
        log.info("Reconnected to Discord (session resumed)")

    async def close(self) -> None:
        """Undo setup_hook in reverse: the health server (it reads the database), the dispatcher
        (a send in progress needs the HTTP session), then cogs and gateway, the scheduler, the database."""
        if self.http_server is not None:
            await self.http_server.stop()
        if hasattr(self, "dispatcher"):
            await self.dispatcher.stop()
        await self._let_handlers_finish()
        self.late_answers.flush()
        await super().close()
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        if self.database is not None:
            await self.database.dispose()
            self.database = None

    def track_handler(self) -> None:
        """Remember the running interaction handler, so that shutdown lets it finish (bounded)
        instead of cutting its HTTP session mid-reply."""
        task = asyncio.current_task()
        if task is not None and task not in self._running_handlers:
            self._running_handlers.add(task)
            task.add_done_callback(self._running_handlers.discard)

    async def _let_handlers_finish(self) -> None:
        running = {task for task in self._running_handlers if task is not asyncio.current_task()}
        if running:
            log.info("Waiting for %d command(s) in progress before shutting down", len(running))
            await asyncio.wait(running, timeout=HANDLER_GRACE_SECONDS)

    # ---- health -----------------------------------------------------------------------------
    def gateway_connected(self) -> bool:
        """True while the gateway websocket is open after the first READY (False while reconnecting)."""
        ws = self.ws
        return self.is_ready() and not self.is_closed() and ws is not None and ws.open

    def health_probes(self) -> Probes:
        """What /healthz reads from this bot."""
        from bot.http_server import Probes

        return Probes(
            gateway_connected=self.gateway_connected,
            database=lambda: self.database,
            dispatcher_last_run=lambda: self.dispatcher.last_run if hasattr(self, "dispatcher") else None,
            now=self.clock.now,
            gateway_latency=lambda: self.latency if math.isfinite(self.latency) else None,
        )

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
        return sorted((m for m in guild.members if is_student(m, roles)), key=lambda m: m.id)

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
