"""`/group …` and `/ta group …` through discord.py and simcord: replies, DM buttons that survive a
restart, the autofill Confirm, locking, and the optional private channel and role per group."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

import discord
import pytest
import simcord
from sqlalchemy import func, select

from bot.clock import Clock
from bot.config import Config
from bot.db.models import AuditEntry, Group, GroupInvite, GroupMember, Notification
from bot.services import groups
from cogs.groups._views import AutofillConfirm
from tests.cogs.conftest import (
    Course,
    card_of,
    close_dms,
    course_server,
    dm_messages,
    embed_text,
    one_line,
    role_names,
)
from tests.conftest import seoul

LOCKED = "Groups are locked; ask the staff to move you (`/ta group move`)."
AFTER_PROPOSAL = seoul(2025, 4, 18, 23, 59)
CODE = re.compile(r"`([A-Z2-9]{6})`")


# ---- helpers ------------------------------------------------------------------------------------
def ta_log(course: Course) -> list[str]:
    return [m.content for m in course.channels["ta-log"].history()]


async def restart(course: Course) -> None:
    """Restart the bot and load the member list. (simcord answers the startup member chunking only
    after discord.py stopped waiting for it on Python 3.11, so the new bot would see no members.)"""
    await course.restart()
    guild = course.bot.course_guild
    assert guild is not None
    if not guild.chunked:
        await guild.chunk()


async def state(course: Course) -> tuple[object, ...]:
    async with course.bot.services.db.read() as session:
        return (
            (await session.execute(select(Group.name, Group.invite_code, Group.title, Group.locked))).all(),
            sorted((await session.execute(select(GroupMember.group_id, GroupMember.discord_id))).all()),
            (await session.execute(select(GroupInvite.id, GroupInvite.status))).all(),
            await session.scalar(select(func.count()).select_from(AuditEntry)),
        )


async def members_of(course: Course, name: str) -> set[str]:
    info = await groups.find_group(course.bot.services, name)
    names = {member.id: key for key, member in course.members.items()}
    return {names[m] for m in info.members}


async def create(course: Course, who: str, name: str) -> str:
    """`/group create` and return the invite code."""
    content = one_line(await course.members[who].slash(course.channel, "group create", name=name))
    return CODE.search(content).group(1)


async def invite(course: Course, inviter: str, invitee: str) -> str:
    return one_line(
        await course.members[inviter].slash(course.channel, "group invite", member=course.members[invitee])
    )


def on_its_way(course: Course, invitee: str) -> str:
    """The reply to `/group invite` (the DM goes through the outbox)."""
    expires = int((course.bot.services.now() + timedelta(hours=48)).timestamp())
    return (
        f"Invitation to {course.members[invitee].mention} is on its way by DM; it expires <t:{expires}:R>. "
        "If their DMs are closed, you get a DM with your invite code to share instead."
    )


async def invite_row(course: Course) -> tuple[str, str | None]:
    """(status, note) of the invitation's outbox row."""
    async with course.bot.services.db.read() as session:
        [row] = (
            await session.scalars(select(Notification).where(Notification.kind == groups.INVITE_KIND))
        ).all()
        return row.status, row.error


def hold_the_outbox(course: Course) -> list[float]:
    """The dispatcher runs only when the test says so; returns the wake-ups asked for."""
    woken: list[float] = []
    course.bot.dispatcher.wake = lambda delay=0.0: woken.append(delay)  # type: ignore[method-assign]
    return woken


# ---- create, join, info, list ----------------------------------------------------------------------
async def test_create_replies_with_the_invite_code(course: Course) -> None:
    result = await course.members["alice"].slash(course.channel, "group create", name="Sparse Squad")
    content = one_line(result)
    code = CODE.search(content).group(1)
    assert content.startswith("Created group Sparse Squad.")
    assert f"`/group join code:{code}`" in content
    assert await members_of(course, "Sparse Squad") == {"alice"}
    assert course.channel.history() == []  # nothing public


async def test_join_by_code_ignores_case_and_spaces(course: Course) -> None:
    code = await create(course, "alice", "Sparse Squad")
    alice, bob = course.members["alice"], course.members["bob"]
    reply = one_line(await bob.slash(course.channel, "group join", code=f" {code.lower()} "))
    assert reply == f"You joined group Sparse Squad: {alice.mention}, {bob.mention}."
    assert await members_of(course, "Sparse Squad") == {"alice", "bob"}


async def test_info_shows_the_code_only_to_members_and_staff(course: Course) -> None:
    code = await create(course, "alice", "Sparse Squad")
    await course.members["alice"].slash(course.channel, "group title", text="Pruning LLMs on a budget")
    mine = embed_text(card_of(await course.members["alice"].slash(course.channel, "group info")))
    assert "Group Sparse Squad" in mine and "Pruning LLMs on a budget" in mine
    assert f"`{code}`" in mine and "Members (1/3)" in mine
    assert code in embed_text(
        card_of(await course.members["ta"].slash(course.channel, "group info", name="sparse squad"))
    )
    outsider = embed_text(
        card_of(await course.members["bob"].slash(course.channel, "group info", name="Sparse Squad"))
    )
    assert "Group Sparse Squad" in outsider and code not in outsider and "Invite code" not in outsider
    none = one_line(await course.members["carol"].slash(course.channel, "group info"))
    assert none == "You are not in a group: `/group create` or `/group join`."
    unknown = one_line(await course.members["carol"].slash(course.channel, "group info", name="Nope"))
    assert "no group called `Nope`" in unknown


async def test_list_counts_students_without_a_group(course: Course) -> None:
    code = await create(course, "alice", "Sparse Squad")
    await course.members["bob"].slash(course.channel, "group join", code=code)
    await create(course, "ta", "Staff Only")  # staff are not counted as students
    course.add("dave")
    listing = await course.members["carol"].slash(course.channel, "group list")
    [card] = listing.response.embeds
    assert card.title == "Project groups (2)"
    assert "**Sparse Squad** (2/3)" in card.description and "**Staff Only** (1/3)" in card.description
    assert card.description.endswith("2 students without a group.")  # carol and dave


# ---- refusals: one line, nothing changed -----------------------------------------------------------
@pytest.mark.parametrize(
    ("who", "command", "options", "expected"),
    [
        (
            "alice",
            "group create",
            {"name": "Another"},
            "You are already in group Sparse Squad; `/group leave` first.",
        ),
        (
            "bob",
            "group create",
            {"name": "SPARSE squad"},
            "The name `SPARSE squad` is taken; choose another.",
        ),
        ("bob", "group create", {"name": "<@123> hack"}, "cannot contain mentions"),
        ("bob", "group create", {"name": "x" * 41}, "A group name must be 1–40 characters."),
        ("bob", "group create", {"name": "\u3164\u3164"}, "A group name needs at least one visible"),
        ("bob", "group create", {"name": "\u2800 \u200b\u0301"}, "A group name needs at least one visible"),
        ("bob", "group join", {"code": "ZZZZZZ"}, "No group has the invite code `ZZZZZZ`."),
        ("alice", "group invite", {"member": "alice"}, "You cannot invite yourself."),
        ("alice", "group invite", {"member": "carol"}, "They are already in a group."),
        ("bob", "group invite", {"member": "alice"}, "You are not in a group; `/group create` first."),
        ("bob", "group leave", {}, "You are not in a group."),
        ("alice", "group title", {"text": "x" * 201}, "A project title must be 1–200 characters."),
        ("alice", "group title", {"text": "\uffa0\ufeff"}, "A project title needs at least one visible"),
        ("bob", "group title", {"text": "Ours"}, "You are not in a group"),
    ],
)
async def test_bad_input_gets_one_line_and_changes_nothing(
    course: Course, who: str, command: str, options: dict[str, object], expected: str
) -> None:
    await create(course, "alice", "Sparse Squad")
    await create(course, "carol", "Quant Crew")
    options = {k: course.members[v] if k == "member" else v for k, v in options.items()}
    before = await state(course)
    reply = one_line(await course.members[who].slash(course.channel, command, **options))
    assert expected in reply
    assert await state(course) == before
    assert dm_messages(course, "alice") == [] and dm_messages(course, "carol") == []


async def test_a_full_group_refuses_a_fourth(course: Course) -> None:
    code = await create(course, "alice", "Sparse Squad")
    for name in ("bob", "carol"):
        await course.members[name].slash(course.channel, "group join", code=code)
    course.add("dave")
    before = await state(course)
    reply = one_line(await course.members["dave"].slash(course.channel, "group join", code=code))
    assert reply == "Group Sparse Squad is full (3 members)."
    assert await state(course) == before


async def test_leave_and_dissolve(course: Course) -> None:
    code = await create(course, "alice", "Sparse Squad")
    await course.members["bob"].slash(course.channel, "group join", code=code)
    assert one_line(await course.members["alice"].slash(course.channel, "group leave")) == (
        "You left group Sparse Squad."
    )
    assert one_line(await course.members["bob"].slash(course.channel, "group leave")) == (
        "You left group Sparse Squad; it was empty, so it is dissolved."
    )
    assert await groups.all_groups(course.bot.services) == []


# ---- invitations by DM ------------------------------------------------------------------------------
async def test_invite_accept_joins_and_tells_the_inviter(course: Course) -> None:
    await create(course, "alice", "Sparse Squad")
    assert await invite(course, "alice", "bob") == on_its_way(course, "bob")
    [dm] = dm_messages(course, "bob")
    assert f"{course.members['alice'].mention} invites you to project group Sparse Squad" in dm.content
    expires = int((seoul(2025, 3, 10, 11, 0) + timedelta(hours=48)).timestamp())
    assert f"<t:{expires}:R>" in dm.content
    assert [b.label for row in dm.components for b in row.children] == ["Accept", "Decline"]
    answer = await course.users["bob"].click(dm, label="Accept")
    assert one_line(answer) == "You joined group Sparse Squad."
    assert await members_of(course, "Sparse Squad") == {"alice", "bob"}
    assert [m.content for m in dm_messages(course, "alice")] == [
        f"{course.members['bob'].mention} accepted your invitation to group Sparse Squad."
    ]
    [dm] = dm_messages(course, "bob")
    assert dm.components == []  # the buttons are gone once answered


async def test_invite_decline(course: Course) -> None:
    await create(course, "alice", "Sparse Squad")
    await invite(course, "alice", "bob")
    [dm] = dm_messages(course, "bob")
    answer = await course.users["bob"].click(dm, label="Decline")
    assert one_line(answer) == "You declined the invitation to group Sparse Squad."
    assert await members_of(course, "Sparse Squad") == {"alice"}
    assert [m.content for m in dm_messages(course, "alice")] == [
        f"{course.members['bob'].mention} declined your invitation to group Sparse Squad."
    ]


async def test_an_invitation_older_than_48_hours_has_expired(course: Course, clock: Clock) -> None:
    await create(course, "alice", "Sparse Squad")
    await invite(course, "alice", "bob")
    [dm] = dm_messages(course, "bob")
    clock.advance(timedelta(hours=48, minutes=1))
    answer = await course.users["bob"].click(dm, label="Accept")
    assert "expired" in one_line(answer)
    assert await members_of(course, "Sparse Squad") == {"alice"}
    assert dm_messages(course, "alice") == []


async def test_the_dm_buttons_work_after_a_restart(course: Course) -> None:
    await create(course, "alice", "Sparse Squad")
    await invite(course, "alice", "bob")
    [dm] = dm_messages(course, "bob")
    await restart(course)
    answer = await course.users["bob"].click(dm, label="Accept")
    assert one_line(answer) == "You joined group Sparse Squad."
    assert await members_of(course, "Sparse Squad") == {"alice", "bob"}
    assert len(dm_messages(course, "alice")) == 1


async def test_someone_elses_invitation_cannot_be_answered(course: Course) -> None:
    await create(course, "alice", "Sparse Squad")
    await invite(course, "alice", "bob")
    [dm] = dm_messages(course, "bob")
    custom_id = dm.components[0].children[0].custom_id
    # carol gets a copy of the same button (e.g. a forwarded DM) and presses it
    bot_user = course.bot.get_user(course.users["carol"].id)
    await bot_user.send("copy", view=_view(dm))
    [copy] = dm_messages(course, "carol")
    before = await state(course)
    answer = await course.users["carol"].click(copy, custom_id=custom_id)
    assert "not addressed to you" in one_line(answer)
    assert await state(course) == before


def _view(message: discord.Message) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    for row in message.components:
        for button in row.children:
            view.add_item(discord.ui.Button(label=button.label, custom_id=button.custom_id))
    return view


async def test_closed_dms_withdraw_the_invitation_and_tell_the_inviter_the_code(course: Course) -> None:
    code = await create(course, "alice", "Sparse Squad")
    close_dms(course, "bob")
    assert await invite(course, "alice", "bob") == on_its_way(course, "bob")
    assert dm_messages(course, "bob") == []
    assert course.channels["bot-notices"].history() == []  # no buttons in public for an invitation
    bob = course.members["bob"].mention
    assert [m.content for m in dm_messages(course, "alice")] == [
        f"Your invitation to {bob} (group Sparse Squad) could not be delivered (their DMs are closed), so "
        f"it is withdrawn. Share your invite code instead: `{code}` (`/group join code:{code}`)."
    ]
    assert await invite_row(course) == (
        "skipped",
        "their DMs are closed: the invitation is withdrawn and the inviter told",
    )
    async with course.bot.services.db.read() as session:
        assert (await session.execute(select(GroupInvite.status))).scalars().all() == ["cancelled"]
        withdrawn = (
            await session.scalars(select(AuditEntry).where(AuditEntry.action == "group.invite_withdrawn"))
        ).all()
    assert [entry.target_id for entry in withdrawn] == [course.members["bob"].id]
    # the code works, and a new invitation is not blocked by the withdrawn one
    assert await invite(course, "alice", "bob") == on_its_way(course, "bob")
    await course.members["bob"].slash(course.channel, "group join", code=code)
    assert await members_of(course, "Sparse Squad") == {"alice", "bob"}


async def test_the_invitation_dm_is_planned_with_it_and_sent_once(course: Course) -> None:
    await create(course, "alice", "Sparse Squad")
    woken = hold_the_outbox(course)
    await invite(course, "alice", "bob")
    await course.env.settle()
    assert woken == [0.0] and dm_messages(course, "bob") == []  # planned, not sent by the command
    assert await invite_row(course) == ("pending", None)
    await course.bot.dispatcher.run()
    await course.bot.dispatcher.run()  # again: nothing twice
    [dm] = dm_messages(course, "bob")
    assert [b.label for row in dm.components for b in row.children] == ["Accept", "Decline"]
    assert await invite_row(course) == ("sent", None)
    answer = await course.users["bob"].click(dm, label="Accept")
    assert one_line(answer) == "You joined group Sparse Squad."


@pytest.mark.parametrize("before", ["answered", "dissolved"])
async def test_an_invitation_no_longer_open_when_its_dm_goes_out_is_skipped(
    course: Course, before: str
) -> None:
    await create(course, "alice", "Sparse Squad")
    hold_the_outbox(course)
    await invite(course, "alice", "bob")
    if before == "answered":  # a press on the button's custom id, from anywhere, before the DM
        [offer] = (await state(course))[2]
        await groups.answer_invite(
            course.bot.services,
            invite_id=offer[0],
            discord_id=course.members["bob"].id,
            discord_name="bob",
            accept=False,
        )
        reason = "the invitation was declined before it could be delivered"
    else:  # the inviter left: the group is dissolved with its invitations
        await course.members["alice"].slash(course.channel, "group leave")
        reason = "the invitation or its group is gone"
    await course.bot.dispatcher.run()
    assert dm_messages(course, "bob") == []
    assert await invite_row(course) == ("skipped", reason)


# ---- autofill -----------------------------------------------------------------------------------------
async def autofill_plan(course: Course) -> simcord.ResponseMessage:
    result = await course.members["ta"].slash(course.channel, "ta group autofill")
    assert result.ephemeral
    [plan] = result.followups if result.followups else [result.response]
    return plan


async def test_autofill_shows_a_plan_and_confirm_applies_it(course: Course) -> None:
    await create(course, "alice", "Sparse Squad")
    for name in ("dave", "erin", "frank", "grace"):
        course.add(name)
    plan = await autofill_plan(course)
    assert plan.content.startswith("6 students without a group would be placed:")
    assert "**Sparse Squad** (1 now): + " in plan.content and "**Team 1** (new)" in plan.content
    assert await members_of(course, "Sparse Squad") == {"alice"}  # nothing yet
    [button] = [c for row in plan.components for c in row["components"]]
    assert button["label"] == "Confirm"

    done = await course.members["ta"].click(plan, label="Confirm")
    assert one_line(done) == "Done: 6 students placed in 3 groups."
    infos = await groups.all_groups(course.bot.services)
    assert [(g.name, len(g.members)) for g in infos] == [("Sparse Squad", 3), ("Team 1", 2), ("Team 2", 2)]
    assert {m for g in infos for m in g.members} == {
        m.id for k, m in course.members.items() if k not in ("prof", "ta")
    }
    for name in ("bob", "carol", "dave", "erin", "frank", "grace"):
        [dm] = dm_messages(course, name)
        group = await groups.group_of(course.bot.services, course.members[name].id)
        assert dm.content.startswith(f"The staff placed you in project group {group.name} with ")
    assert dm_messages(course, "alice") == []
    assert ta_log(course)[-1] == f"{course.members['ta'].mention}: autofill placed 6 students in 3 groups"


async def test_autofill_with_everyone_placed_has_no_button(course: Course) -> None:
    code = await create(course, "alice", "Sparse Squad")
    for name in ("bob", "carol"):
        await course.members[name].slash(course.channel, "group join", code=code)
    plan = await autofill_plan(course)
    assert plan.content == "Everyone with the student role is already in a group; nothing to do."
    assert plan.components == []


async def test_confirm_after_a_restart_still_works(course: Course) -> None:
    course.add("dave")
    plan = await autofill_plan(course)
    await restart(course)
    done = await course.members["ta"].click(plan, label="Confirm")
    assert one_line(done) == "Done: 4 students placed in 2 groups."
    assert sorted(len(g.members) for g in await groups.all_groups(course.bot.services)) == [2, 2]


async def test_a_stale_confirm_changes_nothing(course: Course) -> None:
    plan = await autofill_plan(course)
    code = await create(course, "alice", "Sparse Squad")
    await course.members["bob"].slash(course.channel, "group join", code=code)
    before = await state(course)
    done = await course.members["ta"].click(plan, label="Confirm")
    assert one_line(done) == "Groups changed since that plan was made; run `/ta group autofill` again."
    assert await state(course) == before
    assert dm_messages(course, "carol") == []


async def test_students_cannot_autofill_or_confirm(course: Course) -> None:
    # a student whose server role shows them /ta is still refused by the bot
    mallory = course.add("mallory", "student", permissions=discord.Permissions(manage_guild=True))
    assert one_line(await mallory.slash(course.channel, "ta group autofill")) == (
        "Only the course staff (TA or instructor role) can do that."
    )
    plan = await groups.plan_autofill(course.bot.services, student_ids=[course.members["alice"].id])
    view = discord.ui.View(timeout=None)
    view.add_item(AutofillConfirm(plan.digest))
    # the button reaches a student somehow: in a channel, and in a DM
    await course.bot.get_channel(course.channel.id).send("plan", view=view)
    await course.bot.get_user(course.users["alice"].id).send("plan", view=view)
    before = await state(course)
    for message, clicker in (
        (course.channel.last_message, course.members["alice"]),
        (dm_messages(course, "alice")[-1], course.users["alice"]),
    ):
        refused = await clicker.click(message, label="Confirm")
        assert one_line(refused) == "Only the course staff (TA or instructor role) can do that."
    assert await state(course) == before


# ---- locking and staff moves -----------------------------------------------------------------------
async def test_after_the_proposal_deadline_students_cannot_change_groups(
    course: Course, clock: Clock
) -> None:
    code = await create(course, "alice", "Sparse Squad")
    await course.members["bob"].slash(course.channel, "group join", code=code)
    clock.set(AFTER_PROPOSAL)
    before = await state(course)
    attempts = [
        ("carol", "group create", {"name": "Late"}),
        ("carol", "group join", {"code": code}),
        ("bob", "group leave", {}),
        ("alice", "group invite", {"member": course.members["carol"]}),
        ("alice", "group title", {"text": "Too late"}),
    ]
    for who, command, options in attempts:
        assert one_line(await course.members[who].slash(course.channel, command, **options)) == LOCKED
    assert await state(course) == before
    assert dm_messages(course, "carol") == []
    info = embed_text(card_of(await course.members["alice"].slash(course.channel, "group info")))
    assert "Locked: only the staff can change this group." in info

    assert (
        one_line(await course.members["ta"].slash(course.channel, "ta group unlock"))
        == "All groups unlocked."
    )
    await course.members["carol"].slash(course.channel, "group join", code=code)
    assert await members_of(course, "Sparse Squad") == {"alice", "bob", "carol"}
    assert ta_log(course)[-1] == f"{course.members['ta'].mention}: unlocked all groups"


async def test_locking_one_group(course: Course) -> None:
    sparse = await create(course, "alice", "Sparse Squad")
    quant = await create(course, "bob", "Quant Crew")
    reply = one_line(await course.members["ta"].slash(course.channel, "ta group lock", name="Sparse Squad"))
    assert reply == "Group Sparse Squad locked: only `/ta group move` changes membership now."
    assert one_line(await course.members["carol"].slash(course.channel, "group join", code=sparse)) == LOCKED
    one_line(await course.members["carol"].slash(course.channel, "group join", code=quant))
    assert await members_of(course, "Quant Crew") == {"bob", "carol"}
    listing = (await course.members["carol"].slash(course.channel, "group list")).response.embeds[0]
    assert (
        "**Sparse Squad** (1/3) 🔒" in listing.description and "**Quant Crew** (2/3)\n" in listing.description
    )
    missing = one_line(await course.members["ta"].slash(course.channel, "ta group lock", name="Nope"))
    assert missing == "There is no group called `Nope`."


async def test_staff_move_works_on_locked_groups_but_not_into_a_full_one(
    course: Course, clock: Clock
) -> None:
    code = await create(course, "alice", "Sparse Squad")
    await course.members["bob"].slash(course.channel, "group join", code=code)
    await create(course, "carol", "Quant Crew")
    clock.set(AFTER_PROPOSAL + timedelta(days=1))
    ta = course.members["ta"]
    carol = course.members["carol"]
    reply = one_line(await ta.slash(course.channel, "ta group move", member=carol, group="sparse squad"))
    assert reply == f"Moved {carol.mention} out of Quant Crew (now dissolved) and into Sparse Squad."
    assert await members_of(course, "Sparse Squad") == {"alice", "bob", "carol"}
    assert [m.content for m in dm_messages(course, "carol")] == [
        "The staff moved you out of Quant Crew (now dissolved) and into Sparse Squad."
    ]
    course.add("dave")
    before = await state(course)
    full = one_line(
        await ta.slash(course.channel, "ta group move", member=course.members["dave"], group="Sparse Squad")
    )
    assert full == "Group Sparse Squad is full (3 members)."
    assert await state(course) == before
    out = one_line(await ta.slash(course.channel, "ta group move", member=carol))
    assert out == f"Moved {carol.mention} out of Sparse Squad."
    mallory = course.add("mallory", "student", permissions=discord.Permissions(manage_guild=True))
    student = one_line(await mallory.slash(course.channel, "ta group move", member=carol))
    assert student == "Only the course staff (TA or instructor role) can do that."


# ---- a private channel and a role per group -----------------------------------------------------------
@asynccontextmanager
async def channel_course(
    config: Config, clock: Clock, tmp_path: Path, *, bot_permissions: discord.Permissions | None = None
) -> AsyncIterator[Course]:
    """Like the `course` fixture, with `groups.create_channels` on and optionally other bot permissions."""
    config = config.model_copy(update={"groups": config.groups.model_copy(update={"create_channels": True})})
    members = [("ta", "ta"), ("alice", "student"), ("bob", "student"), ("carol", "student")]
    async with course_server(config, clock, tmp_path, members, bot_permissions=bot_permissions) as world:
        yield world


async def test_a_group_gets_a_private_channel_and_a_role(
    config: Config, clock: Clock, tmp_path: Path
) -> None:
    async with channel_course(config, clock, tmp_path) as course:
        code = await create(course, "alice", "Sparse Squad")
        info = await groups.find_group(course.bot.services, "Sparse Squad")
        channel = course.bot.get_channel(info.channel_id)
        assert channel.name == "group-sparse-squad" and channel.category.name == "Project Groups"
        role = course.bot.course_guild.get_role(info.role_id)
        assert role.name == "Group Sparse Squad"
        everyone = channel.overwrites_for(course.bot.course_guild.default_role)
        assert everyone.view_channel is False
        assert channel.overwrites_for(role).view_channel is True
        assert "Group Sparse Squad" in role_names(course, "alice")
        # the channel shows in /group info
        assert f"<#{info.channel_id}>" in embed_text(
            card_of(await course.members["alice"].slash(course.channel, "group info"))
        )

        await course.members["bob"].slash(course.channel, "group join", code=code)
        assert "Group Sparse Squad" in role_names(course, "bob")
        await course.members["bob"].slash(course.channel, "group leave")
        assert "Group Sparse Squad" not in role_names(course, "bob")

        await course.members["alice"].slash(course.channel, "group leave")
        assert "group-sparse-squad" not in course.guild.channels
        assert "Group Sparse Squad" not in course.guild.roles
        assert ta_log(course) == []


async def test_accept_and_autofill_give_the_role(config: Config, clock: Clock, tmp_path: Path) -> None:
    async with channel_course(config, clock, tmp_path) as course:
        await create(course, "alice", "Sparse Squad")
        await invite(course, "alice", "bob")
        [dm] = dm_messages(course, "bob")
        await course.users["bob"].click(dm, label="Accept")
        assert "Group Sparse Squad" in role_names(course, "bob")
        course.add("dave")
        plan = await autofill_plan(course)
        await course.members["ta"].click(plan, label="Confirm")
        assert "Group Sparse Squad" in role_names(course, "carol")
        assert "Group Team 1" in role_names(course, "dave") and "group-team-1" in course.guild.channels


async def test_without_manage_channels_the_group_still_forms(
    config: Config, clock: Clock, tmp_path: Path
) -> None:
    permissions = discord.Permissions.all()
    permissions.update(administrator=False, manage_channels=False)
    async with channel_course(config, clock, tmp_path, bot_permissions=permissions) as course:
        at_start = len(ta_log(course))  # the start-up check may already have warned
        code = await create(course, "alice", "Sparse Squad")
        await course.members["bob"].slash(course.channel, "group join", code=code)
        assert await members_of(course, "Sparse Squad") == {"alice", "bob"}
        info = await groups.find_group(course.bot.services, "Sparse Squad")
        assert (info.channel_id, info.role_id) == (None, None)
        assert ta_log(course)[at_start:] == [
            "⚠️ Could not create the channel of group Sparse Squad: the bot lacks Manage Channels / Manage Roles."
            " The group itself is fine."
        ]
        assert not any(name.startswith("group-") for name in course.guild.channels)
        assert "Group Sparse Squad" not in course.guild.roles  # no orphan role left behind
        await course.members["alice"].slash(course.channel, "group leave")
        await course.members["bob"].slash(course.channel, "group leave")
        assert len(ta_log(course)) == at_start + 1


async def test_autofill_dms_go_through_the_outbox_once_each(course: Course) -> None:
    course.add("dave")
    plan = await autofill_plan(course)
    woken: list[float] = []
    course.bot.dispatcher.wake = lambda delay=0.0: woken.append(delay)  # type: ignore[method-assign]
    done = await course.members["ta"].click(plan, label="Confirm")
    assert one_line(done) == "Done: 4 students placed in 2 groups."
    await course.env.settle()
    assert woken == [0.0]
    assert all(dm_messages(course, name) == [] for name in ("alice", "bob", "carol", "dave"))
    await course.bot.dispatcher.run()
    await course.bot.dispatcher.run()  # again: nothing twice
    for name in ("alice", "bob", "carol", "dave"):
        [dm] = dm_messages(course, name)
        assert dm.content.startswith("The staff placed you in project group Team ")
