"""The one permission module: privilege from roles, and the server-side staff check.

Roles are named in `[discord.roles]` by name or numeric id. Staff commands all live under `/ta`;
the command tree calls `require_staff` for every interaction that `is_staff_command` says is under
`/ta`, so a student is refused on the server side whatever the server's permission settings say.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any

import discord
from discord import app_commands

from bot.config import RolesSection, reference_matches

STAFF_GROUP = "ta"
# Clients hide /ta from members without this permission; the real check is `require_staff`.
STAFF_DEFAULT_PERMISSIONS = discord.Permissions(manage_guild=True)


class Privilege(IntEnum):
    NONE = 0
    STUDENT = 1
    TA = 2
    INSTRUCTOR = 3


class NotStaff(app_commands.CheckFailure):
    """A non-staff member tried a staff command or button."""

    def __init__(self) -> None:
        super().__init__("Only the course staff (TA or instructor role) can do that.")


def role_matches(role: discord.Role, wanted: str) -> bool:
    """A configured role/channel reference is a numeric id or a name (case-insensitive)."""
    return reference_matches(role.id, role.name, wanted)


def privilege_of(user: discord.abc.User | Any, roles: RolesSection) -> Privilege:
    """The highest privilege the member's roles give; NONE outside a guild."""
    member_roles = getattr(user, "roles", None)
    if not member_roles:
        return Privilege.NONE
    ranked = (
        (Privilege.INSTRUCTOR, roles.instructor),
        (Privilege.TA, roles.ta),
        (Privilege.STUDENT, roles.student),
    )
    for privilege, wanted in ranked:
        if any(role_matches(role, wanted) for role in member_roles):
            return privilege
    return Privilege.NONE


def is_staff(user: discord.abc.User | Any, roles: RolesSection) -> bool:
    return privilege_of(user, roles) >= Privilege.TA


def is_student(user: discord.abc.User | Any, roles: RolesSection) -> bool:
    """A member with the student role and no staff role, who is not a bot."""
    return not getattr(user, "bot", False) and privilege_of(user, roles) == Privilege.STUDENT


def require_staff(interaction: discord.Interaction, roles: RolesSection) -> None:
    """Raises NotStaff unless the interaction's user has the TA or instructor role in the guild."""
    if interaction.guild is None or not is_staff(interaction.user, roles):
        raise NotStaff()


def is_staff_command(interaction: discord.Interaction) -> bool:
    """Whether the interaction invokes (or autocompletes) anything under `/ta`."""
    data: Any = interaction.data or {}
    commandish = (discord.InteractionType.application_command, discord.InteractionType.autocomplete)
    return interaction.type in commandish and data.get("name") == STAFF_GROUP


def make_staff_group() -> app_commands.Group:
    """The `/ta` group that every feature cog adds its staff subcommands to."""
    return app_commands.Group(
        name=STAFF_GROUP,
        description="Course staff commands",
        guild_only=True,
        default_permissions=STAFF_DEFAULT_PERMISSIONS,
    )
