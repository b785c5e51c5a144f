# ruff: noqa: ASYNC109  (the test API takes explicit ``timeout=`` arguments by design)
"""A local fake of Discord's API v10 (REST + gateway) for end-to-end tests.

An unmodified discord.py bot can log in, connect, receive guilds, sync app
commands, answer slash commands / buttons / modals and send messages and DMs.
Point the bot at it with::

    discord.http.Route.BASE = fd.api_base
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(fd.gateway_url)

Only aiohttp and the standard library are used. Everything runs on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import copy
import inspect
import json
import random
import re
import secrets
import time
import uuid
import zlib
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar, TypeVar, cast

from aiohttp import BodyPartReader, WSMsgType, web
from discord_schema import request_problems

__all__ = [
    "FakeChannel",
    "FakeDiscord",
    "FakeGuild",
    "FakeMember",
    "FakeRole",
    "FakeUser",
    "InteractionResult",
    "RequestRecord",
    "RestFaults",
]

API = "/api/v10"
DISCORD_EPOCH = 1420070400000
ADMINISTRATOR = 1 << 3
ALL_PERMISSIONS = (1 << 51) - 1
# view channel, send messages, embed links, attach files, read history, add reactions, use app commands
DEFAULT_PERMISSIONS = (1 << 10) | (1 << 11) | (1 << 14) | (1 << 15) | (1 << 16) | (1 << 6) | (1 << 31)
EPHEMERAL, LOADING = 1 << 6, 1 << 7
SEND_MESSAGES, CREATE_PUBLIC_THREADS = 1 << 11, 1 << 35
GUILD_MEMBERS_INTENT = 1 << 1  # privileged: the app's Server Members Intent switch
RAW_BODY = web.RequestKey(
    "raw_body", object
)  # a multipart payload_json as sent, before attachments are filled
Json = dict[str, Any]


def _now_iso() -> str:
    return datetime.now(UTC).isoformat()


@dataclass
class FakeUser:
    """A Discord user (also used for the bot's own user)."""

    id: int
    username: str
    bot: bool = False

    def payload(self) -> Json:
        return {
            "id": str(self.id),
            "username": self.username,
            "discriminator": "0",
            "global_name": None,
            "avatar": None,
            "bot": self.bot,
            "public_flags": 0,
            "flags": 0,
        }


@dataclass
class FakeRole:
    """A guild role. The @everyone role has the guild's id."""

    id: int
    guild_id: int
    name: str
    permissions: int = 0
    position: int = 0
    managed: bool = False
    color: int = 0
    mentionable: bool = False
    hoist: bool = False

    def payload(self) -> Json:
        return {
            "id": str(self.id),
            "name": self.name,
            "permissions": str(self.permissions),
            "position": self.position,
            "color": self.color,
            "colors": {"primary_color": self.color},
            "hoist": self.hoist,
            "managed": self.managed,
            "mentionable": self.mentionable,
            "icon": None,
            "unicode_emoji": None,
            "flags": 0,
        }


@dataclass
class FakeChannel:
    """A guild channel (type 0 text, 2 voice, 4 category, 5 news, 15 forum), a public thread
    (type 11: ``parent_id`` is its channel, ``owner_id`` who made it) or a DM (type 1)."""

    id: int
    name: str
    type: int = 0
    guild_id: int | None = None
    parent_id: int | None = None
    position: int = 0
    topic: str | None = None
    recipient: FakeUser | None = None
    # permission overwrites as Discord returns them: {"id", "type" (0 role, 1 member), "allow", "deny"}
    overwrites: list[Json] = field(default_factory=list)
    owner_id: int | None = None  # threads
    archived: bool = False
    auto_archive_duration: int = 1440

    def overwrite(self, target_id: int) -> Json | None:
        """The overwrite for a role or member id, if any."""
        return next((o for o in self.overwrites if o["id"] == str(target_id)), None)

    def payload(self) -> Json:
        if self.type == 1:
            assert self.recipient is not None
            return {
                "id": str(self.id),
                "type": 1,
                "recipients": [self.recipient.payload()],
                "last_message_id": None,
            }
        data: Json = {
            "id": str(self.id),
            "type": self.type,
            "guild_id": str(self.guild_id),
            "name": self.name,
            "position": self.position,
            "parent_id": str(self.parent_id) if self.parent_id else None,
            "topic": self.topic,
            "nsfw": False,
            "permission_overwrites": [dict(o) for o in self.overwrites],
            "rate_limit_per_user": 0,
            "last_message_id": None,
            "flags": 0,
        }
        if self.type == 2:
            data.update(bitrate=64000, user_limit=0, rtc_region=None)
        if self.type == 11:
            for key in ("position", "topic", "nsfw", "permission_overwrites"):
                data.pop(key)
            data.update(
                owner_id=str(self.owner_id),
                message_count=0,
                member_count=1,
                thread_metadata={
                    "archived": self.archived,
                    "auto_archive_duration": self.auto_archive_duration,
                    "archive_timestamp": _now_iso(),
                    "locked": False,
                },
            )
        return data


@dataclass
class FakeMember:
    """A user's membership in a guild; ``roles`` holds role ids (never @everyone)."""

    user: FakeUser
    guild_id: int
    roles: list[int] = field(default_factory=list)
    nick: str | None = None
    joined_at: str = field(default_factory=_now_iso)

    @property
    def id(self) -> int:
        return self.user.id

    def payload(self) -> Json:
        return {
            "user": self.user.payload(),
            "roles": [str(r) for r in self.roles],
            "nick": self.nick,
            "joined_at": self.joined_at,
            "deaf": False,
            "mute": False,
            "flags": 0,
            "pending": False,
            "avatar": None,
            "premium_since": None,
            "communication_disabled_until": None,
        }


@dataclass
class FakeGuild:
    """A guild with its roles, channels and members (all keyed by id)."""

    id: int
    name: str
    owner_id: int
    roles: dict[int, FakeRole] = field(default_factory=dict)
    channels: dict[int, FakeChannel] = field(default_factory=dict)
    members: dict[int, FakeMember] = field(default_factory=dict)

    def role(self, name: str) -> FakeRole:
        return next(r for r in self.roles.values() if r.name == name)

    def channel(self, name: str) -> FakeChannel:
        return next(c for c in self.channels.values() if c.name == name)

    def member(self, name: str) -> FakeMember:
        return next(m for m in self.members.values() if m.user.username == name)

    def payload(self, full: bool = False) -> Json:
        data: Json = {
            "id": str(self.id),
            "name": self.name,
            "icon": None,
            "owner_id": str(self.owner_id),
            "roles": [r.payload() for r in self.roles.values()],
            "emojis": [],
            "stickers": [],
            "features": [],
            "preferred_locale": "en-US",
            "verification_level": 0,
            "mfa_level": 0,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "nsfw_level": 0,
            "premium_tier": 0,
            "afk_timeout": 300,
            "afk_channel_id": None,
            "system_channel_id": None,
            "system_channel_flags": 0,
            "description": None,
            "banner": None,
            "splash": None,
            "approximate_member_count": len(self.members),
        }
        if full:  # GUILD_CREATE shape
            data.update(
                member_count=len(self.members),
                large=False,
                unavailable=False,
                joined_at=_now_iso(),
                channels=[c.payload() for c in self.channels.values() if c.type != 11],
                threads=[c.payload() for c in self.channels.values() if c.type == 11 and not c.archived],
                voice_states=[],
                members=[m.payload() for m in self.members.values()],
                presences=[],
                stage_instances=[],
                guild_scheduled_events=[],
                soundboard_sounds=[],
            )
        return data


@dataclass
class RequestRecord:
    """One REST request the bot made (``unknown`` = no such route in the fake)."""

    method: str
    path: str  # without the /api/v10 prefix
    status: int
    json: Any = None
    query: dict[str, str] = field(default_factory=dict)
    unknown: bool = False


@dataclass
class InteractionResult:
    """What the bot did with one interaction. Message dicts are live: later edits show up."""

    id: int
    token: str
    payload: Json  # the INTERACTION_CREATE data that was dispatched
    created: float
    type: int | None = None  # callback type: 4 message, 5 deferred, 6 deferred update, 7 update, 9 modal
    data: Json = field(default_factory=dict)  # callback data as sent by the bot
    original: Json | None = None  # the response message (or the clicked message for 6/7)
    followups: list[Json] = field(default_factory=list)
    edits: int = 0  # PATCHes of @original
    rejected: list[tuple[int, Json]] = field(default_factory=list)  # (error code, body) of refused callbacks

    @property
    def late(self) -> bool:
        """True if a callback was refused because it came after the deadline."""
        return any(code == 10062 for code, _ in self.rejected)

    @property
    def content(self) -> str | None:
        return (self.original or self.data).get("content")

    @property
    def embeds(self) -> list[Json]:
        return (self.original or self.data).get("embeds") or []

    @property
    def components(self) -> list[Json]:
        return (self.original or self.data).get("components") or []

    @property
    def flags(self) -> int:
        return int((self.original or self.data).get("flags") or 0)

    @property
    def ephemeral(self) -> bool:
        return bool(self.flags & EPHEMERAL)

    @property
    def modal(self) -> Json | None:
        return self.data if self.type == 9 else None

    @property
    def messages(self) -> list[Json]:
        """The original response (if any) followed by all followups."""
        return ([self.original] if self.original else []) + self.followups


@dataclass
class RestFaults:
    """Faults for message sends (``POST /channels/{id}/messages``: DMs and channel posts; nothing
    else), set with ``fd.faults = RestFaults(...)``. A ``share`` of sends is answered with one of
    ``statuses`` and a ``hang_share`` is held ``hang_seconds`` before any answer (past a client's
    timeout). Either happens before the message is stored or, for a ``stored_share`` of them, after
    it (a 502 from a proxy whose backend did the work; an answer lost on the way back), so only the
    nonce keeps a retry from showing twice. Seeded: the same seed draws the same faults for the same
    sequence of sends. ``injected`` counts what was done, by status ("500", ...) and "hang", each
    also with " stored" when the message was stored. ``max_hangs`` caps the hangs (each costs a
    sequential sender its whole timeout)."""

    share: float = 0.0
    statuses: tuple[int, ...] = (500, 502, 503)
    hang_share: float = 0.0
    hang_seconds: float = 30.0
    max_hangs: int | None = None
    stored_share: float = 0.5
    seed: int = 0
    injected: Counter[str] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed)
        self._released = asyncio.Event()

    async def hang(self) -> None:
        """Hold a send for ``hang_seconds``, or until ``release``."""
        try:
            await asyncio.wait_for(self._released.wait(), self.hang_seconds)
        except TimeoutError:
            pass

    def release(self) -> None:
        """End every hang now and all later ones at once (``FakeDiscord.stop`` does it too)."""
        self._released.set()

    def draw(self) -> tuple[int | str, bool] | None:
        """The fault for the next send: (status or "hang", stored first?), or None for none."""
        roll = self._random.random()
        hangs = self.injected["hang"] + self.injected["hang stored"]
        if roll < self.hang_share and (self.max_hangs is None or hangs < self.max_hangs):
            fault: int | str = "hang"
        elif roll < self.hang_share + self.share:
            fault = self._random.choice(self.statuses)
        else:
            return None
        stored = self._random.random() < self.stored_share
        self.injected[f"{fault}{' stored' if stored else ''}"] += 1
        return fault, stored

    @property
    def total(self) -> int:
        return sum(self.injected.values())


class _ApiError(Exception):
    def __init__(
        self,
        status: int,
        code: int,
        message: str,
        errors: Json | None = None,
        headers: dict[str, str] | None = None,
        extra: Json | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.headers = status, headers
        self.body: Json = {
            "message": message,
            "code": code,
            **({"errors": errors} if errors else {}),
            **(extra or {}),
        }

    def response(self) -> web.Response:
        return _json(self.body, self.status, self.headers)


def _form_error(field_name: str, message: str) -> _ApiError:
    return _ApiError(
        400,
        50035,
        "Invalid Form Body",
        {field_name: {"_errors": [{"code": "BASE_TYPE_INVALID", "message": message}]}},
    )


class _Conn:
    """One gateway websocket; frames go through a queue so ordering is preserved."""

    def __init__(self, ws: web.WebSocketResponse, zlib_stream: bool) -> None:
        self.ws = ws
        self.queue: asyncio.Queue[str] = asyncio.Queue()
        self.zlib = zlib.compressobj() if zlib_stream else None
        self.transport: asyncio.BaseTransport | None = None  # the TCP connection, for `drop_gateway`

    def send(self, op: int, d: Any) -> None:
        self.queue.put_nowait(json.dumps({"op": op, "d": d, "s": None, "t": None}))


UserRef = FakeMember | FakeUser | int | str
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
T = TypeVar("T")


class FakeDiscord:
    """The fake server. ``await start()``, build guilds with ``add_*``, drive the bot with ``invoke_*``."""

    instances: ClassVar[list[FakeDiscord]] = []  # every fake made in this process (the e2e tests check each)

    def __init__(
        self,
        *,
        token: str | None = None,
        bot_name: str = "coursebot",
        bot_permissions: int = ADMINISTRATOR,
        rate_limit_per_second: int | None = None,
        interaction_deadline: float | None = None,
        heartbeat_interval_ms: int = 41250,
        nonce_window: float = 300.0,
        validate_schema: bool = True,
        members_intent_allowed: bool = True,
    ) -> None:
        self.token = token  # if set, REST and IDENTIFY must use it
        # False: like an app whose Server Members intent is off, IDENTIFY with GUILD_MEMBERS closes 4014
        self.members_intent_allowed = members_intent_allowed
        self.validate_schema = validate_schema  # bodies checked against Discord's OpenAPI description
        self.schema_violations: list[str] = []
        FakeDiscord.instances.append(self)
        self.bot_permissions = bot_permissions
        self.rate_limit_per_second = rate_limit_per_second
        self.interaction_deadline = interaction_deadline  # e.g. 3.0 like Discord; None = no deadline
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.nonce_window = nonce_window
        self._counter = 0
        self.users: dict[int, FakeUser] = {}
        self.guilds: dict[int, FakeGuild] = {}
        self.channels: dict[int, FakeChannel] = {}
        self.bot_user = self.add_user(bot_name, bot=True)
        self.application_id = self.bot_user.id
        self.owner = self.add_user("owner")
        self.dm_closed: set[int] = set()
        self.faults: RestFaults | None = None  # injected into message sends (see RestFaults)
        self.nonce_repeats = 0  # sends Discord dropped as a repeat of a nonce: stored once, shown once
        self.commands: dict[int | None, list[Json]] = {}  # guild id (None = global) -> synced commands
        self.requests: list[RequestRecord] = []
        self.files: dict[int, bytes] = {}  # attachment id -> bytes
        self.scheduled_events: dict[int, Json] = {}  # event id -> guild scheduled event payload
        self.deleted_messages: list[Json] = []
        self.identify_payload: Json | None = None
        self.presence: Json | None = None
        self.ready_count = 0
        self.gateway_connections = 0
        self.gateway_refused = 0  # connection attempts refused while ``gateway_down``
        self.resumes = 0  # RESUMEs accepted (a re-IDENTIFY counts in ``ready_count`` instead)
        self._gateway_down = False
        self._closing: set[asyncio.Task[Any]] = set()
        self._messages: dict[int, Json] = {}
        self._dm_channels: dict[int, FakeChannel] = {}
        self._nonces: dict[tuple[int, int, str], tuple[float, Json]] = {}
        self._interactions: dict[str, InteractionResult] = {}
        self._window: deque[float] = deque()
        self._conn: _Conn | None = None
        self._session_id: str | None = None
        self._seq = 0
        self._backlog: deque[tuple[int, str]] = deque(maxlen=2000)
        self._runner: web.AppRunner | None = None
        self.port = 0

    # ------------------------------------------------------------------ lifecycle
    async def start(self, port: int = 0) -> None:
        """Listen on 127.0.0.1 (port 0 picks a free one; see ``self.port``)."""
        app = web.Application(middlewares=[self._middleware], client_max_size=64 * 1024 * 1024)
        app.router.add_get("/gateway", self._h_gateway)
        app.router.add_get("/attachments/{aid}/{name}", self._h_attachment)
        for method, path, handler in self._routes():
            app.router.add_route(method, API + path, self._wrap(handler))
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", port).start()
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        if self.faults is not None:
            self.faults.release()  # a hung send must not hold up the shutdown
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)
        if self._conn is not None:
            await self._conn.ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def __aenter__(self) -> FakeDiscord:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self.port}{API}"

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/gateway"

    @property
    def unknown_requests(self) -> list[RequestRecord]:
        return [r for r in self.requests if r.unknown]

    # ------------------------------------------------------------------ world building
    def next_id(self) -> int:
        """A fresh, increasing snowflake."""
        self._counter += 1
        return ((int(time.time() * 1000) - DISCORD_EPOCH) << 22) | (self._counter & 0x3FFFFF)

    def add_user(self, name: str, *, id: int | None = None, bot: bool = False) -> FakeUser:
        user = FakeUser(id or self.next_id(), name, bot)
        self.users[user.id] = user
        return user

    def add_guild(self, name: str = "Course", *, owner: UserRef | None = None) -> FakeGuild:
        """Create a guild containing @everyone, the bot (with a managed role) and its owner."""
        owner_user = self.user(owner) if owner is not None else self.owner
        guild = FakeGuild(self.next_id(), name, owner_user.id)
        guild.roles[guild.id] = FakeRole(guild.id, guild.id, "@everyone", DEFAULT_PERMISSIONS)
        self.guilds[guild.id] = guild
        bot_role = self.add_role(
            guild, self.bot_user.username, permissions=self.bot_permissions, managed=True
        )
        bot_role.position = 100
        self.add_member(guild, self.bot_user, roles=[bot_role])
        self.add_member(guild, owner_user)
        return guild

    def add_role(
        self,
        guild: FakeGuild | int,
        name: str,
        *,
        permissions: int = 0,
        managed: bool = False,
        color: int = 0,
        mentionable: bool = False,
        hoist: bool = False,
    ) -> FakeRole:
        g = self.guild(guild)
        role = FakeRole(
            self.next_id(), g.id, name, permissions, len(g.roles), managed, color, mentionable, hoist
        )
        g.roles[role.id] = role
        self._emit_if_ready("GUILD_ROLE_CREATE", {"guild_id": str(g.id), "role": role.payload()})
        return role

    def add_channel(
        self,
        guild: FakeGuild | int,
        name: str,
        *,
        type: int = 0,
        parent: FakeChannel | None = None,
        topic: str | None = None,
        overwrites: Iterable[Json] = (),
    ) -> FakeChannel:
        """Add a channel; ``overwrites`` are overwrite objects (``id``, ``type``, ``allow``, ``deny``)."""
        g = self.guild(guild)
        ch = FakeChannel(
            self.next_id(), name, type, g.id, parent.id if parent else None, len(g.channels), topic
        )
        for o in overwrites:
            self._put_overwrite(ch, *_overwrite_fields(o))
        g.channels[ch.id] = self.channels[ch.id] = ch
        self._emit_if_ready("CHANNEL_CREATE", ch.payload())
        return ch

    def set_overwrite(
        self,
        channel: FakeChannel | int,
        target: FakeRole | FakeMember | FakeUser,
        *,
        allow: int = 0,
        deny: int = 0,
    ) -> None:
        """Set a channel's permission overwrite for a role or member, as a server admin would
        (CHANNEL_UPDATE is dispatched once the bot is connected)."""
        ch = self._chan(channel)
        kind = 0 if isinstance(target, FakeRole) else 1
        self._put_overwrite(ch, target.id, kind, allow, deny)
        self._emit_if_ready("CHANNEL_UPDATE", ch.payload())

    @staticmethod
    def _put_overwrite(ch: FakeChannel, target_id: int, kind: int, allow: int, deny: int) -> None:
        entry = {"id": str(target_id), "type": kind, "allow": str(allow), "deny": str(deny)}
        ch.overwrites = [o for o in ch.overwrites if o["id"] != str(target_id)] + [entry]

    def add_member(
        self,
        guild: FakeGuild | int,
        user: UserRef,
        *,
        roles: Iterable[FakeRole | int | str] = (),
        nick: str | None = None,
    ) -> FakeMember:
        """Add a member; ``user`` may be a FakeUser, an id or a username (created if new)."""
        g = self.guild(guild)
        if isinstance(user, int) and user not in self.users:
            self.add_user(f"user{user}", id=user)
        elif isinstance(user, str) and not any(u.username == user for u in self.users.values()):
            self.add_user(user)
        member = FakeMember(self.user(user), g.id, [self._role(g, r).id for r in roles], nick)
        g.members[member.id] = member
        self._emit_if_ready("GUILD_MEMBER_ADD", {"guild_id": str(g.id), **member.payload()})
        return member

    def guild(self, ref: FakeGuild | int | str) -> FakeGuild:
        if isinstance(ref, FakeGuild):
            return ref
        if isinstance(ref, str):
            return next(g for g in self.guilds.values() if g.name == ref)
        return self.guilds[int(ref)]

    def user(self, ref: UserRef) -> FakeUser:
        if isinstance(ref, FakeMember):
            return ref.user
        if isinstance(ref, FakeUser):
            return ref
        if isinstance(ref, str):
            return next(u for u in self.users.values() if u.username == ref)
        return self.users[int(ref)]

    def member(self, guild: FakeGuild | int, ref: UserRef) -> FakeMember:
        return ref if isinstance(ref, FakeMember) else self.guild(guild).members[self.user(ref).id]

    def _role(self, g: FakeGuild, ref: FakeRole | int | str) -> FakeRole:
        if isinstance(ref, FakeRole):
            return ref
        return g.role(ref) if isinstance(ref, str) else g.roles[int(ref)]

    def permissions(self, guild: FakeGuild | int, member: UserRef) -> int:
        """Guild-level permissions of a member (owner/administrator = everything)."""
        g = self.guild(guild)
        m = self.member(g, member)
        if m.id == g.owner_id:
            return ALL_PERMISSIONS
        perms = g.roles[g.id].permissions
        for rid in m.roles:
            perms |= g.roles[rid].permissions
        return ALL_PERMISSIONS if perms & ADMINISTRATOR else perms

    # ------------------------------------------------------------------ inspection
    def messages(self, channel: FakeChannel | int) -> list[Json]:
        """Live (not deleted) messages in a channel, oldest first, including interaction responses."""
        cid = str(channel.id if isinstance(channel, FakeChannel) else channel)
        return [m for m in self._messages.values() if m["channel_id"] == cid]

    def dms(self, user: UserRef) -> list[Json]:
        """Messages the bot sent in its DM channel with ``user``."""
        ch = self._dm_channels.get(self.user(user).id)
        return self.messages(ch) if ch else []

    def commands_for(self, guild: FakeGuild | int | None = None) -> list[Json]:
        return self.commands.get(None if guild is None else self.guild(guild).id, [])

    async def wait_until(
        self, predicate: Callable[[], Any], timeout: float = 10.0, what: str = "condition"
    ) -> None:
        """Poll ``predicate`` until truthy; raise TimeoutError(what) after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
            await asyncio.sleep(0.01)

    async def wait_ready(self, timeout: float = 10.0) -> None:
        """Wait until the bot IDENTIFYed and got READY + GUILD_CREATEs."""
        await self.wait_until(lambda: self.ready_count and self._conn, timeout, "the bot to identify")

    async def wait_commands_synced(
        self, guild: FakeGuild | int | None = None, timeout: float = 10.0
    ) -> list[Json]:
        """Wait for a bulk overwrite of the guild's (or global, if None) commands; return them."""
        key = None if guild is None else self.guild(guild).id
        await self.wait_until(lambda: key in self.commands, timeout, f"command sync for {key or 'global'}")
        return self.commands[key]

    # ------------------------------------------------------------------ driving the bot
    async def invoke_slash(
        self,
        guild: FakeGuild | int,
        channel: FakeChannel | int,
        member: UserRef,
        name: str,
        options: Json | None = None,
        *,
        timeout: float = 10.0,
        wait_deferred: bool = True,
        locale: str = "en-US",
    ) -> InteractionResult:
        """Run ``/name`` (``"ta attendance open"`` for subcommands) as ``member``; wait for the bot's answer.

        Option values: plain values, or FakeMember/FakeUser/FakeRole/FakeChannel/ids for entity options,
        or ``(filename, bytes)`` for attachments. If the bot defers, also waits for its edit/followup.
        """
        g, options = self.guild(guild), dict(options or {})
        words = name.split()
        cmd = next(
            (c for c in self.commands.get(g.id, []) + self.commands.get(None, []) if c["name"] == words[0]),
            None,
        )
        if cmd is None:
            known = [c["name"] for c in self.commands.get(g.id, []) + self.commands.get(None, [])]
            raise LookupError(f"/{words[0]} is not synced (known: {known})")
        schema: list[Json] = cmd.get("options", [])
        top: list[Json] = []
        container, resolved = top, cast(Json, {})
        for word in words[1:]:
            sub = next((o for o in schema if o["name"] == word and o["type"] in (1, 2)), None)
            if sub is None:
                raise LookupError(f"/{name}: no subcommand {word!r}")
            node: Json = {"name": word, "type": sub["type"], "options": []}
            container.append(node)
            container, schema = node["options"], sub.get("options", [])
        if any(o["type"] in (1, 2) for o in schema):
            raise ValueError(f"/{name} needs a subcommand: {[o['name'] for o in schema]}")
        for key, value in options.items():
            spec = next((o for o in schema if o["name"] == key), None)
            if spec is None:
                raise LookupError(f"/{name} has no option {key!r} (has {[o['name'] for o in schema]})")
            container.append(
                {
                    "name": key,
                    "type": spec["type"],
                    "value": self._option_value(g, spec["type"], value, resolved),
                }
            )
        missing = [o["name"] for o in schema if o.get("required") and o["name"] not in options]
        if missing:
            raise ValueError(f"/{name}: missing required options {missing}")
        data: Json = {"id": cmd["id"], "name": cmd["name"], "type": 1, "options": top}
        if resolved:
            data["resolved"] = resolved
        if "guild_id" in cmd:
            data["guild_id"] = cmd["guild_id"]
        return await self._interact(
            2, data, self._chan(channel), self.user(member), None, timeout, wait_deferred, locale
        )

    async def invoke_component(
        self,
        message: Json,
        custom_id: str,
        member: UserRef,
        *,
        values: list[Any] | None = None,
        timeout: float = 10.0,
        wait_deferred: bool = True,
    ) -> InteractionResult:
        """Click a button / pick select ``values`` on a recorded message as ``member``."""
        comp = _find_component(message.get("components") or [], custom_id)
        if comp is None:
            raise LookupError(f"no component {custom_id!r} on message {message['id']}")
        data: Json = {"custom_id": custom_id, "component_type": comp["type"]}
        ch = self._chan(int(message["channel_id"]))
        if comp["type"] in (3, 5, 6, 7, 8):
            resolved: Json = {}
            opt_type = {3: 3, 5: 6, 6: 8, 7: 9, 8: 7}[comp["type"]]
            g = self.guilds.get(ch.guild_id or 0)
            data["values"] = [self._option_value(g, opt_type, v, resolved) for v in values or []]
            if resolved:
                data["resolved"] = resolved
        return await self._interact(3, data, ch, self.user(member), message, timeout, wait_deferred, "en-US")

    async def submit_modal(
        self,
        shown: InteractionResult,
        values: dict[str, Any],
        member: UserRef | None = None,
        *,
        timeout: float = 10.0,
        wait_deferred: bool = True,
    ) -> InteractionResult:
        """Submit the modal the bot showed in ``shown`` with ``values`` keyed by custom_id: a string for
        a text input, a list of strings (or one string) for a select. A control left out sends what it
        showed: the text input's pre-filled value, the select's pre-selected options. Select values go
        as given, unchecked against the options, so a test can send what a modified client could."""
        modal = shown.modal
        if modal is None:
            raise ValueError("that interaction was not answered with a modal")

        def fill(c: Json) -> Json:
            if c["type"] == 1:
                return {"type": 1, "components": [fill(x) for x in c["components"]]}
            if c["type"] == 18:
                return {"type": 18, "component": fill(c["component"])}
            key = c.get("custom_id", "")
            if c["type"] == 4:
                return {"type": 4, "custom_id": key, "value": values.get(key, c.get("value", ""))}
            shown_picks = [o["value"] for o in c.get("options") or [] if o.get("default")]
            picked: Any = values.get(key, shown_picks)
            return {
                "type": c["type"],
                "custom_id": key,
                "values": [picked] if isinstance(picked, str) else [str(x) for x in picked],
            }

        data = {"custom_id": modal["custom_id"], "components": [fill(c) for c in modal["components"]]}
        user = self.user(member) if member is not None else self._actor_of(shown.payload)
        ch = self._chan(int(shown.payload["channel_id"]))
        return await self._interact(
            5, data, ch, user, shown.payload.get("message"), timeout, wait_deferred, "en-US"
        )

    def post_user_message(self, channel: FakeChannel | int, author: UserRef, content: str) -> Json:
        """Simulate a user writing in a channel (MESSAGE_CREATE to the bot)."""
        ch, user = self._chan(channel), self.user(author)
        msg = self._store_message(ch, {"content": content}, user)
        event = dict(msg)
        if ch.guild_id:
            event["member"] = {
                k: v for k, v in self.member(ch.guild_id, user).payload().items() if k != "user"
            }
        self._emit("MESSAGE_CREATE", event)
        return msg

    def force_reconnect(self, resume: bool = True) -> None:
        """Ask the bot to reconnect: op 7 (it will RESUME) or op 9 (it will re-IDENTIFY)."""
        if self._conn is not None:
            self._conn.send(7 if resume else 9, None if resume else False)

    @property
    def gateway_down(self) -> bool:
        """An outage: setting it True drops the bot's gateway connection (close code 4000, which
        discord.py reconnects after) and refuses new ones (HTTP 503 before the websocket handshake,
        counted in ``gateway_refused``); discord.py retries with exponential backoff (up to 2, 4,
        8, ... s). Setting it False lets the next attempt connect and RESUME."""
        return self._gateway_down

    @gateway_down.setter
    def gateway_down(self, down: bool) -> None:
        self._gateway_down = down
        if down and self._conn is not None:
            conn, self._conn = self._conn, None
            task = asyncio.get_running_loop().create_task(
                conn.ws.close(code=4000, message=b"gateway unavailable")
            )
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)

    def drop_gateway(self, resume: bool = True) -> None:
        """Cut the gateway connection as a network failure does: no close frame, the TCP connection
        just ends (discord.py sees 1006 and reconnects). With ``resume`` the session survives and the
        bot's RESUME replays every event it missed (counted in ``resumes``); without, the session is
        gone: its RESUME gets op 9, it IDENTIFYs again, and events sent while it was away are lost."""
        conn, self._conn = self._conn, None
        if not resume:
            self._session_id = uuid.uuid4().hex  # a session nobody knows: RESUME is refused
        if conn is not None and conn.transport is not None:
            conn.transport.abort()

    def _actor_of(self, payload: Json) -> FakeUser:
        raw = payload["member"]["user"] if "member" in payload else payload["user"]
        return self.users[int(raw["id"])]

    def _chan(self, ref: FakeChannel | int) -> FakeChannel:
        return ref if isinstance(ref, FakeChannel) else self.channels[int(ref)]

    def _option_value(self, g: FakeGuild | None, kind: int, value: Any, resolved: Json) -> Any:
        """Encode one option value like Discord does, filling ``resolved`` for entity types."""
        if kind == 4:
            return int(value)
        if kind == 5:
            return bool(value)
        if kind == 10:
            return float(value)
        if g is not None and (
            kind == 8
            or (kind == 9 and (isinstance(value, FakeRole) or (isinstance(value, int) and value in g.roles)))
        ):
            role = self._role(g, value)
            resolved.setdefault("roles", {})[str(role.id)] = role.payload()
            return str(role.id)
        if kind in (6, 9):
            user = self.user(value)
            resolved.setdefault("users", {})[str(user.id)] = user.payload()
            if g is not None and user.id in g.members:
                m = {k: v for k, v in g.members[user.id].payload().items() if k != "user"}
                resolved.setdefault("members", {})[str(user.id)] = {
                    **m,
                    "permissions": str(self.permissions(g, user)),
                }
            return str(user.id)
        if kind == 7:
            ch = g.channel(value) if isinstance(value, str) and g else self._chan(value)
            perms = str(self.permissions(ch.guild_id, self.bot_user)) if ch.guild_id else "0"
            resolved.setdefault("channels", {})[str(ch.id)] = {**ch.payload(), "permissions": perms}
            return str(ch.id)
        if kind == 11:
            filename, blob = value
            att = self._attachment(filename, blob, None)
            resolved.setdefault("attachments", {})[att["id"]] = att
            return att["id"]
        return value if kind == 3 and isinstance(value, str) else str(value)

    async def _interact(
        self,
        kind: int,
        data: Json,
        ch: FakeChannel,
        user: FakeUser,
        message: Json | None,
        timeout: float,
        wait_deferred: bool,
        locale: str,
    ) -> InteractionResult:
        if self._conn is None or not self.ready_count:
            raise RuntimeError("the bot is not connected to the fake gateway")
        iid, token = self.next_id(), "itoken-" + secrets.token_urlsafe(16)
        payload: Json = {
            "id": str(iid),
            "application_id": str(self.application_id),
            "type": kind,
            "data": data,
            "token": token,
            "version": 1,
            "locale": locale,
            "entitlements": [],
            "attachment_size_limit": 10 * 1024 * 1024,
            "channel_id": str(ch.id),
        }
        if ch.guild_id is not None:
            g = self.guilds[ch.guild_id]
            payload.update(
                guild_id=str(g.id),
                guild={"id": str(g.id), "locale": "en-US", "features": []},
                guild_locale="en-US",
                context=0,
                authorizing_integration_owners={"0": str(g.id)},
                app_permissions=str(self.permissions(g, self.bot_user)),
                channel={**ch.payload(), "permissions": str(self.permissions(g, user))},
                member={**g.members[user.id].payload(), "permissions": str(self.permissions(g, user))},
            )
        else:
            payload.update(
                user=user.payload(),
                context=1,
                channel=ch.payload(),
                app_permissions=str(ALL_PERMISSIONS),
                authorizing_integration_owners={"0": "0"},
            )
        if message is not None:
            payload["message"] = message
        result = InteractionResult(iid, token, payload, time.monotonic())
        self._interactions[token] = result
        self._emit("INTERACTION_CREATE", payload)
        start = time.monotonic()
        what = f"an answer to interaction {data.get('name') or data.get('custom_id')!r}"
        await self.wait_until(lambda: result.type is not None or result.rejected, timeout, what)
        if wait_deferred and result.type in (5, 6):
            remaining = max(0.0, timeout - (time.monotonic() - start))
            try:
                await self.wait_until(
                    lambda: result.edits or result.followups, remaining, "deferred completion"
                )
            except TimeoutError:
                pass
        return result

    # ------------------------------------------------------------------ gateway
    def _emit(self, event: str, data: Json) -> None:
        """Send a DISPATCH to the bot (buffered for RESUME; serialized now so later edits don't leak)."""
        self._seq += 1
        text = json.dumps({"op": 0, "t": event, "s": self._seq, "d": data})
        self._backlog.append((self._seq, text))
        if self._conn is not None:
            self._conn.queue.put_nowait(text)

    def _emit_if_ready(self, event: str, data: Json) -> None:
        if self._session_id is not None:
            self._emit(event, data)

    async def _h_gateway(self, request: web.Request) -> web.WebSocketResponse:
        if self._gateway_down:
            self.gateway_refused += 1
            raise web.HTTPServiceUnavailable(text="gateway unavailable")
        ws = web.WebSocketResponse(max_msg_size=0)
        await ws.prepare(request)
        # discord.py asks for compress=zlib-stream (or zstd-stream when zstd is importable). zlib is honoured;
        # for anything else we send text frames, which discord.py always accepts uncompressed.
        conn = _Conn(ws, request.query.get("compress") == "zlib-stream")
        conn.transport = request.transport
        self.gateway_connections += 1
        writer = asyncio.create_task(self._writer(conn))
        conn.send(10, {"heartbeat_interval": self.heartbeat_interval_ms})
        try:
            async for msg in ws:
                if msg.type in (WSMsgType.TEXT, WSMsgType.BINARY):
                    await self._on_op(conn, json.loads(msg.data))
        finally:
            writer.cancel()
            if self._conn is conn:
                self._conn = None
        return ws

    async def _writer(self, conn: _Conn) -> None:
        try:
            while True:
                text = await conn.queue.get()
                if conn.zlib is not None:
                    await conn.ws.send_bytes(
                        conn.zlib.compress(text.encode()) + conn.zlib.flush(zlib.Z_SYNC_FLUSH)
                    )
                else:
                    await conn.ws.send_str(text)
        except (ConnectionError, RuntimeError):
            pass

    async def _on_op(self, conn: _Conn, frame: Json) -> None:
        op, d = frame.get("op"), cast(Any, frame.get("d"))
        if op == 1:
            conn.send(11, None)
        elif op == 2:
            if self.token is not None and d.get("token") != self.token:
                await conn.ws.close(code=4004, message=b"Authentication failed.")
                return
            if not self.members_intent_allowed and int(d.get("intents") or 0) & GUILD_MEMBERS_INTENT:
                await conn.ws.close(code=4014, message=b"Disallowed intent(s).")
                return
            self.identify_payload, self._conn = d, conn
            self._session_id, self._seq = uuid.uuid4().hex, 0
            self._backlog.clear()
            ready: Json = {
                "v": 10,
                "user": {**self.bot_user.payload(), "verified": True, "mfa_enabled": False},
                "guilds": [{"id": str(g), "unavailable": True} for g in self.guilds],
                "session_id": self._session_id,
                "resume_gateway_url": self.gateway_url,
                "application": {"id": str(self.application_id), "flags": 0},
                "session_type": "normal",
                "private_channels": [],
                "relationships": [],
                "presences": [],
                "user_settings": {},
            }
            if "shard" in d:
                ready["shard"] = d["shard"]
            self._emit("READY", ready)
            for g in self.guilds.values():
                self._emit("GUILD_CREATE", g.payload(full=True))
            self.ready_count += 1
        elif op == 6:
            if d.get("session_id") != self._session_id or (
                self.token is not None and d.get("token") != self.token
            ):
                conn.send(9, False)
                return
            self._conn = conn
            self.resumes += 1
            for seq, text in list(self._backlog):
                if seq > (d.get("seq") or 0):
                    conn.queue.put_nowait(text)
            self._emit("RESUMED", {})
        elif op == 8:
            guild = self.guilds.get(int(d["guild_id"]))
            members = list(guild.members.values()) if guild else []
            if d.get("user_ids"):
                ids = {
                    int(u) for u in (d["user_ids"] if isinstance(d["user_ids"], list) else [d["user_ids"]])
                }
                members = [m for m in members if m.id in ids]
            elif d.get("query"):
                members = [m for m in members if m.user.username.lower().startswith(d["query"].lower())]
            limit = d.get("limit") or len(members)
            self._emit(
                "GUILD_MEMBERS_CHUNK",
                {
                    "guild_id": d["guild_id"],
                    "members": [m.payload() for m in members[:limit]],
                    "chunk_index": 0,
                    "chunk_count": 1,
                    "nonce": d.get("nonce"),
                    "not_found": [],
                },
            )
        elif op == 3:
            self.presence = d

    # ------------------------------------------------------------------ REST plumbing
    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except web.HTTPException as exc:  # aiohttp found no route: answer like Discord and record it
            if not request.path.startswith(API) or exc.status not in (404, 405):
                raise
            return await self._serve(request, None)

    def _wrap(self, handler: Callable[[web.Request, Any], Any]) -> Handler:
        async def route(request: web.Request) -> web.StreamResponse:
            return await self._serve(request, handler)

        return route

    async def _serve(
        self, request: web.Request, handler: Callable[[web.Request, Any], Any] | None
    ) -> web.StreamResponse:
        """Rate limit, auth, parse the body, run the handler (data -> JSON, None -> 204), record."""
        path, body = request.path[len(API) :], None
        try:
            self._check_rate_limit(path)
            interaction_route = path.startswith(("/webhooks/", "/interactions/"))
            if (
                self.token is not None
                and not interaction_route
                and request.headers.get("Authorization") != f"Bot {self.token}"
            ):
                raise _ApiError(401, 0, "401: Unauthorized")
            if handler is None:
                raise _ApiError(404, 0, "404: Not Found")
            body = await self._read_body(request)
            self._check_schema(request, path, body)
            out = handler(request, body)
            out = await out if inspect.isawaitable(out) else out
            resp = web.Response(status=204) if out is None else _json(out)
        except _ApiError as exc:
            resp = exc.response()
        except Exception as exc:  # a bug or an unexpected body: fail fast (discord.py retries 5xx slowly)
            resp = _ApiError(
                400, 0, f"fake_discord could not handle {request.method} {path}: {exc!r}"
            ).response()
        self.requests.append(
            RequestRecord(request.method, path, resp.status, body, dict(request.query), handler is None)
        )
        return resp

    def _check_schema(self, request: web.Request, path: str, body: Any) -> None:
        """Refuse, as Discord does (400, 50035), a body that Discord's own OpenAPI schema refuses, and
        record it in ``schema_violations`` (the e2e tests fail on any)."""
        if not self.validate_schema:
            return
        problems = request_problems(request.method, path, request.get(RAW_BODY, body))
        if problems:
            self.schema_violations.extend(problems)
            raise _ApiError(400, 50035, "Invalid Form Body", {"_errors": [{"message": p} for p in problems]})

    def _check_rate_limit(self, path: str) -> None:
        """Global limit (interaction/webhook routes are exempt, like on Discord)."""
        if not self.rate_limit_per_second or path.startswith(("/webhooks/", "/interactions/")):
            return
        now = time.monotonic()
        while self._window and now - self._window[0] >= 1.0:
            self._window.popleft()
        if len(self._window) >= self.rate_limit_per_second:
            retry = round(max(0.001, 1.0 - (now - self._window[0])), 3)
            headers = {
                "Retry-After": str(max(1, round(retry))),
                "X-RateLimit-Global": "true",
                "X-RateLimit-Scope": "global",
                "Via": "1.1 google",
            }  # discord.py treats a 429 without Via as a Cloudflare ban
            raise _ApiError(
                429,
                0,
                "You are being rate limited.",
                headers=headers,
                extra={"retry_after": retry, "global": True},
            )
        self._window.append(now)

    async def _read_body(self, request: web.Request) -> Any:
        if request.content_type.startswith("multipart/"):
            payload: Json = {}
            uploads: dict[int, tuple[str, bytes, str | None]] = {}
            async for part in await request.multipart():
                if not isinstance(part, BodyPartReader):
                    continue
                if part.name == "payload_json":
                    payload = json.loads(await part.text())
                    request[RAW_BODY] = copy.deepcopy(payload)  # as sent, for the schema check
                elif part.name and part.name.startswith("files["):
                    blob = bytes(await part.read())
                    uploads[int(part.name[6:-1])] = (
                        part.filename or "file",
                        blob,
                        part.headers.get("Content-Type"),
                    )
            # interaction callbacks nest the message under "data"
            target = (
                payload["data"] if isinstance(payload.get("data"), dict) and "type" in payload else payload
            )
            atts = target.get("attachments") or [{"id": i} for i in uploads]
            target["attachments"] = [
                self._attachment(*uploads[int(a["id"])])
                if str(a.get("id")).isdigit() and int(a["id"]) in uploads
                else a
                for a in atts
            ]
            return payload
        if request.can_read_body:
            text = await request.text()
            return json.loads(text) if text else None
        return None

    def _attachment(self, filename: str, blob: bytes, content_type: str | None) -> Json:
        aid = self.next_id()
        self.files[aid] = blob
        url = f"http://127.0.0.1:{self.port}/attachments/{aid}/{filename}"
        return {
            "id": str(aid),
            "filename": filename,
            "size": len(blob),
            "url": url,
            "proxy_url": url,
            "content_type": content_type or "application/octet-stream",
        }

    async def _h_attachment(self, request: web.Request) -> web.Response:
        blob = self.files.get(int(request.match_info["aid"]))
        return web.Response(body=blob) if blob is not None else web.Response(status=404)

    def _routes(self) -> list[tuple[str, str, Callable[[web.Request, Any], Any]]]:
        app, gm = "/applications/{app}", "/guilds/{gid}/members/{uid}"
        return [
            ("GET", "/users/@me", self._h_me),
            ("POST", "/users/@me/channels", self._h_open_dm),
            (
                "GET",
                "/users/{uid}",
                lambda r, b: self._find(self.users, r, "uid", 10013, "Unknown User").payload(),
            ),
            ("GET", "/gateway", lambda r, b: {"url": self.gateway_url}),
            ("GET", "/gateway/bot", self._h_gateway_bot),
            ("GET", "/applications/@me", self._h_app_info),
            ("GET", "/oauth2/applications/@me", self._h_app_info),  # what discord.py's login actually calls
            ("PUT", app + "/commands", self._h_put_commands),
            ("GET", app + "/commands", lambda r, b: self.commands.get(None, [])),
            ("PUT", app + "/guilds/{gid}/commands", self._h_put_commands),
            ("GET", app + "/guilds/{gid}/commands", lambda r, b: self.commands.get(self._g(r).id, [])),
            ("POST", "/interactions/{iid}/{token}/callback", self._h_callback),
            ("POST", "/webhooks/{app}/{token}", self._h_followup),
            ("GET", "/webhooks/{app}/{token}/messages/{mid}", self._h_webhook_message),
            ("PATCH", "/webhooks/{app}/{token}/messages/{mid}", self._h_webhook_message),
            ("DELETE", "/webhooks/{app}/{token}/messages/{mid}", self._h_webhook_message),
            ("GET", "/channels/{cid}", lambda r, b: self._c(r).payload()),
            ("DELETE", "/channels/{cid}", self._h_delete_channel),
            ("PATCH", "/channels/{cid}", self._h_edit_channel),
            ("PUT", "/channels/{cid}/permissions/{oid}", self._h_channel_permission),
            ("DELETE", "/channels/{cid}/permissions/{oid}", self._h_channel_permission),
            ("POST", "/channels/{cid}/typing", lambda r, b: None),
            ("GET", "/channels/{cid}/messages", self._h_history),
            ("POST", "/channels/{cid}/messages", self._h_send),
            ("GET", "/channels/{cid}/messages/{mid}", lambda r, b: self._msg(r)),
            ("PATCH", "/channels/{cid}/messages/{mid}", self._h_edit),
            ("DELETE", "/channels/{cid}/messages/{mid}", self._h_delete),
            ("POST", "/channels/{cid}/messages/{mid}/threads", self._h_thread_from_message),
            ("POST", "/channels/{cid}/threads", self._h_start_thread),
            ("GET", "/guilds/{gid}/threads/active", self._h_active_threads),
            ("GET", "/guilds/{gid}", lambda r, b: self._g(r).payload()),
            (
                "GET",
                "/guilds/{gid}/channels",
                lambda r, b: [c.payload() for c in self._g(r).channels.values()],
            ),
            ("POST", "/guilds/{gid}/channels", self._h_create_channel),
            ("GET", "/guilds/{gid}/roles", lambda r, b: [x.payload() for x in self._g(r).roles.values()]),
            ("POST", "/guilds/{gid}/roles", self._h_create_role),
            ("PATCH", "/guilds/{gid}/roles/{rid}", self._h_edit_role),
            ("GET", "/guilds/{gid}/members", self._h_list_members),
            ("GET", gm, lambda r, b: self._m(r).payload()),
            ("PATCH", gm, self._h_edit_member),
            ("PUT", gm + "/roles/{rid}", self._h_member_role),
            ("DELETE", gm + "/roles/{rid}", self._h_member_role),
            ("GET", "/guilds/{gid}/scheduled-events", self._h_list_events),
            ("POST", "/guilds/{gid}/scheduled-events", self._h_create_event),
            ("GET", "/guilds/{gid}/scheduled-events/{eid}", lambda r, b: self._event(r)),
            ("PATCH", "/guilds/{gid}/scheduled-events/{eid}", self._h_edit_event),
            ("DELETE", "/guilds/{gid}/scheduled-events/{eid}", self._h_delete_event),
        ]

    # lookups that raise Discord-style 404s
    def _find(self, table: dict[int, T], r: web.Request, key: str, code: int, what: str) -> T:
        raw = r.match_info[key]
        if not raw.isdigit() or int(raw) not in table:
            raise _ApiError(404, code, what)
        return table[int(raw)]

    def _g(self, r: web.Request) -> FakeGuild:
        return self._find(self.guilds, r, "gid", 10004, "Unknown Guild")

    def _c(self, r: web.Request) -> FakeChannel:
        return self._find(self.channels, r, "cid", 10003, "Unknown Channel")

    def _m(self, r: web.Request) -> FakeMember:
        return self._find(self._g(r).members, r, "uid", 10007, "Unknown Member")

    def _msg(self, r: web.Request) -> Json:
        msg = self._find(self._messages, r, "mid", 10008, "Unknown Message")
        if msg["channel_id"] != str(self._c(r).id):
            raise _ApiError(404, 10008, "Unknown Message")
        return msg

    # ------------------------------------------------------------------ REST: app, commands
    def _h_me(self, r: web.Request, body: Any) -> Json:
        return {**self.bot_user.payload(), "verified": True, "mfa_enabled": False}

    def _h_gateway_bot(self, r: web.Request, body: Any) -> Json:
        limit = {"total": 1000, "remaining": 999, "reset_after": 0, "max_concurrency": 1}
        return {"url": self.gateway_url, "shards": 1, "session_start_limit": limit}

    async def _h_app_info(self, r: web.Request, body: Any) -> Any:
        return {
            "id": str(self.application_id),
            "name": self.bot_user.username,
            "description": "",
            "icon": None,
            "bot_public": False,
            "bot_require_code_grant": False,
            "owner": self.owner.payload(),
            "verify_key": "0" * 64,
            "flags": 0,
            "team": None,
            "bot": self.bot_user.payload(),
        }

    async def _h_put_commands(self, r: web.Request, body: Any) -> Any:
        if r.match_info["app"] != str(self.application_id):
            raise _ApiError(403, 50001, "Missing Access")
        scope = self._g(r).id if "gid" in r.match_info else None
        body = body or []
        _validate_commands(body)
        old = {(c["name"], c["type"]): c["id"] for c in self.commands.get(scope, [])}
        out = []
        for c in body:
            kind = c.get("type", 1)
            cmd = {
                "options": [],
                "default_member_permissions": None,
                "nsfw": False,
                "description": "",
                **c,
                "id": old.get((c["name"], kind)) or str(self.next_id()),
                "application_id": str(self.application_id),
                "version": str(self.next_id()),
                "type": kind,
            }
            if scope is not None:
                cmd["guild_id"] = str(scope)
            out.append(cmd)
        self.commands[scope] = out
        return out

    # ------------------------------------------------------------------ REST: interactions
    def _interaction(
        self, r: web.Request, code: int = 10015, what: str = "Unknown Webhook"
    ) -> InteractionResult:
        it = self._interactions.get(r.match_info["token"])
        if it is None or ("iid" in r.match_info and r.match_info["iid"] != str(it.id)):
            raise _ApiError(404, code, what)
        return it

    def _interaction_extras(self, it: InteractionResult) -> Json:
        user = self._actor_of(it.payload)
        return {
            "type": 20 if it.payload["type"] == 2 else 0,
            "webhook_id": str(self.application_id),
            "application_id": str(self.application_id),
            "interaction_metadata": {
                "id": str(it.id),
                "type": it.payload["type"],
                "user": user.payload(),
                "authorizing_integration_owners": it.payload["authorizing_integration_owners"],
            },
        }

    async def _h_callback(self, r: web.Request, body: Any) -> Any:
        it = self._interaction(r, 10062, "Unknown interaction")
        body = body or {}
        if (
            self.interaction_deadline is not None
            and time.monotonic() - it.created > self.interaction_deadline
        ):
            it.rejected.append((10062, body))
            raise _ApiError(404, 10062, "Unknown interaction")
        if it.type is not None:
            it.rejected.append((40060, body))
            raise _ApiError(400, 40060, "Interaction has already been acknowledged.")
        kind, data = int(body["type"]), body.get("data") or {}
        ch = self.channels[int(it.payload["channel_id"])]
        source = it.payload.get("message")
        msg: Json | None = None
        if kind == 4:
            msg = self._store_message(ch, data, self.bot_user, **self._interaction_extras(it))
        elif kind == 5:
            flags = int(data.get("flags") or 0) & EPHEMERAL | LOADING
            msg = self._store_message(
                ch, {"flags": flags}, self.bot_user, check=False, **self._interaction_extras(it)
            )
        elif kind in (6, 7) and source is not None:
            msg = self._messages.get(int(source["id"])) or source
            if kind == 7:
                _apply_edit(msg, data)
                self._emit("MESSAGE_UPDATE", msg)
        it.type, it.data, it.original = kind, data, msg
        if kind in (4, 5) and msg is not None and not msg["flags"] & EPHEMERAL:
            self._emit("MESSAGE_CREATE", msg)
        if "with_response" not in r.query:
            return None
        info: Json = {
            "id": str(it.id),
            "type": it.payload["type"],
            "response_message_loading": kind == 5,
            "response_message_ephemeral": bool(msg and msg["flags"] & EPHEMERAL),
        }
        out: Json = {"interaction": info}
        if msg is not None:
            info["response_message_id"] = msg["id"]
            out["resource"] = {"type": kind, "message": msg}
        return out

    async def _h_followup(self, r: web.Request, body: Any) -> Any:
        it = self._interaction(r)
        body = body or {}
        orig = it.original
        if (
            it.type == 5 and orig is not None and orig["flags"] & LOADING
        ):  # first followup after defer edits the "thinking" message
            _validate_message(body)
            _apply_edit(orig, body)
            it.edits += 1
            msg = orig
        else:
            ch = self.channels[int(it.payload["channel_id"])]
            msg = self._store_message(ch, body, self.bot_user, **self._interaction_extras(it))
            it.followups.append(msg)
            if not msg["flags"] & EPHEMERAL:
                self._emit("MESSAGE_CREATE", msg)
        return msg if r.query.get("wait") in ("1", "true", "True") else None

    async def _h_webhook_message(self, r: web.Request, body: Any) -> Any:
        it = self._interaction(r)
        mid = r.match_info["mid"]
        candidates = it.messages
        msg = (
            candidates[0]
            if mid == "@original" and it.original
            else next((m for m in candidates if m["id"] == mid), None)
        )
        if msg is None or int(msg["id"]) not in self._messages:
            raise _ApiError(404, 10008, "Unknown Message")
        if r.method == "PATCH":
            _apply_edit(msg, body or {})
            it.edits += msg is it.original
            self._emit("MESSAGE_UPDATE", msg)
        elif r.method == "DELETE":
            return self._delete_message(msg)
        return msg

    # ------------------------------------------------------------------ REST: messages, channels
    def _store_message(
        self, ch: FakeChannel, body: Json, author: FakeUser, check: bool = True, **extra: Any
    ) -> Json:
        if check:
            _validate_message(body)
        msg: Json = {
            "id": str(self.next_id()),
            "channel_id": str(ch.id),
            "author": author.payload(),
            "content": body.get("content") or "",
            "embeds": body.get("embeds") or [],
            "components": body.get("components") or [],
            "attachments": body.get("attachments") or [],
            "mentions": [],
            "mention_roles": [],
            "mention_everyone": False,
            "pinned": False,
            "tts": bool(body.get("tts")),
            "timestamp": _now_iso(),
            "edited_timestamp": None,
            "type": 0,
            "flags": int(body.get("flags") or 0),
        }
        if ch.guild_id is not None:
            msg["guild_id"] = str(ch.guild_id)
        for key in ("nonce", "message_reference"):
            if body.get(key) is not None:
                msg[key] = body[key]
        msg.update(extra)
        self._messages[int(msg["id"])] = msg
        return msg

    def _delete_message(self, msg: Json) -> None:
        self.deleted_messages.append(self._messages.pop(int(msg["id"])))
        event = {
            "id": msg["id"],
            "channel_id": msg["channel_id"],
            **({"guild_id": msg["guild_id"]} if "guild_id" in msg else {}),
        }
        self._emit("MESSAGE_DELETE", event)
        return None

    async def _h_send(self, r: web.Request, body: Any) -> Any:
        fault = self.faults.draw() if self.faults is not None else None
        if fault is None:
            return self._send(r, body)
        assert self.faults is not None
        kind, stored = fault
        if kind == "hang":
            if not stored:
                await self.faults.hang()
                return self._send(r, body)
            msg = self._send(r, body)
            await self.faults.hang()
            return msg
        if stored:
            self._send(r, body)
        raise _ApiError(int(kind), 0, f"{kind}: injected by RestFaults")

    def _send(self, r: web.Request, body: Any) -> Json:
        ch, body = self._c(r), body or {}
        if ch.type == 1 and ch.recipient is not None and ch.recipient.id in self.dm_closed:
            raise _ApiError(403, 50007, "Cannot send messages to this user")
        key = (self.bot_user.id, ch.id, str(body.get("nonce")))
        if body.get("nonce") is not None and body.get("enforce_nonce"):
            seen = self._nonces.get(key)
            if seen and time.monotonic() - seen[0] < self.nonce_window:
                self.nonce_repeats += 1  # dropped: the message shows once
                return seen[1]
        msg = self._store_message(ch, body, self.bot_user)
        if body.get("nonce") is not None and body.get("enforce_nonce"):
            self._nonces[key] = (time.monotonic(), msg)
        self._emit("MESSAGE_CREATE", msg)
        return msg

    async def _h_edit(self, r: web.Request, body: Any) -> Any:
        msg = self._msg(r)
        if msg["author"]["id"] != str(self.bot_user.id):
            raise _ApiError(403, 50005, "Cannot edit a message authored by another user")
        _apply_edit(msg, body or {})
        self._emit("MESSAGE_UPDATE", msg)
        return msg

    async def _h_delete(self, r: web.Request, body: Any) -> Any:
        return self._delete_message(self._msg(r))

    async def _h_history(self, r: web.Request, body: Any) -> Any:
        msgs = self.messages(self._c(r))
        q = r.query
        if "after" in q:
            msgs = [m for m in msgs if int(m["id"]) > int(q["after"])][: int(q.get("limit", 50))]
        else:
            if "before" in q:
                msgs = [m for m in msgs if int(m["id"]) < int(q["before"])]
            msgs = msgs[::-1][: int(q.get("limit", 50))]
        return msgs

    async def _h_open_dm(self, r: web.Request, body: Any) -> Any:
        user = self.users.get(int((body or {}).get("recipient_id", 0)))
        if user is None:
            raise _ApiError(400, 50033, "Invalid Recipient(s)")
        ch = self._dm_channels.get(user.id)
        if ch is None:
            ch = FakeChannel(self.next_id(), user.username, 1, recipient=user)
            self._dm_channels[user.id] = self.channels[ch.id] = ch
        return ch.payload()

    async def _h_create_channel(self, r: web.Request, body: Any) -> Any:
        g, body = self._g(r), body or {}
        parent = self.channels.get(int(body["parent_id"])) if body.get("parent_id") else None
        overwrites = body.get("permission_overwrites") or []
        for o in overwrites:
            self._overwrite_target(g, int(o["id"]), int(o.get("type") or 0))
        ch = self.add_channel(
            g,
            body["name"],
            type=int(body.get("type") or 0),
            parent=parent,
            topic=body.get("topic"),
            overwrites=overwrites,
        )
        return ch.payload()

    def _overwrite_target(self, g: FakeGuild, target_id: int, kind: int) -> None:
        """Refuse an overwrite for a role or member the guild does not have, as Discord does."""
        if kind == 0 and target_id not in g.roles:
            raise _ApiError(404, 10011, "Unknown Role")
        if kind == 1 and target_id not in g.members:
            raise _ApiError(404, 10007, "Unknown Member")

    async def _h_edit_channel(self, r: web.Request, body: Any) -> Any:
        ch, body = self._c(r), body or {}
        if ch.guild_id is None:
            raise _ApiError(403, 50003, "Cannot execute action on a DM channel")
        g = self.guilds[ch.guild_id]
        if "permission_overwrites" in body:
            overwrites = body["permission_overwrites"] or []
            for o in overwrites:
                self._overwrite_target(g, int(o["id"]), int(o.get("type") or 0))
            ch.overwrites = []
            for o in overwrites:
                self._put_overwrite(ch, *_overwrite_fields(o))
        for key in ("name", "topic", "position", "archived", "auto_archive_duration"):
            if key in body:
                setattr(ch, key, body[key])
        if "parent_id" in body:
            ch.parent_id = int(body["parent_id"]) if body["parent_id"] else None
        self._emit("THREAD_UPDATE" if ch.type == 11 else "CHANNEL_UPDATE", ch.payload())
        return ch.payload()

    async def _h_channel_permission(self, r: web.Request, body: Any) -> Any:
        ch, body = self._c(r), body or {}
        if ch.guild_id is None:
            raise _ApiError(403, 50003, "Cannot execute action on a DM channel")
        raw = r.match_info["oid"]
        if not raw.isdigit():
            raise _ApiError(404, 10009, "Unknown Overwrite")
        if r.method == "PUT":
            kind = int(body.get("type") or 0)
            self._overwrite_target(self.guilds[ch.guild_id], int(raw), kind)
            self._put_overwrite(ch, int(raw), kind, int(body.get("allow") or 0), int(body.get("deny") or 0))
        else:
            if ch.overwrite(int(raw)) is None:
                raise _ApiError(404, 10009, "Unknown Overwrite")
            ch.overwrites = [o for o in ch.overwrites if o["id"] != raw]
        self._emit("CHANNEL_UPDATE", ch.payload())
        return None

    async def _h_delete_channel(self, r: web.Request, body: Any) -> Any:
        ch = self._c(r)
        self.channels.pop(ch.id)
        if ch.guild_id is not None:
            self.guilds[ch.guild_id].channels.pop(ch.id, None)
            self._emit("CHANNEL_DELETE", ch.payload())
        return ch.payload()

    # ------------------------------------------------------------------ REST: scheduled events
    MANAGE_EVENTS = 1 << 33

    def events(self, guild: FakeGuild | int) -> list[Json]:
        """The guild's scheduled events (any status), by start time."""
        gid = str(self.guild(guild).id)
        found = [e for e in self.scheduled_events.values() if e["guild_id"] == gid]
        return sorted(found, key=lambda e: (e["scheduled_start_time"], int(e["id"])))

    def _event(self, r: web.Request) -> Json:
        event = self._find(self.scheduled_events, r, "eid", 10070, "Unknown Guild Scheduled Event")
        if event["guild_id"] != str(self._g(r).id):
            raise _ApiError(404, 10070, "Unknown Guild Scheduled Event")
        return event

    def _require_manage_events(self, g: FakeGuild) -> None:
        if not self.permissions(g, self.bot_user) & self.MANAGE_EVENTS:
            raise _ApiError(403, 50013, "Missing Permissions (Manage Events)")

    @staticmethod
    def _check_external(event: Json) -> None:
        if event["entity_type"] == 3 and not (
            (event.get("entity_metadata") or {}).get("location") and event.get("scheduled_end_time")
        ):
            raise _form_error("entity_metadata", "An external event needs a location and an end time")

    async def _h_list_events(self, r: web.Request, body: Any) -> Any:
        return self.events(self._g(r))

    async def _h_create_event(self, r: web.Request, body: Any) -> Any:
        g = self._g(r)
        self._require_manage_events(g)
        body = body or {}
        eid = self.next_id()
        event: Json = {
            "id": str(eid),
            "guild_id": str(g.id),
            "channel_id": body.get("channel_id"),
            "creator_id": str(self.bot_user.id),
            "creator": self.bot_user.payload(),
            "name": body.get("name"),
            "description": body.get("description"),
            "scheduled_start_time": body.get("scheduled_start_time"),
            "scheduled_end_time": body.get("scheduled_end_time"),
            "privacy_level": body.get("privacy_level", 2),
            "status": 1,
            "entity_type": body.get("entity_type"),
            "entity_id": None,
            "entity_metadata": body.get("entity_metadata"),
            "user_count": 0,
            "image": None,
        }
        self._check_external(event)
        self.scheduled_events[eid] = event
        self._emit_if_ready("GUILD_SCHEDULED_EVENT_CREATE", event)
        return event

    async def _h_edit_event(self, r: web.Request, body: Any) -> Any:
        self._require_manage_events(self._g(r))
        event = self._event(r)
        changed = {**event, **{k: v for k, v in (body or {}).items() if k in event}}
        moves = ((1, 2), (2, 3), (1, 4))  # scheduled → active → completed, or scheduled → cancelled
        if "status" in (body or {}) and (event["status"], changed["status"]) not in moves:
            raise _form_error("status", f"Cannot change status {event['status']} to {changed['status']}")
        self._check_external(changed)
        event.update(changed)
        self._emit_if_ready("GUILD_SCHEDULED_EVENT_UPDATE", event)
        return event

    async def _h_delete_event(self, r: web.Request, body: Any) -> Any:
        self._require_manage_events(self._g(r))
        event = self._event(r)
        self.scheduled_events.pop(int(event["id"]))
        self._emit_if_ready("GUILD_SCHEDULED_EVENT_DELETE", event)
        return None

    # ------------------------------------------------------------------ REST: threads
    def _require_bot_permission(self, ch: FakeChannel, bit: int, what: str) -> None:
        """403 50013 unless the bot has `bit` in the channel (its roles, then the channel's
        overwrites for @everyone, its roles and itself)."""
        assert ch.guild_id is not None
        g = self.guilds[ch.guild_id]
        perms = self.permissions(g, self.bot_user)
        if perms == ALL_PERMISSIONS:
            return
        me = g.members[self.bot_user.id]
        for target in [g.id, *me.roles, me.id]:
            o = ch.overwrite(target)
            if o is not None:
                perms = (perms & ~int(o["deny"])) | int(o["allow"])
        if not perms & bit:
            raise _ApiError(403, 50013, f"Missing Permissions ({what})")

    def _new_thread(self, parent: FakeChannel, thread_id: int, body: Json) -> FakeChannel:
        assert parent.guild_id is not None
        thread = FakeChannel(
            thread_id,
            str(body.get("name") or "thread")[:100],
            11,
            parent.guild_id,
            parent.id,
            owner_id=self.bot_user.id,
            auto_archive_duration=int(body.get("auto_archive_duration") or 1440),
        )
        self.guilds[parent.guild_id].channels[thread.id] = self.channels[thread.id] = thread
        self._emit("THREAD_CREATE", {**thread.payload(), "newly_created": True})
        return thread

    async def _h_thread_from_message(self, r: web.Request, body: Any) -> Any:
        """A public thread from a message: it has the message's id (160004 when there is one)."""
        ch, msg, body = self._c(r), self._msg(r), body or {}
        if ch.type not in (0, 5):
            raise _ApiError(400, 50024, "Cannot execute action on this channel type")
        self._require_bot_permission(ch, CREATE_PUBLIC_THREADS, "Create Public Threads")
        if int(msg["id"]) in self.channels:
            raise _ApiError(400, 160004, "A thread has already been created for this message")
        thread = self._new_thread(ch, int(msg["id"]), body)
        msg["thread"] = thread.payload()
        return thread.payload()

    async def _h_start_thread(self, r: web.Request, body: Any) -> Any:
        """A forum post (its first message has the thread's id), or a thread without a message."""
        ch, body = self._c(r), body or {}
        if ch.type == 15:
            self._require_bot_permission(ch, SEND_MESSAGES, "Send Messages")
            starter = body.get("message") or {}
            _validate_message(starter)
            thread = self._new_thread(ch, self.next_id(), body)
            msg = self._store_message(thread, starter, self.bot_user, check=False)
            self._messages.pop(int(msg["id"]))
            msg["id"] = str(thread.id)  # a forum post's starter message has the thread's id
            self._messages[thread.id] = msg
            self._emit("MESSAGE_CREATE", msg)
            return {**thread.payload(), "message": msg}
        self._require_bot_permission(ch, CREATE_PUBLIC_THREADS, "Create Public Threads")
        return self._new_thread(ch, self.next_id(), body).payload()

    async def _h_active_threads(self, r: web.Request, body: Any) -> Any:
        g = self._g(r)
        active = [c.payload() for c in g.channels.values() if c.type == 11 and not c.archived]
        return {"threads": active, "members": []}

    def threads(self, channel: FakeChannel | int) -> list[FakeChannel]:
        """The threads (or forum posts) of a channel, oldest first."""
        parent = self._chan(channel)
        return sorted(
            (c for c in self.channels.values() if c.type == 11 and c.parent_id == parent.id),
            key=lambda c: c.id,
        )

    # ------------------------------------------------------------------ REST: guild roles, members
    async def _h_create_role(self, r: web.Request, body: Any) -> Any:
        body = body or {}
        role = self.add_role(
            self._g(r),
            body.get("name") or "new role",
            permissions=int(body.get("permissions") or 0),
            color=int(body.get("color") or 0),
            mentionable=bool(body.get("mentionable")),
            hoist=bool(body.get("hoist")),
        )
        return role.payload()

    async def _h_edit_role(self, r: web.Request, body: Any) -> Any:
        g, body = self._g(r), body or {}
        role: FakeRole = self._find(g.roles, r, "rid", 10011, "Unknown Role")
        for key in ("name", "mentionable", "hoist"):
            if body.get(key) is not None:
                setattr(role, key, body[key])
        for key in ("permissions", "color"):
            if body.get(key) is not None:
                setattr(role, key, int(body[key]))
        self._emit("GUILD_ROLE_UPDATE", {"guild_id": str(g.id), "role": role.payload()})
        return role.payload()

    async def _h_list_members(self, r: web.Request, body: Any) -> Any:
        after, limit = int(r.query.get("after", 0)), int(r.query.get("limit", 1))
        members = sorted((m for m in self._g(r).members.values() if m.id > after), key=lambda m: m.id)
        return [m.payload() for m in members[:limit]]

    def _member_updated(self, m: FakeMember) -> None:
        self._emit("GUILD_MEMBER_UPDATE", {"guild_id": str(m.guild_id), **m.payload()})

    async def _h_edit_member(self, r: web.Request, body: Any) -> Any:
        m, body = self._m(r), body or {}
        if "roles" in body:
            if any(int(x) not in self._g(r).roles for x in body["roles"]):
                raise _ApiError(404, 10011, "Unknown Role")
            m.roles = [int(x) for x in body["roles"]]
        if "nick" in body:
            m.nick = body["nick"]
        self._member_updated(m)
        return m.payload()

    async def _h_member_role(self, r: web.Request, body: Any) -> Any:
        m = self._m(r)
        role: FakeRole = self._find(self._g(r).roles, r, "rid", 10011, "Unknown Role")
        if r.method == "PUT" and role.id not in m.roles:
            m.roles.append(role.id)
        elif r.method == "DELETE" and role.id in m.roles:
            m.roles.remove(role.id)
        self._member_updated(m)
        return None


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    """JSON with a bare ``application/json`` type: discord.py only decodes that exact content type."""
    return web.Response(
        body=json.dumps(data).encode(),
        status=status,
        headers={"Content-Type": "application/json", **(headers or {})},
    )


def _overwrite_fields(o: Json) -> tuple[int, int, int, int]:
    """(id, type, allow, deny) of an overwrite object; allow/deny may be integers or digit strings."""
    return int(o["id"]), int(o.get("type") or 0), int(o.get("allow") or 0), int(o.get("deny") or 0)


def _validate_message(body: Json) -> None:
    if not any(
        body.get(k) for k in ("content", "embeds", "components", "attachments", "sticker_ids", "poll")
    ):
        raise _ApiError(400, 50006, "Cannot send an empty message")
    if len(body.get("content") or "") > 2000:
        raise _form_error("content", "Must be 2000 or fewer in length.")
    if len(body.get("embeds") or []) > 10:
        raise _form_error("embeds", "Must be 10 or fewer in length.")


def _apply_edit(msg: Json, body: Json) -> None:
    """Apply a message PATCH body; clears the deferred "thinking" flag."""
    for key in ("content", "embeds", "components"):
        if key in body:
            msg[key] = body[key] if body[key] is not None else ([] if key != "content" else "")
    if "attachments" in body:
        old = {a["id"]: a for a in msg["attachments"]}
        msg["attachments"] = [
            a if "url" in a else old[str(a["id"])]
            for a in body["attachments"]
            if "url" in a or str(a["id"]) in old
        ]
    if body.get("flags") is not None:
        msg["flags"] = (msg["flags"] & EPHEMERAL) | int(body["flags"])
    msg["flags"] &= ~LOADING
    msg["edited_timestamp"] = _now_iso()


_NAME_RE = re.compile(r"^[-_'\w]{1,32}$")


def _validate_commands(cmds: list[Json], where: str = "") -> None:
    """Catch what Discord rejects with 50035: bad names/descriptions, duplicates, too many commands/options."""
    keys = [(c.get("name"), None if where else c.get("type", 1)) for c in cmds]
    if len(cmds) > (25 if where else 100) or len(set(keys)) != len(keys):
        raise _form_error(where or "commands", "too many entries or duplicate names")
    for i, c in enumerate(cmds):
        loc, name = f"{where}{i}", c.get("name") or ""
        chat = bool(where) or c.get("type", 1) == 1  # options and slash commands: lowercase, with description
        if not (_NAME_RE.match(name) and name == name.lower()) if chat else not 1 <= len(name) <= 32:
            raise _form_error(f"{loc}.name", f"invalid name {name!r}")
        if chat and not 1 <= len(c.get("description") or "") <= 100:
            raise _form_error(f"{loc}.description", f"description of {name!r} must be 1-100 characters")
        if c.get("options"):
            _validate_commands(c["options"], f"{loc}.options.")


def _find_component(components: list[Json], custom_id: str) -> Json | None:
    for c in components:
        if c.get("custom_id") == custom_id:
            return c
        for child in (c.get("components") or []) + [x for x in (c.get("accessory"), c.get("component")) if x]:
            found = _find_component([child], custom_id)
            if found:
                return found
    return None
