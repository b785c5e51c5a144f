"""The course roles: which server role each `[discord.roles]` reference names (keys naming the same
role share one slot), and the role part of the plan — create a missing role, make the student role
mentionable, or say what a person must do when the bot cannot (a missing id, a role above the bot's)."""

from __future__ import annotations

from dataclasses import dataclass

from bot.config import Config, reference_matches
from bot.setup_plan.bits import MENTION_EVERYONE
from bot.setup_plan.items import CreateRole, EditRole, PlanItem, Target
from bot.setup_plan.snapshot import RoleState, ServerState

ROLE_KEYS = ("instructor", "ta", "student")


@dataclass
class RoleSlot:
    keys: list[str]
    reference: str
    role: RoleState | None
    target: Target

    @property
    def name(self) -> str:
        return self.role.name if self.role else self.reference

    @property
    def missing_id(self) -> bool:
        return self.role is None and self.reference.isdigit()


def _find_role(server: ServerState, reference: str) -> RoleState | None:
    return next(
        (r for r in server.roles if r.id != server.guild_id and reference_matches(r.id, r.name, reference)),
        None,
    )


def role_slots(config: Config, server: ServerState) -> dict[str, RoleSlot]:
    """Config key → slot; keys naming the same role share one slot."""
    slots: dict[str, RoleSlot] = {}
    for key in ROLE_KEYS:
        reference = str(getattr(config.discord.roles, key))
        role = _find_role(server, reference)
        same = next(
            (
                s
                for s in slots.values()
                if (role is not None and s.role is not None and s.role.id == role.id)
                or (role is None and s.role is None and s.reference.casefold() == reference.casefold())
            ),
            None,
        )
        if same is not None:
            same.keys.append(key)
            slots[key] = same
        else:
            slots[key] = RoleSlot([key], reference, role, Target("course_role", key))
    return slots


def plan_roles(
    slots: dict[str, RoleSlot], server: ServerState, *, grant_student_role: bool
) -> tuple[list[PlanItem], list[PlanItem]]:
    """The role part of the plan: (items the bot can apply, items a person must do), each in
    `ROLE_KEYS` order. `grant_student_role` is `[onboarding] grant_student_role`."""
    role_items: list[PlanItem] = []
    manual: list[PlanItem] = []
    bot_perms = server.bot_permissions
    bot_top = server.bot_top_role
    top_position = bot_top.position if bot_top else 0
    bot_role_name = server.bot_role_name

    seen: set[int] = set()
    for key in ROLE_KEYS:
        slot = slots[key]
        if id(slot) in seen:
            continue
        seen.add(id(slot))
        is_student = "student" in slot.keys
        if slot.missing_id:
            manual.append(
                PlanItem(
                    f"role {key}: no role has id {slot.reference} on the server (a role given by id cannot be "
                    f"created): create the role and put its id in [discord.roles] {key}, or use a name"
                )
            )
        elif slot.role is None:
            suffix = " (mentionable: announcement pings use it)" if is_student else ""
            role_items.append(
                PlanItem(
                    f"create role {slot.reference}{suffix}",
                    CreateRole(key, slot.reference, mentionable=is_student),
                    f"created role {slot.reference}",
                )
            )
        elif is_student and not slot.role.mentionable and not bot_perms & MENTION_EVERYONE:
            if slot.role.position >= top_position:
                manual.append(
                    PlanItem(
                        f"role {slot.role.name} is not mentionable and not below the bot's highest role "
                        f"({bot_role_name}), so the bot cannot change it: make it mentionable in Server "
                        "Settings → Roles (announcement pings use it), or move the bot's role above it"
                    )
                )
            else:
                role_items.append(
                    PlanItem(
                        f"make role {slot.role.name} mentionable (announcement pings use it)",
                        EditRole(slot.role.id, slot.role.name),
                        f"made role {slot.role.name} mentionable",
                    )
                )
        if is_student and slot.role is not None and grant_student_role and slot.role.position >= top_position:
            manual.append(
                PlanItem(
                    f"the bot cannot give role {slot.role.name} ([onboarding] grant_student_role): it is not "
                    f"below the bot's highest role ({bot_role_name}); drag {bot_role_name} above it in "
                    "Server Settings → Roles"
                )
            )
    return role_items, manual
