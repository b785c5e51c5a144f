"""Self-test of the fake Discord: a tiny, unmodified discord.py bot talks to it end to end."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import aiohttp
import discord
import pytest
import yarl
from discord import app_commands
from discord.ext import commands
from fake_discord import FakeChannel, FakeDiscord, FakeGuild, FakeMember, FakeRole

NONCE = "notify-42"


class HereButton(discord.ui.View):
    """One button that rewrites its message."""

    def __init__(self) -> None:
        super().__init__(timeout=60)

    @discord.ui.button(label="Here", custom_id="attend:here")
    async def here(self, click: discord.Interaction, button: discord.ui.Button[HereButton]) -> None:
        await click.response.edit_message(content=f"marked {click.user.name}", view=None)


class TinyBot(commands.Bot):
    """A bot defined only for these tests; commands record what happened in ``self.events``."""

    def __init__(self, guild_id: int) -> None:
        super().__init__(command_prefix="!", intents=discord.Intents.default(), guild_ready_timeout=0.05)
        self.guild_ref = discord.Object(guild_id)
        self.events: list[str] = []

    async def setup_hook(self) -> None:
        tree, guild = self.tree, self.guild_ref
        bot = self

        @tree.command(name="ping", description="Check the bot is alive", guild=guild)
        async def ping(interaction: discord.Interaction) -> None:
            await interaction.response.send_message("pong", ephemeral=True)

        @tree.command(name="notify", description="DM a user and post in the channel", guild=guild)
        async def notify(interaction: discord.Interaction, user: discord.User, text: str) -> None:
            assert isinstance(interaction.channel, discord.TextChannel)
            first = await interaction.channel.send(text, nonce=NONCE)
            again = await interaction.channel.send(text, nonce=NONCE)  # retried send: must not duplicate
            bot.events.append(f"same-id:{first.id == again.id}")
            try:
                await user.send(f"DM: {text}")
                bot.events.append("dm:ok")
            except discord.Forbidden as exc:
                bot.events.append(f"dm:forbidden:{exc.code}")
            await interaction.response.send_message("done")

        ta = app_commands.Group(name="ta", description="TA tools", guild_ids=[guild.id])
        attendance = app_commands.Group(name="attendance", description="Attendance", parent=ta)

        @attendance.command(name="open", description="Open attendance")
        async def attendance_open(interaction: discord.Interaction, minutes: int, role: discord.Role) -> None:
            await interaction.response.defer(ephemeral=True, thinking=True)
            assert isinstance(interaction.user, discord.Member)
            view = HereButton()
            await interaction.followup.send(
                f"open {minutes}m for {role.name} by {interaction.user.name}", view=view, ephemeral=True
            )

        @tree.command(name="export", description="Export a CSV", guild=guild)
        async def export(interaction: discord.Interaction) -> None:
            csv = discord.File(io.BytesIO(b"id,present\n1,yes\n"), filename="attendance.csv")
            await interaction.response.send_message("here", file=csv, ephemeral=True)

        class Feedback(discord.ui.Modal, title="Feedback"):
            comment: discord.ui.TextInput[Feedback] = discord.ui.TextInput(
                label="Comment", custom_id="comment"
            )

            async def on_submit(self, interaction: discord.Interaction) -> None:
                await interaction.response.send_message(f"thanks: {self.comment.value}", ephemeral=True)

        @tree.command(name="feedback", description="Give feedback", guild=guild)
        async def feedback(interaction: discord.Interaction) -> None:
            await interaction.response.send_modal(Feedback())

        tree.add_command(ta)
        await tree.sync(guild=guild)


@dataclass
class World:
    fd: FakeDiscord
    guild: FakeGuild
    channel: FakeChannel
    ta: FakeRole
    alice: FakeMember
    bob: FakeMember
    bot: TinyBot
    task: asyncio.Task[None] = field(repr=False)


@contextmanager
def pointed_at(fd: FakeDiscord) -> Iterator[None]:
    """Point discord.py at the fake for the duration (what the bot does from api_base/gateway_url)."""
    old_base, old_gateway = discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
    discord.http.Route.BASE = fd.api_base
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(fd.gateway_url)
    try:
        yield
    finally:
        discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = old_base, old_gateway


async def _start(fd: FakeDiscord) -> AsyncIterator[World]:
    await fd.start()
    guild = fd.add_guild("CS101")
    ta = fd.add_role(guild, "TA", permissions=1 << 28)
    channel = fd.add_channel(guild, "announcements")
    alice = fd.add_member(guild, "alice", roles=[ta])
    bob = fd.add_member(guild, "bob")
    bot = TinyBot(guild.id)
    with pointed_at(fd):
        task = asyncio.create_task(bot.start("fake-token"))
        try:
            await fd.wait_ready(5)
            await asyncio.wait_for(bot.wait_until_ready(), 5)
            yield World(fd, guild, channel, ta, alice, bob, bot, task)
        finally:
            await bot.close()
            await asyncio.wait_for(task, 5)
            await fd.stop()


@pytest.fixture
async def world() -> AsyncIterator[World]:
    async for w in _start(FakeDiscord()):
        yield w


async def test_commands_synced_and_ping_is_ephemeral(world: World) -> None:
    fd = world.fd
    synced = await fd.wait_commands_synced(world.guild, timeout=5)
    assert {c["name"] for c in synced} == {"ping", "notify", "ta", "export", "feedback"}
    assert all(c["id"] and c["guild_id"] == str(world.guild.id) for c in synced)
    assert world.bot.get_guild(world.guild.id) is not None

    result = await fd.invoke_slash(world.guild, world.channel, world.alice, "ping", timeout=5)
    assert result.type == 4
    assert result.content == "pong"
    assert result.ephemeral and result.flags & 64
    assert not fd.unknown_requests, fd.unknown_requests


async def test_channel_message_nonce_and_closed_dm(world: World) -> None:
    fd = world.fd
    fd.dm_closed.add(world.bob.id)
    result = await fd.invoke_slash(
        world.guild,
        world.channel,
        world.alice,
        "notify",
        {"user": world.bob, "text": "quiz tomorrow"},
        timeout=5,
    )
    assert result.content == "done" and not result.ephemeral
    posted = [m for m in fd.messages(world.channel) if m["content"] == "quiz tomorrow"]
    assert len(posted) == 1 and posted[0]["nonce"] == NONCE
    assert world.bot.events == ["same-id:True", "dm:forbidden:50007"]
    assert fd.dms(world.bob) == []
    assert [r.status for r in fd.requests if r.path.startswith("/channels/") and r.method == "POST"][
        -1
    ] == 403

    fd.dm_closed.clear()
    await fd.invoke_slash(
        world.guild, world.channel, world.alice, "notify", {"user": world.bob, "text": "hi"}
    )
    assert world.bot.events[-1] == "dm:ok"
    assert [m["content"] for m in fd.dms(world.bob)] == ["DM: hi"]


async def test_subcommand_group_defer_followup_and_button(world: World) -> None:
    fd = world.fd
    result = await fd.invoke_slash(
        world.guild,
        world.channel,
        world.alice,
        "ta attendance open",
        {"minutes": 10, "role": world.ta},
        timeout=5,
    )
    assert result.type == 5 and result.ephemeral
    assert result.content == "open 10m for TA by alice"
    assert result.original is not None and not result.original["flags"] & 128  # no longer "thinking"

    click = await fd.invoke_component(result.original, "attend:here", world.bob, timeout=5)
    assert click.type == 7
    assert click.content == "marked bob" and click.components == []
    assert result.content == "marked bob"  # same live message

    with pytest.raises(LookupError):
        await fd.invoke_slash(world.guild, world.channel, world.alice, "ta attendance close")
    with pytest.raises(ValueError):
        await fd.invoke_slash(world.guild, world.channel, world.alice, "ta attendance open", {"minutes": 3})


async def test_unknown_route_rest_helpers_and_resume(world: World) -> None:
    fd, bot = world.fd, world.bot
    with pytest.raises(discord.NotFound):
        await bot.http.request(discord.http.Route("GET", "/no/such/route"))
    assert [(r.method, r.path, r.status) for r in fd.unknown_requests] == [("GET", "/no/such/route", 404)]

    member = await bot.get_guild(world.guild.id).fetch_member(world.bob.id)  # type: ignore[union-attr]
    assert member.name == "bob"
    role = await bot.get_guild(world.guild.id).create_role(name="Student")  # type: ignore[union-attr]
    await member.add_roles(role)
    assert role.id in world.guild.members[world.bob.id].roles
    await member.remove_roles(role)
    assert role.id not in world.guild.members[world.bob.id].roles
    channel = await bot.get_guild(world.guild.id).create_text_channel("week-1")  # type: ignore[union-attr]
    assert world.guild.channel("week-1").id == channel.id

    connections = fd.gateway_connections
    fd.force_reconnect()
    await fd.wait_until(lambda: fd.gateway_connections > connections, 5, "the bot to reconnect")
    result = await fd.invoke_slash(world.guild, world.channel, world.alice, "ping", timeout=5)
    assert result.content == "pong"
    assert fd.ready_count == 1  # resumed, not re-identified


async def test_rate_limit_is_retried_by_discord_py() -> None:
    async for w in _start(FakeDiscord(rate_limit_per_second=3)):
        channel = w.bot.get_channel(w.channel.id)
        assert isinstance(channel, discord.TextChannel)
        await asyncio.sleep(1.0)  # let the login/sync requests leave the window
        for i in range(5):
            await channel.send(f"m{i}")
        assert [m["content"] for m in w.fd.messages(w.channel)] == [f"m{i}" for i in range(5)]
        assert any(r.status == 429 for r in w.fd.requests)


async def test_late_interaction_callback_is_unknown() -> None:
    async for w in _start(FakeDiscord(interaction_deadline=0.0)):
        result = await w.fd.invoke_slash(w.guild, w.channel, w.alice, "ping", timeout=5)
        assert result.late and result.type is None


async def test_429_payload_shape() -> None:
    async with FakeDiscord(rate_limit_per_second=1) as fd, aiohttp.ClientSession() as http:
        await http.get(fd.api_base + "/users/@me")
        async with http.get(fd.api_base + "/users/@me") as resp:
            body = await resp.json()
            assert resp.status == 429 and resp.headers["X-RateLimit-Global"] == "true" and resp.headers["Via"]
            assert body["global"] is True and 0 < body["retry_after"] <= 1


async def test_file_upload_and_modal(world: World) -> None:
    fd = world.fd
    result = await fd.invoke_slash(world.guild, world.channel, world.alice, "export", timeout=5)
    assert result.content == "here" and result.ephemeral
    [attachment] = result.original["attachments"] if result.original else []
    assert attachment["filename"] == "attendance.csv"
    assert fd.files[int(attachment["id"])] == b"id,present\n1,yes\n"

    shown = await fd.invoke_slash(world.guild, world.channel, world.alice, "feedback", timeout=5)
    assert shown.type == 9 and shown.modal and shown.modal["title"] == "Feedback"
    answer = await fd.submit_modal(shown, {"comment": "great course"}, timeout=5)
    assert answer.content == "thanks: great course" and answer.ephemeral


async def test_wrong_token_is_rejected() -> None:
    async with FakeDiscord(token="right-token") as fd:
        bot = TinyBot(0)
        with pointed_at(fd), pytest.raises(discord.LoginFailure):
            await bot.start("wrong-token")
        await bot.close()
        assert [(r.path, r.status) for r in fd.requests] == [("/users/@me", 401)]


# ---- Discord's own schema ---------------------------------------------------------------------------
@pytest.mark.schema_violations_expected
async def test_a_body_discord_refuses_is_refused_and_recorded(world: World) -> None:
    """Negative control: an embed title over Discord's 256 characters never reaches a channel."""
    channel = world.bot.get_channel(world.channel.id)
    assert isinstance(channel, discord.TextChannel)
    with pytest.raises(discord.HTTPException) as raised:
        await channel.send(embed=discord.Embed(title="x" * 257))
    assert raised.value.status == 400 and raised.value.code == 50035
    assert world.fd.messages(world.channel) == []
    assert any("embeds/0/title" in line and "maxLength=256" in line for line in world.fd.schema_violations)


@pytest.mark.schema_violations_expected
async def test_an_oversized_reply_is_refused() -> None:
    async with FakeDiscord() as fd, aiohttp.ClientSession() as http:
        async with http.post(
            fd.api_base + "/interactions/1/token/callback",
            json={"type": 4, "data": {"content": "x" * 2001, "flags": 64}},
        ) as resp:
            assert resp.status == 400 and (await resp.json())["code"] == 50035
        assert fd.schema_violations and "data/content" in fd.schema_violations[0]


def test_valid_bodies_pass_and_snowflakes_may_be_integers() -> None:
    from discord_schema import operation_of, request_problems

    assert request_problems("POST", "/channels/1/messages", {"content": "hi", "nonce": "cb1"}) == []
    assert request_problems("POST", "/channels/1/messages", {"message_reference": {"message_id": 12}}) == []
    assert request_problems("POST", "/channels/1/messages", {"message_reference": {"message_id": "x1"}})
    assert request_problems("PATCH", "/channels/1/messages/2", {"embeds": [{"title": "t" * 257}]})
    assert request_problems("GET", "/users/@me", None) == []
    assert operation_of("POST", "/users/@me/channels") == "/users/@me/channels"
    assert operation_of("PATCH", "/webhooks/1/t/messages/@original") == (
        "/webhooks/{webhook_id}/{webhook_token}/messages/@original"
    )
