"""Onboarding through discord.py and simcord: `/register` giving the student role (roster-checked,
mismatches shown in ta-log, Discord refusing the role), and the welcome DM for a member who joins,
sent through the outbox."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import discord
from sqlalchemy import select

from bot.clock import Clock
from bot.config import Config
from bot.db.models import AuditEntry, Notification
from bot.services.students import get_student
from tests.cogs.conftest import GUILD_ID, Course, course_server, dms, reply_text, role_names

WELCOME_START = "👋 Welcome to **EECE695D: Efficient ML Systems** (Spring 2025)!"


@asynccontextmanager
async def onboarding_course(
    config: Config,
    clock: Clock,
    tmp_path: Path,
    *,
    grant: bool = True,
    welcome: bool = True,
    bot_permissions: discord.Permissions | None = None,
) -> AsyncIterator[Course]:
    """A course server with `[onboarding]` set as given; dave and erin have joined without a role."""
    flags = {"grant_student_role": grant, "welcome_dm": welcome}
    config = config.model_copy(update={"onboarding": config.onboarding.model_copy(update=flags)})
    members = [("ta", "ta"), ("alice", "student"), ("dave", None), ("erin", None)]
    async with course_server(config, clock, tmp_path, members, bot_permissions=bot_permissions) as world:
        await world.env.settle()
        yield world


# ---- helpers -----------------------------------------------------------------------------------
def ta_log(course: Course) -> list[str]:
    return [m.content for m in course.channels["ta-log"].history()]


def role_requests(course: Course) -> list[str]:
    return [r.path for r in course.env.http_requests if r.method == "PUT" and "/roles/" in r.path]


async def register(course: Course, who: str, student_id: str, name: str) -> str:
    return reply_text(
        await course.members[who].slash(course.channel, "register", student_id=student_id, name=name)
    )


async def actions(course: Course, prefix: str = "onboarding.r") -> list[tuple[str, int | None]]:
    """The onboarding audit rows (by default about roles: role_granted, role_failed)."""
    async with course.bot.services.db.read() as session:
        rows = (
            await session.scalars(
                select(AuditEntry).where(AuditEntry.action.startswith(prefix)).order_by(AuditEntry.id)
            )
        ).all()
        return [(row.action, row.target_id) for row in rows]


async def import_roster(course: Course) -> None:
    alice = course.members["alice"]
    data = (
        f"student_id,name,discord\n20250001,Alice Kim,{alice.id}\n20250004,Dave Choi,\n20250005,Erin Yoon,\n"
    ).encode()
    result = await course.members["ta"].slash(course.channel, "ta roster import", file=("roster.csv", data))
    assert reply_text(result).startswith("Roster imported: 3 students, 1 linked")


async def deliver(course: Course) -> None:
    """Send whatever is due now: wait for a background run of the dispatcher, then run once more."""
    dispatcher = course.bot.dispatcher
    async with dispatcher._lock:
        pass
    await dispatcher.run()
    await course.env.settle()


# ---- /register gives the student role ----------------------------------------------------------
async def test_register_gives_the_student_role(config: Config, clock: Clock, tmp_path: Path) -> None:
    async with onboarding_course(config, clock, tmp_path) as course:
        text = await register(course, "dave", "20251234", "Dave Choi")  # no roster: any valid id
        assert text == (
            "Registered: `20251234` · Dave Choi. Re-run `/register` to correct it.\n"
            "You now have the **Student** role."
        )
        assert "Student" in role_names(course, "dave")
        student = await get_student(course.bot.services, course.members["dave"].id)
        assert student is not None and student.has_student_role
        assert await actions(course) == [("onboarding.role_granted", course.members["dave"].id)]
        # correcting the registration: the role is there already, so nothing more happens
        cursor = len(role_requests(course))
        text = await register(course, "dave", "20251235", "Dave Choi")
        assert text == "Registration updated: `20251235` · Dave Choi (was `20251234` · Dave Choi)."
        assert role_requests(course)[cursor:] == []
        assert ta_log(course) == []


async def test_staff_and_role_holders_get_nothing_more(config: Config, clock: Clock, tmp_path: Path) -> None:
    async with onboarding_course(config, clock, tmp_path) as course:
        assert await register(course, "ta", "20259999", "Hyunjong Ok") == (
            "Registered: `20259999` · Hyunjong Ok. Re-run `/register` to correct it."
        )
        assert "Student" not in role_names(course, "ta")
        assert await register(course, "alice", "20251111", "Alice Kim") == (
            "Registered: `20251111` · Alice Kim. Re-run `/register` to correct it."
        )
        assert role_requests(course) == []
        assert await actions(course) == []


async def test_a_roster_mismatch_gives_no_role_and_tells_the_staff(
    config: Config, clock: Clock, tmp_path: Path
) -> None:
    async with onboarding_course(config, clock, tmp_path) as course:
        await import_roster(course)
        before = len(ta_log(course))
        alice, dave, erin = course.members["alice"], course.members["dave"], course.members["erin"]

        text = await register(course, "erin", "20259999", "Erin Yoon")  # not on the roster
        assert text == (
            "Student id `20259999` is not on the class roster, so you are not registered. The staff "
            "were told; ask them (or check the id and run `/register` again)."
        )
        text = await register(course, "erin", "20250001", "Alice Kim")  # alice's row
        assert "linked to another Discord account on the roster, so you are not registered" in text
        text = await register(course, "dave", "20250004", "David Kim")  # his id, another name
        assert text == (
            "Registered: `20250004` · David Kim. Re-run `/register` to correct it.\n"
            "Your name does not match the class roster for this id, so you did not get the student "
            "role yet. The staff were told; ask them."
        )
        assert ta_log(course)[before:] == [
            f"⚠️ Roster mismatch: {erin.mention} registered as `20259999` · Erin Yoon, but `20259999` "
            "is not on the roster (refused).",
            f"⚠️ Roster mismatch: {erin.mention} registered as `20250001` · Alice Kim, but the roster "
            f"links `20250001` (Alice Kim) to {alice.mention} (refused).",
            f"⚠️ Roster mismatch: {dave.mention} registered as `20250004` · David Kim, but the roster "
            "has `20250004` as Dave Choi (registered, no student role given).",
        ]
        assert "Student" not in role_names(course, "dave") and "Student" not in role_names(course, "erin")
        assert role_requests(course) == []
        erin_record = await get_student(course.bot.services, erin.id)
        assert erin_record is None or erin_record.student_id is None
        assert await actions(course, "onboarding.m") == [
            ("onboarding.mismatch", erin.id),
            ("onboarding.mismatch", erin.id),
            ("onboarding.mismatch", dave.id),
        ]
        # on the roster with its name: the role
        text = await register(course, "erin", "20250005", "erin yoon")
        assert text.endswith("You now have the **Student** role.")
        assert "Student" in role_names(course, "erin")


async def test_with_the_flag_off_register_gives_no_role(config: Config, clock: Clock, tmp_path: Path) -> None:
    async with onboarding_course(config, clock, tmp_path, grant=False, welcome=False) as course:
        assert await register(course, "dave", "20251234", "Dave Choi") == (
            "Registered: `20251234` · Dave Choi. Re-run `/register` to correct it."
        )
        assert "Student" not in role_names(course, "dave")
        await import_roster(course)
        before = len(ta_log(course))
        text = await register(course, "erin", "20259999", "Erin Yoon")
        assert text == "Student id `20259999` is not on the class roster; check it, or ask the staff."
        assert ta_log(course)[before:] == []
        assert role_requests(course) == [] and await actions(course, "onboarding.") == []


async def test_without_manage_roles_registration_works_and_staff_hear_once(
    config: Config, clock: Clock, tmp_path: Path
) -> None:
    permissions = discord.Permissions.all()
    permissions.update(administrator=False, manage_roles=False)
    async with onboarding_course(config, clock, tmp_path, bot_permissions=permissions) as course:
        before = len(ta_log(course))
        for who, student_id, name in (("dave", "20251234", "Dave Choi"), ("erin", "20251235", "Erin Yoon")):
            text = await register(course, who, student_id, name)
            assert text == (
                f"Registered: `{student_id}` · {name}. Re-run `/register` to correct it.\n"
                "The bot could not give you the **Student** role; the staff were told and will give it to you."
            )
            student = await get_student(course.bot.services, course.members[who].id)
            assert student is not None and student.student_id == student_id and not student.has_student_role
            assert "Student" not in role_names(course, who)
        assert ta_log(course)[before:] == [
            "⚠️ `/register` could not give the **Student** role: the bot lacks the Manage Roles permission; "
            "give it to the bot's role. Registrations still work; give the role by hand until this is fixed."
        ]
        dave, erin = course.members["dave"], course.members["erin"]
        assert await actions(course) == [
            ("onboarding.role_failed", dave.id),
            ("onboarding.role_failed", erin.id),
        ]


async def test_a_student_role_above_the_bot_is_named_as_the_fix(
    config: Config, clock: Clock, tmp_path: Path
) -> None:
    async with onboarding_course(config, clock, tmp_path) as course:
        course.env.backend.edit_role(GUILD_ID, course.roles["student"].id, {"position": 50})
        await course.env.settle()
        text = await register(course, "dave", "20251234", "Dave Choi")
        assert text.endswith("the staff were told and will give it to you.")
        [line] = [line for line in ta_log(course) if "could not give" in line]
        assert "the **Student** role is above the bot's highest role" in line
        assert "drag the bot's role above Student" in line


# ---- the welcome DM ----------------------------------------------------------------------------
async def test_a_new_member_gets_the_welcome_dm_once(config: Config, clock: Clock, tmp_path: Path) -> None:
    async with onboarding_course(config, clock, tmp_path) as course:
        frank = course.add("frank", None)
        await course.env.settle()
        await deliver(course)
        [welcome] = dms(course, "frank")
        assert welcome.startswith(WELCOME_START)
        assert "`/register student_id:20251234 name:Your Name`" in welcome
        # leaving and joining again: no second welcome
        course.guild.remove_member(frank)
        await course.env.settle()
        course.members["frank"] = course.guild.add_member(course.users["frank"])
        await course.env.settle()
        await deliver(course)
        assert len(dms(course, "frank")) == 1
        # the members who joined at the start were welcomed too (with the role or not), the staff not
        assert (len(dms(course, "dave")), len(dms(course, "alice")), dms(course, "ta")) == (1, 1, [])
        assert ("onboarding.welcome_planned", frank.id) in await actions(course, "onboarding.w")


async def test_closed_dms_fall_back_to_a_mention(config: Config, clock: Clock, tmp_path: Path) -> None:
    async with onboarding_course(config, clock, tmp_path) as course:
        await deliver(course)  # the members of the start
        grace_user = course.env.create_user("grace")
        course.env.inject_error(
            "POST",
            f"/channels/{grace_user.dm_channel.id}/messages",
            status=403,
            code=50007,
            message="Cannot send messages to this user",
        )
        grace = course.guild.add_member(grace_user)
        await course.env.settle()
        await deliver(course)
        [notice] = [m.content for m in course.channels["bot-notices"].history()]
        assert notice.startswith(f"<@{grace.id}> (your DMs are closed) {WELCOME_START}")
        async with course.bot.services.db.read() as session:
            row = await session.scalar(select(Notification).where(Notification.user_id == grace.id))
            assert row is not None and (row.status, row.fallback) == ("sent", True)


async def test_no_welcome_when_off(config: Config, clock: Clock, tmp_path: Path) -> None:
    async with onboarding_course(config, clock, tmp_path, welcome=False) as course:
        course.add("frank", None)
        await course.env.settle()
        await deliver(course)
        assert dms(course, "frank") == [] and dms(course, "dave") == []
        assert await actions(course, "onboarding.") == []


async def test_no_welcome_for_bots(config: Config, clock: Clock, tmp_path: Path) -> None:
    async with onboarding_course(config, clock, tmp_path) as course:
        helper = course.env.create_user("otherbot", bot=True)
        course.guild.add_member(helper)
        await course.env.settle()
        await deliver(course)
        async with course.bot.services.db.read() as session:
            keys = set((await session.scalars(select(Notification.source_key))).all())
        assert f"welcome:{helper.id}" not in keys
        assert f"welcome:{course.members['dave'].id}" in keys
