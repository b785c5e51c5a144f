"""The plan's vocabulary: whom an overwrite is for (`Target`, symbolic, because a course role created
in the same run has no id yet when the plan is made), the actions that fix something
(`CreateRole`, `EditRole`, `CreateChannel`, `SetOverwrite`), and the `Plan` of `PlanItem`s, each with
the line to show."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Target:
    """Whom an overwrite is for: @everyone, the bot, a course role (by config key), another role
    or a member (by id)."""

    kind: str  # "everyone" | "bot" | "course_role" | "role" | "member"
    key: str = ""
    id: int = 0


EVERYONE = Target("everyone")
BOT = Target("bot")


@dataclass(frozen=True)
class CreateRole:
    key: str
    name: str
    mentionable: bool


@dataclass(frozen=True)
class EditRole:
    role_id: int
    name: str
    mentionable: bool = True


@dataclass(frozen=True)
class OverwriteSpec:
    target: Target
    allow: int
    deny: int


@dataclass(frozen=True)
class CreateChannel:
    keys: tuple[str, ...]
    name: str
    topic: str
    overwrites: tuple[OverwriteSpec, ...]


@dataclass(frozen=True)
class SetOverwrite:
    """Set `target`'s overwrite on a channel to exactly allow/deny; both 0 removes it."""

    channel_id: int
    channel_name: str
    target: Target
    target_name: str
    allow: int
    deny: int


Action = CreateRole | EditRole | CreateChannel | SetOverwrite


@dataclass(frozen=True)
class PlanItem:
    """One thing that differs from the config. `action` is None when a person must do it;
    `blocked_by` names the server permission the bot needs before it can apply `action`."""

    line: str
    action: Action | None = None
    done: str = ""
    blocked_by: str = ""

    @property
    def fixable(self) -> bool:
        return self.action is not None and not self.blocked_by


@dataclass(frozen=True)
class Plan:
    items: tuple[PlanItem, ...]
    notes: tuple[str, ...] = ()

    @property
    def fixable(self) -> tuple[PlanItem, ...]:
        return tuple(item for item in self.items if item.fixable)

    @property
    def manual(self) -> tuple[PlanItem, ...]:
        return tuple(item for item in self.items if not item.fixable)
