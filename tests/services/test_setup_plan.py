"""`coursebot setup`'s planner: a plain snapshot of the server against the config, no Discord.

Besides the single cases, every test that expects fixable items also applies them to the snapshot
(as Discord would) and checks that a second plan finds nothing left for the bot.
"""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace
from typing import Any

import pytest

from bot.config import Config
from bot.setup_plan import (
    ADD_REACTIONS,
    ADMINISTRATOR,
    ATTACH_FILES,
    BOT,
    BOT_POSTS,
    EMBED_LINKS,
    EVERYONE,
    MANAGE_CHANNELS,
    MANAGE_EVENTS,
    MANAGE_GUILD,
    MANAGE_ROLES,
    MENTION_EVERYONE,
    READ_MESSAGE_HISTORY,
    SEND_MESSAGES,
    VIEW_CHANNEL,
    ChannelState,
    CreateChannel,
    CreateRole,
    EditRole,
    Overwrite,
    Plan,
    RoleState,
    ServerState,
    SetOverwrite,
    Target,
    channel_permissions,
    plan_setup,
)

GUILD, BOT_ID, BOT_ROLE = 1000, 9000, 9001
INSTRUCTOR, TA, STUDENT = 11, 12, 13
EVERYONE_PERMS = (
    VIEW_CHANNEL | SEND_MESSAGES | EMBED_LINKS | ATTACH_FILES | READ_MESSAGE_HISTORY | ADD_REACTIONS
)
BOT_NEEDS = BOT_POSTS | READ_MESSAGE_HISTORY | MANAGE_ROLES | MANAGE_CHANNELS


def server(
    roles: tuple[RoleState, ...] = (),
    channels: tuple[ChannelState, ...] = (),
    *,
    bot_permissions: int = ADMINISTRATOR,
    bot_position: int = 50,
    everyone: int = EVERYONE_PERMS,
) -> ServerState:
    base = (
        RoleState(GUILD, "@everyone", 0, everyone),
        RoleState(BOT_ROLE, "coursebot", bot_position, bot_permissions, managed=True),
    )
    return ServerState(
        GUILD, "EECE695D", base + roles, channels, BOT_ID, "coursebot", (BOT_ROLE,), application_id=BOT_ID
    )


def course_roles(*, mentionable: bool = True, student_position: int = 3) -> tuple[RoleState, ...]:
    return (
        RoleState(INSTRUCTOR, "Instructor", 5),
        RoleState(TA, "TA", 4),
        RoleState(STUDENT, "Student", student_position, mentionable=mentionable),
    )


def role_ow(role_id: int, allow: int = 0, deny: int = 0) -> Overwrite:
    return Overwrite(role_id, True, allow, deny)


def bot_ow() -> Overwrite:
    return Overwrite(BOT_ID, False, BOT_POSTS, 0)


def course_channels(**replace: tuple[Overwrite, ...]) -> tuple[ChannelState, ...]:
    """The three channels as `coursebot setup` makes them; keyword arguments replace overwrites."""
    contract = {
        "announcements": (role_ow(GUILD, deny=SEND_MESSAGES), bot_ow()),
        "ta_log": (
            role_ow(GUILD, deny=VIEW_CHANNEL),
            role_ow(INSTRUCTOR, VIEW_CHANNEL),
            role_ow(TA, VIEW_CHANNEL),
            bot_ow(),
        ),
        "fallback": (bot_ow(),),
    }
    contract.update(replace)
    return (
        ChannelState(21, "general"),
        ChannelState(22, "announcements", overwrites=contract["announcements"]),
        ChannelState(23, "ta-log", overwrites=contract["ta_log"]),
        ChannelState(24, "bot-notices", overwrites=contract["fallback"]),
    )


def with_settings(config: Config, **sections: Any) -> Config:
    """The config with some sections' keys changed (sections that do not exist yet may be added)."""
    update = {}
    for name, values in sections.items():
        section = getattr(config, name, None)
        update[name] = (
            section.model_copy(update=values) if hasattr(section, "model_copy") else SimpleNamespace(**values)
        )
    return config.model_copy(update=update)


def with_refs(
    config: Config, *, roles: dict[str, str] | None = None, channels: dict[str, str] | None = None
) -> Config:
    discord = config.discord.model_copy(
        update={
            "roles": config.discord.roles.model_copy(update=roles or {}),
            "channels": config.discord.channels.model_copy(update=channels or {}),
        }
    )
    return config.model_copy(update={"discord": discord})


def lines(plan: Plan) -> list[str]:
    return [item.line for item in plan.items]


def simulate(config: Config, state: ServerState, plan: Plan) -> ServerState:
    """Apply the plan's fixable actions to the snapshot the way Discord would."""
    roles = list(state.roles)
    channels = {c.id: c for c in state.channels}
    created: dict[str, int] = {}
    next_id = 5000

    def target_id(target: Target) -> tuple[int, bool]:
        if target == EVERYONE:
            return GUILD, True
        if target == BOT:
            return BOT_ID, False
        if target.kind == "course_role":
            if target.key in created:
                return created[target.key], True
            reference = str(getattr(config.discord.roles, target.key))
            return next(r.id for r in roles if reference in (str(r.id), r.name)), True
        return target.id, target.kind == "role"

    for item in plan.fixable:
        action = item.action
        next_id += 1
        if isinstance(action, CreateRole):
            roles.append(RoleState(next_id, action.name, 1, 0, action.mentionable))
            created[action.key] = next_id
        elif isinstance(action, EditRole):
            roles = [dataclasses.replace(r, mentionable=True) if r.id == action.role_id else r for r in roles]
        elif isinstance(action, CreateChannel):
            overwrites = tuple(Overwrite(*target_id(o.target), o.allow, o.deny) for o in action.overwrites)
            channels[next_id] = ChannelState(next_id, action.name, overwrites=overwrites)
        elif isinstance(action, SetOverwrite):
            tid, is_role = target_id(action.target)
            channel = channels[action.channel_id]
            kept = tuple(o for o in channel.overwrites if o.target_id != tid)
            new = (Overwrite(tid, is_role, action.allow, action.deny),) if action.allow or action.deny else ()
            channels[action.channel_id] = dataclasses.replace(channel, overwrites=kept + new)
    return dataclasses.replace(state, roles=tuple(roles), channels=tuple(channels.values()))


def assert_converges(config: Config, state: ServerState, plan: Plan) -> None:
    again = plan_setup(config, simulate(config, state, plan))
    assert again.fixable == (), lines(again)
    assert [i.line for i in again.manual] == [i.line for i in plan.manual]


def effective(state: ServerState, channel: ChannelState, role_ids: tuple[int, ...]) -> int:
    """A member's permissions in a channel, computed from the snapshot (role targets by id)."""
    overwrites = {
        (EVERYONE if o.target_id == GUILD else Target("role", id=o.target_id)): (o.allow, o.deny)
        for o in channel.overwrites
        if o.is_role
    }
    base = state.everyone_permissions
    for role_id in role_ids:
        role = state.role(role_id)
        base |= role.permissions if role else 0
    return channel_permissions(base, overwrites, [Target("role", id=r) for r in role_ids], None)


# ---- an empty server, a complete one ---------------------------------------------------------------
def test_an_empty_server_gets_the_three_roles_and_the_three_channels(config: Config) -> None:
    state = server(channels=(ChannelState(21, "general"),))
    plan = plan_setup(config, state)

    assert lines(plan) == [
        "create role Instructor",
        "create role TA",
        "create role Student (mentionable: announcement pings use it)",
        "create channel #announcements: @everyone deny Send Messages; "
        "coursebot allow View Channel, Send Messages, Embed Links, Attach Files",
        "create channel #ta-log: @everyone deny View Channel; Instructor allow View Channel; "
        "TA allow View Channel; coursebot allow View Channel, Send Messages, Embed Links, Attach Files",
        "create channel #bot-notices: coursebot allow View Channel, Send Messages, Embed Links, Attach Files",
    ]
    assert all(item.fixable for item in plan.items)
    roles = [item.action for item in plan.items if isinstance(item.action, CreateRole)]
    assert [(r.key, r.mentionable) for r in roles] == [
        ("instructor", False),
        ("ta", False),
        ("student", True),
    ]
    assert [item.done for item in plan.items][:3] == [
        "created role Instructor",
        "created role TA",
        "created role Student",
    ]
    assert any("Integrations → coursebot → /ta → add the TA and Instructor roles" in n for n in plan.notes)

    after = simulate(config, state, plan)
    channels = {c.name: c for c in after.channels}
    student = next(r.id for r in after.roles if r.name == "Student")
    staff = tuple(r.id for r in after.roles if r.name in ("Instructor", "TA"))
    assert not effective(after, channels["ta-log"], (student,)) & VIEW_CHANNEL
    assert all(effective(after, channels["ta-log"], (role,)) & VIEW_CHANNEL for role in staff)
    assert effective(after, channels["announcements"], (student,)) & VIEW_CHANNEL
    assert not effective(after, channels["announcements"], (student,)) & SEND_MESSAGES
    assert effective(after, channels["bot-notices"], (student,)) & VIEW_CHANNEL
    assert_converges(config, state, plan)


def test_a_complete_server_has_nothing_to_do(config: Config) -> None:
    plan = plan_setup(config, server(course_roles(), course_channels()))
    assert plan.items == ()


def test_staff_roles_with_manage_server_need_no_note_about_ta(config: Config) -> None:
    roles = (
        RoleState(INSTRUCTOR, "Instructor", 5, ADMINISTRATOR),
        RoleState(TA, "TA", 4, MANAGE_GUILD),
        RoleState(STUDENT, "Student", 3, mentionable=True),
    )
    assert plan_setup(config, server(roles, course_channels())).notes == ()
    assert plan_setup(config, server(course_roles(), course_channels())).notes != ()


def test_a_server_without_view_for_everyone_lets_students_read_through_their_role(config: Config) -> None:
    state = server(course_roles(), course_channels(), everyone=0)
    plan = plan_setup(config, state)
    assert (
        "set overwrite on #announcements: Student allow View Channel (students cannot read it now)"
        in lines(plan)
    )
    assert "set overwrite on #bot-notices: Student allow View Channel (students cannot read it now)" in lines(
        plan
    )
    assert not any("#ta-log" in line for line in lines(plan))
    assert_converges(config, state, plan)


# ---- ta-log's privacy, announcements read-only -------------------------------------------------------
def test_ta_log_readable_by_everyone_is_fixed_as_a_privacy_problem(config: Config) -> None:
    state = server(course_roles(), course_channels(ta_log=()))
    plan = plan_setup(config, state)
    assert lines(plan) == [
        "set overwrite on #ta-log: @everyone deny View Channel (every member can read it now: a privacy problem)",
        "set overwrite on #ta-log: Instructor allow View Channel (Instructor cannot read it now)",
        "set overwrite on #ta-log: TA allow View Channel (TA cannot read it now)",
    ]
    first = plan.items[0]
    assert first.done == "set overwrite on #ta-log: @everyone deny View Channel"
    assert first.action == SetOverwrite(23, "ta-log", EVERYONE, "@everyone", 0, VIEW_CHANNEL)
    assert_converges(config, state, plan)


def test_a_student_role_allowed_into_ta_log_loses_that_allow(config: Config) -> None:
    ta_log = (
        *course_channels()[2].overwrites,
        role_ow(STUDENT, VIEW_CHANNEL),
        role_ow(777, VIEW_CHANNEL | SEND_MESSAGES),
    )
    roles = (*course_roles(), RoleState(777, "Guests", 2))
    state = server(roles, course_channels(ta_log=ta_log))
    plan = plan_setup(config, state)
    assert lines(plan) == [
        "set overwrite on #ta-log: Student drop allow View Channel (Student can read it now: a privacy problem)",
        "set overwrite on #ta-log: Guests drop allow View Channel (Guests can read it now: a privacy problem)",
    ]
    student, guests = (item.action for item in plan.items)
    assert isinstance(student, SetOverwrite) and (student.allow, student.deny) == (0, 0)  # removed
    assert isinstance(guests, SetOverwrite) and (guests.allow, guests.deny) == (SEND_MESSAGES, 0)
    assert_converges(config, state, plan)


def test_announcements_where_members_can_post_is_made_read_only(config: Config) -> None:
    state = server(course_roles(), course_channels(announcements=(role_ow(STUDENT, SEND_MESSAGES),)))
    plan = plan_setup(config, state)
    assert lines(plan) == [
        "set overwrite on #announcements: @everyone deny Send Messages (members can post there now)",
        "set overwrite on #announcements: Student drop allow Send Messages (students can post there now)",
    ]
    assert_converges(config, state, plan)


def test_the_bot_shut_out_of_a_channel_gets_its_own_overwrite(config: Config) -> None:
    perms = BOT_NEEDS | MENTION_EVERYONE
    state = server(
        course_roles(), course_channels(fallback=(role_ow(GUILD, deny=SEND_MESSAGES),)), bot_permissions=perms
    )
    plan = plan_setup(config, state)
    assert lines(plan) == [
        "set overwrite on #bot-notices: coursebot allow View Channel, Send Messages, Embed Links, Attach Files "
        "(the bot cannot post there now)"
    ]
    assert_converges(config, state, plan)


# ---- the student role must be mentionable -------------------------------------------------------------
def test_a_student_role_that_is_not_mentionable_is_made_mentionable(config: Config) -> None:
    state = server(course_roles(mentionable=False), course_channels(), bot_permissions=BOT_NEEDS)
    plan = plan_setup(config, state)
    assert lines(plan) == ["make role Student mentionable (announcement pings use it)"]
    assert plan.items[0].action == EditRole(STUDENT, "Student")
    assert_converges(config, state, plan)


def test_a_bot_that_may_mention_everyone_does_not_need_a_mentionable_role(config: Config) -> None:
    state = server(
        course_roles(mentionable=False), course_channels(), bot_permissions=BOT_NEEDS | MENTION_EVERYONE
    )
    assert plan_setup(config, state).items == ()


def test_a_student_role_above_the_bot_cannot_be_made_mentionable_by_it(config: Config) -> None:
    roles = course_roles(mentionable=False, student_position=60)
    plan = plan_setup(config, server(roles, course_channels(), bot_permissions=BOT_NEEDS))
    assert len(plan.items) == 1 and not plan.items[0].fixable
    assert "Student is not mentionable and not below the bot's highest role (coursebot)" in plan.items[0].line


# ---- references by id, odd names ------------------------------------------------------------------------
def test_a_role_given_by_a_missing_id_cannot_be_created(config: Config) -> None:
    state = server(
        course_roles()[:1] + course_roles()[2:],
        course_channels(ta_log=(*course_channels()[2].overwrites[:2], bot_ow())),
    )
    plan = plan_setup(with_refs(config, roles={"ta": "424242"}), state)
    assert lines(plan) == [
        "role ta: no role has id 424242 on the server (a role given by id cannot be created): create the role "
        "and put its id in [discord.roles] ta, or use a name"
    ]
    assert plan.fixable == ()


def test_references_by_id_find_the_existing_roles_and_channels(config: Config) -> None:
    roles = (
        RoleState(INSTRUCTOR, "Prof", 5),
        RoleState(TA, "Assistants", 4),
        RoleState(STUDENT, "Class", 3, mentionable=True),
    )
    channels = course_channels()
    state = server(roles, tuple(dataclasses.replace(c, name=f"x-{c.name}") for c in channels))
    refs = with_refs(
        config,
        roles={"instructor": str(INSTRUCTOR), "ta": str(TA), "student": str(STUDENT)},
        channels={"announcements": "22", "ta_log": "23", "fallback": "24"},
    )
    assert plan_setup(refs, state).items == ()


def test_a_channel_given_by_a_missing_id_or_a_voice_channel_is_explained(config: Config) -> None:
    state = server(course_roles(), (*course_channels(), ChannelState(30, "lounge", is_text=False)))
    plan = plan_setup(with_refs(config, channels={"announcements": "31", "fallback": "30"}), state)
    assert lines(plan) == [
        "channel announcements: no channel has id 31 on the server (a channel given by id cannot be created): "
        "create it and put its id in [discord.channels] announcements, or use a name",
        "channel fallback: #lounge (30) is not a text channel: give a text channel in [discord.channels] fallback",
    ]


def test_a_channel_name_with_spaces_is_refused_before_discord_renames_it(config: Config) -> None:
    plan = plan_setup(
        with_refs(config, channels={"ta_log": "TA Log"}), server(course_roles(), course_channels())
    )
    assert lines(plan) == [
        "channel ta_log: Discord names text channels in lower case without spaces, so 'TA Log' would become "
        "#ta-log: put 'ta-log' in [discord.channels] ta_log"
    ]


def test_ta_log_sharing_a_channel_with_the_fallback_is_refused(config: Config) -> None:
    plan = plan_setup(
        with_refs(config, channels={"fallback": "ta-log"}), server(course_roles(), course_channels())
    )
    assert [item.line for item in plan.manual] == [
        "[discord.channels] ta_log and fallback name the same channel (ta-log): ta-log is for the staff only, "
        "so give the others a channel of their own"
    ]
    assert plan.fixable == ()  # ta-log stays private


# ---- the bot's own permissions, and the features that need them ---------------------------------------------
def test_missing_bot_permissions_are_listed_and_block_what_needs_them(config: Config) -> None:
    state = server(
        channels=(ChannelState(21, "general"),),
        bot_permissions=VIEW_CHANNEL | SEND_MESSAGES,
        everyone=VIEW_CHANNEL | SEND_MESSAGES,
    )
    plan = plan_setup(config, state)
    manual = [item.line for item in plan.manual if item.action is None]
    assert [line.split(" (")[0] for line in manual] == [
        "the bot lacks Embed Links",
        "the bot lacks Attach Files",
        "the bot lacks Read Message History",
        "the bot lacks Manage Roles",
        "the bot lacks Manage Channels",
    ]
    assert (
        "the bot lacks Manage Roles (to create the roles): give the role coursebot this permission in Server "
        "Settings → Roles, or re-invite the bot with the link below" in manual
    )
    assert plan.fixable == ()
    blocked = [item for item in plan.items if item.action is not None]
    assert [item.blocked_by for item in blocked] == ["Manage Roles"] * 3 + ["Manage Channels"] * 3
    assert blocked[0].line == "create role Instructor (once the bot has Manage Roles)"
    invite = next(note for note in plan.notes if note.startswith("Invite link"))
    assert f"client_id={BOT_ID}" in invite and f"guild_id={GUILD}" in invite
    assert f"permissions={BOT_NEEDS}&" in invite


def test_a_complete_server_needs_no_manage_permissions_while_the_features_are_off(config: Config) -> None:
    state = server(
        course_roles(), course_channels(), bot_permissions=BOT_POSTS | READ_MESSAGE_HISTORY | MENTION_EVERYONE
    )
    assert plan_setup(config, state).items == ()


def test_features_that_are_on_add_the_permissions_they_need(config: Config) -> None:
    perms = BOT_POSTS | READ_MESSAGE_HISTORY | MENTION_EVERYONE
    state = server(course_roles(), course_channels(), bot_permissions=perms)
    on = with_settings(
        config,
        onboarding={"grant_student_role": True},
        groups={"create_channels": True},
        calendar={"scheduled_events": True},
    )
    assert [line.split(": give")[0] for line in lines(plan_setup(on, state))] == [
        "the bot lacks Manage Roles (to give the student role at /register ([onboarding] grant_student_role), "
        "to give group roles ([groups] create_channels))",
        "the bot lacks Manage Channels (to create group channels ([groups] create_channels))",
        "the bot lacks Manage Events (for Scheduled Events ([calendar] scheduled_events))",
    ]
    with_all = server(
        course_roles(),
        course_channels(),
        bot_permissions=perms | MANAGE_ROLES | MANAGE_CHANNELS | MANAGE_EVENTS,
    )
    assert plan_setup(on, with_all).items == ()


@pytest.mark.parametrize("grant", [True, False])
def test_a_student_role_above_the_bot_is_a_problem_only_when_the_bot_gives_it(
    config: Config, grant: bool
) -> None:
    state = server(course_roles(student_position=60), course_channels())
    plan = plan_setup(with_settings(config, onboarding={"grant_student_role": grant}), state)
    expected = [
        "the bot cannot give role Student ([onboarding] grant_student_role): it is not below the bot's highest "
        "role (coursebot); drag coursebot above it in Server Settings → Roles"
    ]
    assert lines(plan) == (expected if grant else [])
