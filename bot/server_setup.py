"""`coursebot setup [--apply]`: read the course server over Discord, print what differs from the
config (`bot/setup_plan/` decides), and with `--apply` fix what the bot can, auditing each change.

A dry run only reads: the gateway's server data and, if needed, a GET of the bot's own member.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Literal

import aiohttp
import discord

from bot.app import find_by_reference, use_endpoints
from bot.config import Config
from bot.services import Services
from bot.setup_plan import (
    ALWAYS_NEEDED,
    BOT,
    EVERYONE,
    MANAGE_CHANNELS,
    MANAGE_ROLES,
    ChannelState,
    CreateChannel,
    CreateRole,
    EditRole,
    Overwrite,
    Plan,
    PlanItem,
    RoleState,
    ServerState,
    SetOverwrite,
    Target,
    invite_url,
    plan_setup,
)
from bot.startup_errors import WRONG_TOKEN, network_reason

EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE = 0, 1, 2
READY_TIMEOUT = 60.0  # seconds to wait for the gateway to deliver the server
REASON = "coursebot setup"
Print = Callable[[str], None]


class SetupFailed(Exception):
    """Setup cannot go on; `exit_code` is what the command returns, the message is its one line."""

    def __init__(self, message: str, exit_code: int = EXIT_PROBLEMS) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def usage_problem(config: Config) -> str | None:
    """Why setup cannot start with this config (no token, no server), or None."""
    if config.token is None or not config.token.get_secret_value().strip():
        return "DISCORD_TOKEN is not set: export your bot's token first (or put it in a .env next to the config)."
    if not config.discord.guild_id:
        return "set [discord] guild_id first: the id of the course server (right-click it → Copy Server ID)."
    return None


class _SetupClient(discord.Client):
    """A client that only reads the servers it is in (guilds intent, no privileged intents)."""

    def __init__(self) -> None:
        intents = discord.Intents.none()
        intents.guilds = True
        super().__init__(intents=intents, allowed_mentions=discord.AllowedMentions.none())


async def _connect(client: _SetupClient, config: Config) -> asyncio.Task[None]:
    """Log in and wait until the gateway delivered the servers. Raises SetupFailed."""
    token = config.token.get_secret_value().strip() if config.token else ""
    where = config.discord.api_base or "Discord"
    try:
        await client.login(token)
    except discord.LoginFailure:
        raise SetupFailed(WRONG_TOKEN, EXIT_USAGE) from None
    except discord.HTTPException as error:
        raise SetupFailed(f"Discord answered {error.status} at login: try again later.") from None
    except (aiohttp.ClientError, OSError) as error:
        raise SetupFailed(f"cannot reach {where} ({network_reason(error)}): check the network.") from None
    runner = asyncio.create_task(client.connect(reconnect=False))
    ready = asyncio.create_task(client.wait_until_ready())
    done, _ = await asyncio.wait({runner, ready}, timeout=READY_TIMEOUT, return_when=asyncio.FIRST_COMPLETED)
    if ready in done:
        return runner
    ready.cancel()
    if runner in done:
        failure = runner.exception()
        reason = network_reason(failure) if failure else "it closed the connection"
        raise SetupFailed(f"cannot connect to the gateway of {where} ({reason}): check the network.")
    runner.cancel()
    raise SetupFailed(f"{where} did not deliver the server within {READY_TIMEOUT:.0f} s: try again.")


async def snapshot(client: discord.Client, guild: discord.Guild) -> ServerState:
    """The plain snapshot `plan_setup` compares with the config (only reads)."""
    assert client.user is not None
    me = guild.me or await guild.fetch_member(client.user.id)
    roles = tuple(
        RoleState(r.id, r.name, r.position, r.permissions.value, r.mentionable, r.managed)
        for r in guild.roles
    )
    text = list(guild.text_channels)
    others = sorted((c for c in guild.channels if c not in text), key=lambda c: (c.position, c.id))
    channels = []
    for channel in [*text, *others]:
        overwrites = []
        for target, overwrite in channel.overwrites.items():
            allow, deny = overwrite.pair()
            is_role = isinstance(target, discord.Role) or (
                isinstance(target, discord.Object) and target.type is discord.Role
            )
            overwrites.append(Overwrite(target.id, is_role, allow.value, deny.value))
        channels.append(
            ChannelState(
                channel.id, channel.name, isinstance(channel, discord.TextChannel), tuple(overwrites)
            )
        )
    return ServerState(
        guild_id=guild.id,
        name=guild.name,
        roles=roles,
        channels=tuple(channels),
        bot_id=client.user.id,
        bot_name=client.user.name,
        bot_role_ids=tuple(r.id for r in me.roles if not r.is_default()),
        application_id=client.application_id or client.user.id,
    )


class _Skipped(Exception):
    """An action that cannot be applied because what it depends on is missing."""


class _Applier:
    """Applies plan actions in order, printing and auditing each change."""

    def __init__(
        self, client: discord.Client, guild: discord.Guild, config: Config, services: Services, out: Print
    ) -> None:
        self.client, self.guild, self.config, self.services, self.out = client, guild, config, services, out
        self.created_roles: dict[str, discord.Role] = {}
        self.failures = 0

    def target_object(self, target: Target) -> discord.Role | discord.Member | discord.Object | None:
        """The role or member an overwrite target means; None for a course role that does not exist."""
        if target == EVERYONE:
            return self.guild.default_role
        if target == BOT:
            assert self.client.user is not None
            return self.guild.me or discord.Object(self.client.user.id, type=discord.Member)
        if target.kind == "course_role":
            if target.key in self.created_roles:
                return self.created_roles[target.key]
            reference = str(getattr(self.config.discord.roles, target.key))
            found = find_by_reference(list(self.guild.roles), reference)
            return found if isinstance(found, discord.Role) else None
        if target.kind == "role":
            return self.guild.get_role(target.id) or discord.Object(target.id, type=discord.Role)
        return self.guild.get_member(target.id) or discord.Object(target.id, type=discord.Member)

    async def audit(self, action: str, target_id: int | None, **details: object) -> None:
        await self.services.record(
            actor_id=None, action=action, target_id=target_id, guild_id=self.guild.id, **details
        )

    async def apply(self, item: PlanItem) -> None:
        """Apply one item; a refusal from Discord or a missing dependency is printed and counted."""
        try:
            await self._apply(item)
        except discord.HTTPException as error:
            self.failures += 1
            self.out(f"failed: {item.line}: Discord answered {error.status} ({error.text or 'no reason'})")
        except (aiohttp.ClientError, OSError, TimeoutError) as error:
            self.failures += 1
            self.out(f"failed: {item.line}: cannot reach Discord ({network_reason(error)})")
        except _Skipped as skipped:
            self.failures += 1
            self.out(f"skipped: {item.line}: {skipped}")

    async def _apply(self, item: PlanItem) -> None:
        action = item.action
        if isinstance(action, CreateRole):
            role = await self.guild.create_role(
                name=action.name,
                permissions=discord.Permissions.none(),
                mentionable=action.mentionable,
                reason=REASON,
            )
            self.created_roles[action.key] = role
            await self.audit(
                "setup.role_created", role.id, name=role.name, key=action.key, mentionable=action.mentionable
            )
        elif isinstance(action, EditRole):
            existing = self.guild.get_role(action.role_id)
            if existing is None:
                raise _Skipped(f"role {action.name} no longer exists")
            await existing.edit(mentionable=action.mentionable, reason=REASON)
            await self.audit(
                "setup.role_updated", existing.id, name=existing.name, mentionable=action.mentionable
            )
        elif isinstance(action, CreateChannel):
            overwrites: dict[discord.Role | discord.Member | discord.Object, discord.PermissionOverwrite] = {}
            for spec in action.overwrites:
                target = self.target_object(spec.target)
                if target is None:
                    raise _Skipped(f"role {spec.target.key} does not exist")
                overwrites[target] = discord.PermissionOverwrite.from_pair(
                    discord.Permissions(spec.allow), discord.Permissions(spec.deny)
                )
            channel = await self.guild.create_text_channel(
                action.name, topic=action.topic, overwrites=overwrites, reason=REASON
            )
            await self.audit("setup.channel_created", channel.id, name=channel.name, keys=list(action.keys))
        elif isinstance(action, SetOverwrite):
            target = self.target_object(action.target)
            if target is None:
                raise _Skipped(f"role {action.target_name} does not exist")
            kind: Literal[0, 1] = (
                0 if isinstance(target, discord.Role) or getattr(target, "type", None) is discord.Role else 1
            )
            details = {
                "channel": action.channel_name,
                "target": action.target_name,
                "overwrite_id": target.id,
            }
            if action.allow or action.deny:
                await self.client.http.edit_channel_permissions(
                    action.channel_id, target.id, str(action.allow), str(action.deny), kind, reason=REASON
                )
                await self.audit(
                    "setup.overwrite_set", action.channel_id, allow=action.allow, deny=action.deny, **details
                )
            else:
                await self.client.http.delete_channel_permissions(action.channel_id, target.id, reason=REASON)
                await self.audit("setup.overwrite_removed", action.channel_id, **details)
        else:
            raise _Skipped("the bot cannot do this")
        self.out(item.done or item.line)


def _print_plan(plan: Plan, out: Print, *, items: tuple[PlanItem, ...] | None = None) -> None:
    for item in plan.items if items is None else items:
        out(f"  {'+' if item.fixable else '!'} {item.line}")


async def run_setup(config: Config, *, services: Services | None, out: Print = print) -> int:
    """Print the plan; with `services` (`--apply`), also apply it. Returns the exit code: a Discord
    failure is one printed line; only the database's errors (writing the audit rows) are raised."""
    problem = usage_problem(config)
    if problem:
        out(problem)
        return EXIT_USAGE
    use_endpoints(config.discord)
    client = _SetupClient()
    runner: asyncio.Task[None] | None = None
    try:
        try:
            runner = await _connect(client, config)
            assert client.user is not None
            guild = client.get_guild(config.discord.guild_id)
            if guild is None:
                link = invite_url(
                    client.application_id or client.user.id,
                    config.discord.guild_id,
                    ALWAYS_NEEDED | MANAGE_ROLES | MANAGE_CHANNELS,
                )
                raise SetupFailed(
                    f"the bot is not in server {config.discord.guild_id}: check [discord] guild_id, "
                    f"or invite it with {link}"
                )
            server = await snapshot(client, guild)
        except SetupFailed as error:
            out(str(error))
            return error.exit_code
        except discord.HTTPException as error:
            out(f"Discord answered {error.status} while reading the server: try again later.")
            return EXIT_PROBLEMS
        except (aiohttp.ClientError, OSError, TimeoutError) as error:
            out(f"cannot reach Discord while reading the server ({network_reason(error)}): try again.")
            return EXIT_PROBLEMS
        plan = plan_setup(config, server)
        out(f"Server {server.name!r} ({server.guild_id}), as {server.bot_name}:")
        if not plan.items:
            out("Nothing to do: the server matches the config.")
            _print_notes(plan, out)
            return EXIT_OK
        if services is None:
            return _report_dry_run(plan, out)
        return await _apply_and_report(plan, _Applier(client, guild, config, services, out), out)
    finally:
        await client.close()
        if runner is not None:  # the gateway task ends with close(); a failure of it was reported already
            await asyncio.gather(runner, return_exceptions=True)


def _print_notes(plan: Plan, out: Print) -> None:
    for note in plan.notes:
        out(note)


def _report_dry_run(plan: Plan, out: Print) -> int:
    _print_plan(plan, out)
    _print_notes(plan, out)
    summary = []
    if plan.fixable:
        summary.append(f"{len(plan.fixable)} change(s) the bot can make: run `coursebot setup --apply`")
    if plan.manual:
        summary.append(f"{len(plan.manual)} item(s) need you (marked !)")
    out("; ".join(summary) + ".")
    return EXIT_PROBLEMS


async def _apply_and_report(plan: Plan, applier: _Applier, out: Print) -> int:
    for item in plan.fixable:
        await applier.apply(item)
    if plan.manual:
        out("Still to do by hand:")
        _print_plan(plan, out, items=plan.manual)
    _print_notes(plan, out)
    made = len(plan.fixable) - applier.failures
    left = len(plan.manual) + applier.failures
    out(f"{made} change(s) made" + (f"; {left} item(s) left." if left else "."))
    return EXIT_PROBLEMS if left else EXIT_OK
