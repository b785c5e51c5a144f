"""The snapshot `coursebot setup` reads from the server (`ServerState`: roles, channels with their
permission overwrites, the bot's roles), as plain frozen data so the planner needs no Discord."""

from __future__ import annotations

from dataclasses import dataclass

from bot.setup_plan.bits import ADMINISTRATOR, ALL_PERMISSIONS


@dataclass(frozen=True)
class RoleState:
    """A role on the server; @everyone has the server's id and position 0."""

    id: int
    name: str
    position: int = 1
    permissions: int = 0
    mentionable: bool = False
    managed: bool = False


@dataclass(frozen=True)
class Overwrite:
    """A channel's permission overwrite for a role (`is_role`) or a member."""

    target_id: int
    is_role: bool
    allow: int = 0
    deny: int = 0


@dataclass(frozen=True)
class ChannelState:
    """A channel; `is_text` for the kinds the bot posts in (text and announcement channels)."""

    id: int
    name: str
    is_text: bool = True
    overwrites: tuple[Overwrite, ...] = ()


@dataclass(frozen=True)
class ServerState:
    """What `coursebot setup` reads from the server, in Discord's order (roles by position)."""

    guild_id: int
    name: str
    roles: tuple[RoleState, ...]
    channels: tuple[ChannelState, ...]
    bot_id: int
    bot_name: str
    bot_role_ids: tuple[int, ...] = ()
    application_id: int = 0

    def role(self, role_id: int) -> RoleState | None:
        return next((r for r in self.roles if r.id == role_id), None)

    @property
    def everyone_permissions(self) -> int:
        everyone = self.role(self.guild_id)
        return everyone.permissions if everyone else 0

    @property
    def bot_permissions(self) -> int:
        """The bot's server-wide permissions (Administrator means all)."""
        perms = self.everyone_permissions
        for role_id in self.bot_role_ids:
            role = self.role(role_id)
            perms |= role.permissions if role else 0
        return ALL_PERMISSIONS if perms & ADMINISTRATOR else perms

    @property
    def bot_top_role(self) -> RoleState | None:
        roles = [r for r in (self.role(i) for i in self.bot_role_ids) if r is not None]
        return max(roles, key=lambda r: r.position, default=None)

    @property
    def bot_role_name(self) -> str:
        """The name of the bot's highest role (the bot's own name when it has none), as the server
        owner finds it in Server Settings → Roles."""
        top = self.bot_top_role
        return top.name if top else self.bot_name
