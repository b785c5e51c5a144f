"""Staff tools through discord.py and simcord: `/ta roster import` (and `/register` against the
roster), `/ta export`, `/ta audit`, `/ta announce`, and the start-up verification."""

from __future__ import annotations

import logging
import random
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import discord
import pytest
import simcord
from sqlalchemy import func, select

from bot.app import CourseBot
from bot.clock import Clock
from bot.config import Config
from bot.db.audit import recent
from bot.db.models import AuditEntry
from bot.services import gradebook, lms_formats, roster
from bot.tree import friendly_message
from cogs.staff import AuditPage
from cogs.verify import problems
from tests.cogs.conftest import GUILD_ID, course_config

if TYPE_CHECKING:
    from tests.cogs.conftest import Course


# ---- helpers -----------------------------------------------------------------------------------
def reply(result: simcord.InteractionResult) -> str:
    """The text of an ephemeral reply (deferred replies end up in the same message)."""
    assert result.ephemeral
    message = result.followups[-1] if result.followups else result.response
    assert message is not None
    return message.content


def callbacks(course: Course, since: int = 0) -> list[dict[str, Any]]:
    """The JSON of the interaction responses the bot sent after request number `since`, in order."""
    requests = course.env.http_requests[since:]
    return [r.json for r in requests if r.path.startswith("/interactions/") and r.json]


DEFERRED = {"type": 5, "data": {"flags": 64}}  # "thinking…", ephemeral


async def audit_count(course: Course) -> int:
    async with course.bot.services.db.read() as session:
        return await session.scalar(select(func.count()).select_from(AuditEntry)) or 0


async def recent_entries(course: Course, limit: int) -> list[AuditEntry]:
    async with course.bot.services.db.read() as session:
        return await recent(session, limit=limit)


async def roster_rows(course: Course) -> list[tuple[str, str, int | None]]:
    return [(e.student_id, e.name, e.discord_id) for e in await roster.roster(course.bot.services)]


def add_with_nick(course: Course, name: str, nick: str) -> simcord.MemberActor:
    course.users[name] = course.env.create_user(name)
    course.members[name] = course.guild.add_member(
        course.users[name], roles=[course.roles["student"]], nick=nick
    )
    return course.members[name]


async def import_roster(course: Course, data: bytes) -> simcord.InteractionResult:
    return await course.members["ta"].slash(course.channel, "ta roster import", file=("roster.csv", data))


def roster_file(course: Course) -> bytes:
    alice = course.members["alice"]
    return (
        "student_id,name,discord\n"
        f"20250001,김민준,{alice.id}\n"  # by numeric Discord id
        "20250002,Bob Lee,BOB\n"  # by username
        "20250004,Dave Choi,dave choi\n"  # by display name (a server nickname)
        "20250005,Erin Yoon,\n"  # by her registration
        "20250009,이서연,ghost\n"  # nobody
    ).encode()


# ---- /ta roster import -------------------------------------------------------------------------
async def test_roster_import_links_members_and_reports_the_rest(course: Course) -> None:
    dave = add_with_nick(course, "dave", "Dave Choi")
    erin = course.add("erin")
    await erin.slash(course.channel, "register", student_id="20250005", name="Erin Yoon")
    cursor = len(course.env.http_requests)

    result = await import_roster(course, roster_file(course))

    carol = course.members["carol"]
    assert reply(result) == (
        "Roster imported: 5 students, 4 linked to members.\n"
        "No member found for 1 row(s):\n"
        "line 6: 20250009 이서연 (ghost)\n"
        f"Members with the student role not on the roster: {carol.mention}"
    )
    assert await roster_rows(course) == [
        ("20250001", "김민준", course.members["alice"].id),
        ("20250002", "Bob Lee", course.members["bob"].id),
        ("20250004", "Dave Choi", dave.id),
        ("20250005", "Erin Yoon", erin.id),
        ("20250009", "이서연", None),
    ]
    ta = course.members["ta"]
    assert (
        course.channels["ta-log"].last_message.content
        == f"{ta.mention} imported the roster (5 rows, 4 linked)"
    )
    [entry] = await recent_entries(course, 1)
    assert (entry.action, entry.actor_id) == ("roster.import", ta.id)
    assert callbacks(course, cursor)[0] == DEFERRED


BAD_FILES = [
    pytest.param(
        b"id,name\n20250001,Ann\n",
        "line 1: the header must be student_id,name[,discord][,email]",
        id="wrong-columns",
    ),
    pytest.param(
        b"student_id,name\n20250001,Ann,extra\n", "line 2: 3 columns, expected 2", id="extra-column"
    ),
    pytest.param(
        b"student_id,name\n20250001,Ann\n20250001,Ann\n",
        "line 3: student id 20250001 is already on line 2",
        id="student-id-twice",
    ),
    pytest.param(
        b"student_id,name,discord\n20250001,Ann,ann\n20250002,Ben,Ann\n",
        "line 3: Discord account Ann is already on line 2",
        id="discord-account-twice",
    ),
    pytest.param(
        b"student_id,name\nA1234567,Ann\n",
        "line 2: `A1234567` is not a valid student id",
        id="bad-student-id",
    ),
    pytest.param(
        "student_id,name\n20250001,김민준\n".encode("utf-16"),
        "line 1: the file is not UTF-8 text (save it as CSV UTF-8)",
        id="utf-16",
    ),
    pytest.param(
        "student_id,name\n20250001,Jürgen\n".encode("latin-1"),
        "line 1: the file is not UTF-8 text (save it as CSV UTF-8)",
        id="latin-1",
    ),
    pytest.param(b"", "line 1: the file is empty", id="empty"),
    pytest.param(
        random.Random(7).randbytes(10_000_000), "line 1: the file is larger than 1000 kB", id="10-MB-of-junk"
    ),
    pytest.param(b"student_id,name\n20250001,A\x00nn\n", "line 1: the file is not a text CSV", id="NUL-byte"),
]


@pytest.mark.parametrize(("data", "problem"), BAD_FILES)
async def test_a_bad_roster_file_is_reported_and_changes_nothing(
    course: Course, data: bytes, problem: str
) -> None:
    await import_roster(course, roster_file(course))
    before, audited = await roster_rows(course), await audit_count(course)
    logged = course.channels["ta-log"].last_message.id

    result = await import_roster(course, data)

    assert reply(result) == f"Nothing was imported; fix these rows:\n{problem}"
    assert await roster_rows(course) == before
    assert await audit_count(course) == audited
    assert course.channels["ta-log"].last_message.id == logged


async def test_a_roster_import_is_staff_only(course: Course) -> None:
    mallory = course.add("mallory", "student", permissions=discord.Permissions(manage_guild=True))
    result = await mallory.slash(course.channel, "ta roster import", file=("roster.csv", roster_file(course)))
    assert reply(result).startswith("Only the course staff")
    assert await roster_rows(course) == []


# ---- /register against the roster --------------------------------------------------------------
async def test_register_with_a_roster_loaded(course: Course) -> None:
    await import_roster(course, roster_file(course))
    carol = course.members["carol"]

    refused = await carol.slash(course.channel, "register", student_id="20251111", name="Carol Park")
    assert "not on the class roster" in reply(refused)
    taken = await carol.slash(course.channel, "register", student_id="20250002", name="Carol Park")
    assert "linked to another Discord account" in reply(taken)
    assert ("20250009", "이서연", None) in await roster_rows(course)

    accepted = await carol.slash(course.channel, "register", student_id="20250009", name="이서연")
    assert reply(accepted).startswith("Registered: `20250009` · 이서연.")
    assert ("20250009", "이서연", carol.id) in await roster_rows(course)

    bob = await course.members["bob"].slash(course.channel, "register", student_id="20250002", name="Bob Lee")
    assert reply(bob).startswith("Registered: `20250002`")


# ---- /ta export --------------------------------------------------------------------------------
async def test_export_sends_the_gradebook_csv(course: Course) -> None:
    await course.members["alice"].slash(course.channel, "register", student_id="20250001", name="Alice Kim")
    await import_roster(course, "student_id,name\n20250001,=1+1\n20250009,이서연\n".encode())
    cursor = len(course.env.http_requests)

    result = await course.members["prof"].slash(course.channel, "ta export")

    assert callbacks(course, cursor)[0] == DEFERRED
    answer, preview = exported(result)
    assert answer.ephemeral and answer.content == "Gradebook: 4 students."
    files = await attachments(answer)
    assert list(files) == ["EECE695D-gradebook-20250310-1100.csv"]
    assert preview.ephemeral and [a.filename for a in preview.attachments] == ["attendance-score.png"]
    data = files["EECE695D-gradebook-20250310-1100.csv"]
    assert data == gradebook.gradebook_csv(
        await gradebook.gradebook_rows(course.bot.services, members(course))
    )
    lines = data.decode("utf-8-sig").split("\r\n")
    assert lines[0] == ",".join(gradebook.COLUMNS)
    assert lines[1].startswith(f"20250001,'=1+1,alice,{course.members['alice'].id},")
    assert lines[2].startswith("20250009,이서연,,,")
    assert [line.split(",")[2] for line in lines[3:5]] == ["bob", "carol"]  # students, not yet registered
    assert "prof" not in data.decode() and lines[5:] == [""]
    prof = course.members["prof"]
    assert course.channels["ta-log"].last_message.content == f"{prof.mention} exported the gradebook (4 rows)"
    [entry] = await recent_entries(course, 1)
    assert (entry.action, entry.actor_id) == ("gradebook.export", prof.id)


def members(course: Course) -> list[gradebook.GradebookMember]:
    return [gradebook.GradebookMember(m.id, m.name, m.joined_at) for m in course.bot.student_members()]


def exported(result: simcord.InteractionResult) -> tuple[simcord.ResponseMessage, simcord.ResponseMessage]:
    """`/ta export`'s two messages: the reply with the file (the first follow-up fills the deferred
    response), then the preview."""
    assert result.response is not None and len(result.followups) == 1
    return result.response, result.followups[0]


async def attachments(message: simcord.ResponseMessage) -> dict[str, bytes]:
    return {a.filename: await a.read() for a in message.attachments}


async def lms_course(course: Course) -> None:
    """Alice registered and on the roster with an email; 이서연 on the roster without one; bob and carol
    have the student role but no student id."""
    await course.members["alice"].slash(course.channel, "register", student_id="20250001", name="Alice Kim")
    data = "student_id,name,discord,email\n20250001,=1+1,,alice@example.ac.kr\n20250009,이서연,,\n"
    await import_roster(course, data.encode())


async def test_export_for_canvas_attaches_its_import_file_and_a_preview(course: Course) -> None:
    await lms_course(course)
    cursor = len(course.env.http_requests)

    result = await course.members["ta"].slash(course.channel, "ta export", format="canvas")

    assert callbacks(course, cursor)[0] == DEFERRED
    answer, preview = exported(result)
    assert answer.content == (
        "Gradebook for Canvas: 2 students.\n"
        "Left out, the LMS could not match them (2):\n"
        "@bob (no student id: not registered and not on the roster)\n"
        "@carol (no student id: not registered and not on the roster)"
    )
    files = await attachments(answer)
    assert list(files) == ["EECE695D-gradebook-canvas-20250310-1100.csv"]
    expected = lms_formats.canvas_csv(
        await gradebook.gradebook_rows(course.bot.services, members(course)),
        gradebook.items(course.bot.config),
    )
    assert files["EECE695D-gradebook-canvas-20250310-1100.csv"] == expected.data
    lines = expected.data.decode("utf-8-sig").split("\r\n")
    assert lines[0].startswith("Student,ID,SIS User ID,SIS Login ID,Section,Attendance (10 pts),")
    assert lines[1].startswith("    Points Possible,,,,,10.00,(read only),5.00,5.00,")
    assert lines[2] == "'=1+1,,20250001,alice@example.ac.kr,,,no,,,0,0"  # no lecture held yet
    assert lines[3] == "이서연,,20250009,,,,,,,0,0" and lines[4:] == [""]
    assert preview.ephemeral and [a.filename for a in preview.attachments] == ["attendance-score.png"]
    assert (await preview.attachments[0].read()).startswith(b"\x89PNG\r\n\x1a\n")
    [card] = preview.embeds
    assert card.title == "Gradebook · 4 students"
    assert card.image.url == "attachment://attendance-score.png"
    assert [(f.name, f.value) for f in card.fields] == [
        ("Attendance (10 pts)", "no values yet"),
        ("Fails by absence", "0 of 3"),
        ("Talk peer score (5 pts)", "no values yet"),
        ("Poster peer score (5 pts)", "no values yet"),
        ("Reviews given", "0 · 0 · 0 (4)"),
        ("Questions asked", "0 · 0 · 0 (4)"),
    ]
    ta = course.members["ta"]
    assert (
        course.channels["ta-log"].last_message.content
        == f"{ta.mention} exported the gradebook for Canvas (2 rows)"
    )


async def test_export_for_moodle_says_its_key_and_who_has_no_email(course: Course) -> None:
    await lms_course(course)

    result = await course.members["ta"].slash(course.channel, "ta export", format="moodle")

    answer, _ = exported(result)
    assert answer.content == (
        "Gradebook for Moodle: 1 student. Map the `Email address` column to the user's email address"
        " when importing.\n"
        "Left out, the LMS could not match them (3):\n"
        "20250009 이서연 (no email on the roster)\n"
        "@bob (no email on the roster)\n"
        "@carol (no email on the roster)"
    )
    data = (await attachments(answer))["EECE695D-gradebook-moodle-20250310-1100.csv"]
    assert data.decode("utf-8-sig").split("\r\n") == [
        "Email address,Attendance (10 pts),Fails by absence,Talk peer score (5 pts),Poster peer score (5 pts),"
        "Reviews given,Questions asked",
        "alice@example.ac.kr, -,no, -, -,0,0",
        "",
    ]


async def test_export_is_staff_only(course: Course) -> None:
    mallory = course.add("mallory", "student", permissions=discord.Permissions(manage_guild=True))
    result = await mallory.slash(course.channel, "ta export", format="canvas")
    assert reply(result).startswith("Only the course staff")
    assert await audit_count(course) == 0


# ---- /ta audit ---------------------------------------------------------------------------------
async def fill_audit(course: Course, count: int) -> list[str]:
    """`count` audit rows, one a minute; returns their actions, newest first."""
    actions = []
    for number in range(count):
        course.bot.clock.advance(timedelta(minutes=1))
        action = f"test.{number:02d}"
        await course.bot.services.record(actor_id=course.members["ta"].id, action=action)
        actions.append(action)
    return actions[::-1]


def shown_actions(message: Any) -> list[str]:
    return [line.split("`")[1] for line in message.embeds[0].description.splitlines()]


async def test_audit_pages_newest_first_with_buttons(course: Course) -> None:
    newest_first = await fill_audit(course, 13)
    ta = course.members["ta"]

    result = await ta.slash(course.channel, "ta audit")

    assert result.ephemeral
    message = result.response
    assert shown_actions(message) == newest_first[:10]
    assert message.embeds[0].footer.text == "Newest first · page 1/2 · 13 entries"
    older = await ta.click(message, label="Older ▶")
    assert older.response.ephemeral  # the same ephemeral message, edited in place
    assert shown_actions(message) == newest_first[10:]
    assert message.embeds[0].footer.text == "Newest first · page 2/2 · 13 entries"
    with pytest.raises(simcord.SetupError, match="disabled"):
        await ta.click(message, label="Older ▶")
    await ta.click(message, label="◀ Newer")
    assert shown_actions(message) == newest_first[:10]

    await course.restart()  # the buttons keep working with a new bot process
    await ta.click(message, label="Older ▶")
    assert shown_actions(message) == newest_first[10:]


async def test_audit_with_a_limit_fits_one_page(course: Course) -> None:
    newest_first = await fill_audit(course, 13)
    result = await course.members["ta"].slash(course.channel, "ta audit", limit=4)
    assert shown_actions(result.response) == newest_first[:4]
    assert result.response.embeds[0].footer.text == "Newest first · page 1/1 · 4 entries"
    assert result.response.components == []


async def test_audit_of_one_member(course: Course) -> None:
    alice, bob = course.members["alice"], course.members["bob"]
    await alice.slash(course.channel, "register", student_id="20250001", name="Alice Kim")
    await bob.slash(course.channel, "register", student_id="20250002", name="Bob Lee")
    await course.bot.services.record(actor_id=course.members["ta"].id, action="note", target_id=alice.id)

    result = await course.members["ta"].slash(course.channel, "ta audit", member=alice)

    card = result.response.embeds[0]
    assert card.title == "Audit log (one member)"
    assert shown_actions(result.response) == ["note", "student.register"]
    assert f"→ {alice.mention}" in card.description.splitlines()[0]
    assert bob.mention not in card.description


async def test_students_cannot_read_the_audit_log(course: Course) -> None:
    await fill_audit(course, 13)
    alice = course.members["alice"]
    with pytest.raises((simcord.SetupError, simcord.BackendError), match="default-member-permissions"):
        await alice.slash(course.channel, "ta audit")
    mallory = course.add("mallory", "student", permissions=discord.Permissions(manage_guild=True))
    refused = await mallory.slash(course.channel, "ta audit")
    assert reply(refused).startswith("Only the course staff")
    assert not refused.response.embeds

    # A paging button in a message a student can see (a forged custom id would do the same).
    channel = course.bot.get_channel(course.channel.id)
    view = discord.ui.View(timeout=None).add_item(AuditPage(0, 50, 1, "Older ▶"))
    posted = await channel.send("audit", view=view)
    await course.env.settle()
    pressed = await alice.click(posted, label="Older ▶")
    assert pressed.ephemeral
    assert pressed.response.content.startswith("Only the course staff")
    assert course.channel.last_message.embeds == []  # the message was not turned into the log


# ---- /ta announce ------------------------------------------------------------------------------
def posted_allowed_mentions(course: Course, channel_id: int) -> dict[str, Any]:
    [body] = [
        r.json
        for r in course.env.http_requests
        if r.method == "POST" and r.path == f"/channels/{channel_id}/messages"
    ][-1:]
    return body["allowed_mentions"]


async def test_announce_with_a_ping_mentions_the_student_role_only(course: Course) -> None:
    ta = course.members["ta"]
    student = course.roles["student"]
    announcements = course.channels["announcements"]

    result = await ta.slash(course.channel, "ta announce", text="Quiz on Wed @everyone @here", ping=True)

    assert reply(result) == f"Posted in {announcements.mention} with a ping."
    message = announcements.last_message
    assert message.content == f"{student.mention} Quiz on Wed @everyone @here"
    assert [role.id for role in message.role_mentions] == [student.id]
    assert not message.mention_everyone and message.mentions == []
    assert posted_allowed_mentions(course, announcements.id) == {"roles": [student.id], "parse": []}
    [entry] = await recent_entries(course, 1)
    assert (entry.action, entry.actor_id) == ("announce", ta.id)
    assert '"ping": true' in entry.details and str(message.id) in entry.details
    assert course.channels["ta-log"].last_message.content == (
        f"{ta.mention} posted an announcement (ping): {message.jump_url}"
    )


async def test_announce_without_a_ping_mentions_nobody(course: Course) -> None:
    announcements = course.channels["announcements"]
    result = await course.members["prof"].slash(
        course.channel, "ta announce", text="Slides are up", ping=False
    )
    assert reply(result) == f"Posted in {announcements.mention}."
    message = announcements.last_message
    assert message.content == "Slides are up"
    assert message.role_mentions == [] and not message.mention_everyone
    assert posted_allowed_mentions(course, announcements.id) == {"parse": []}
    [entry] = await recent_entries(course, 1)
    assert entry.action == "announce" and '"ping": false' in entry.details
    assert course.channels["ta-log"].last_message.content.endswith(
        f"posted an announcement: {message.jump_url}"
    )


@pytest.mark.parametrize(
    ("text", "problem"), [("   ", "1–1900 characters"), ("x" * 1901, "1–1900 characters")]
)
async def test_announce_refuses_empty_or_long_text(course: Course, text: str, problem: str) -> None:
    result = await course.members["ta"].slash(course.channel, "ta announce", text=text)
    assert problem in reply(result)
    assert course.channels["announcements"].last_message is None


async def test_announce_without_the_channel_says_so(course: Course) -> None:
    course.env.backend.delete_channel(course.channels["announcements"].id)
    await course.env.settle()
    result = await course.members["ta"].slash(course.channel, "ta announce", text="Hello", ping=True)
    assert reply(result) == "The announcements channel `announcements` does not exist."
    assert await recent_entries(course, 1) == []


# ---- start-up verification ---------------------------------------------------------------------
async def test_the_course_server_passes_the_start_up_check(course: Course) -> None:
    assert problems(course.bot) == []


async def test_a_removed_channel_or_role_is_one_line_each(course: Course) -> None:
    course.env.backend.delete_channel(course.channels["ta-log"].id)
    course.env.backend.delete_role(GUILD_ID, course.roles["student"].id)
    await course.env.settle()
    assert problems(course.bot) == [
        "Role `Student` ([discord.roles] student) does not exist on EECE695D.",
        "Channel `#ta-log` ([discord.channels] ta_log) does not exist on EECE695D.",
    ]


@asynccontextmanager
async def server(
    config: Config,
    clock: Clock,
    tmp_path: Path,
    *,
    roles: Sequence[str] = ("Instructor", "TA", "Student"),
    channels: Sequence[str] = ("general", "announcements", "ta-log", "bot-notices"),
    muted: Sequence[str] = (),
    config_update: dict[str, Any] | None = None,
) -> AsyncIterator[tuple[simcord.Env, CourseBot]]:
    """A course server built to order; in `muted` channels the bot may read but not write."""
    bot = CourseBot(
        course_config(config, tmp_path).model_copy(update=config_update or {}), clock=clock, poll_outbox=False
    )
    env = simcord.Env(bot)
    guild = env.create_guild("EECE695D", id=GUILD_ID)
    for name in roles:
        guild.create_role(name)
    deny = discord.PermissionOverwrite(send_messages=False)  # discord.py then drops embeds and files too
    for name in channels:
        bot_role = guild.roles[env.backend.bot_user.name]
        guild.create_text_channel(name, overwrites={bot_role: deny} if name in muted else None)
    await env.start()
    try:
        yield env, bot
    finally:
        await env.shutdown()
    assert [error for error in env.errors if friendly_message(error) is None] == []


async def test_a_server_missing_pieces_gets_one_line_per_problem(
    config: Config, clock: Clock, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="cogs.verify")
    async with server(
        config,
        clock,
        tmp_path,
        roles=("Instructor", "Student"),
        channels=("announcements", "bot-notices"),
        muted=("announcements",),
    ) as (env, bot):
        found = problems(bot)
        assert env.errors == []
    assert found == [
        "Role `TA` ([discord.roles] ta) does not exist on EECE695D.",
        "In #announcements the bot lacks: send_messages, embed_links, attach_files.",
        "Channel `#ta-log` ([discord.channels] ta_log) does not exist on EECE695D.",
    ]
    assert [r.getMessage() for r in caplog.records if r.name == "cogs.verify"] == [
        f"Start-up check: {line}" for line in found
    ]


async def test_problems_are_posted_in_ta_log_at_start_up(
    config: Config, clock: Clock, tmp_path: Path
) -> None:
    async with server(config, clock, tmp_path, channels=("ta-log", "bot-notices")) as (env, bot):
        ta_log = env.guild.channels["ta-log"]
        assert ta_log.last_message.content == (
            "⚠️ Start-up check found problems:\n"
            "• Channel `#announcements` ([discord.channels] announcements) does not exist on EECE695D."
        )
        assert len(ta_log.history()) == 1  # once, even if on_ready fires again
        bot.dispatch("ready")
        await env.settle()
        assert len(ta_log.history()) == 1


async def test_group_channels_need_manage_permissions(config: Config, clock: Clock, tmp_path: Path) -> None:
    groups = config.groups.model_copy(update={"create_channels": True})
    async with server(config, clock, tmp_path, config_update={"groups": groups}) as (env, bot):
        assert problems(bot) == []
        bot_role = env.guild.roles[env.backend.bot_user.name]
        weaker = discord.Permissions(bot.course_guild.me.guild_permissions.value)
        weaker.update(manage_channels=False, manage_roles=False)
        env.backend.edit_role(GUILD_ID, bot_role.id, {"permissions": weaker.value})
        await env.settle()
        assert problems(bot) == [
            "Group channels are on ([groups] create_channels) but the bot lacks: manage_channels, manage_roles."
        ]


async def test_a_bot_outside_the_course_server(config: Config, clock: Clock, tmp_path: Path) -> None:
    discord_config = config.discord.model_copy(update={"guild_id": 42})
    async with server(config, clock, tmp_path, config_update={"discord": discord_config}) as (_, bot):
        assert problems(bot) == ["The bot is not in server 42: invite it, or fix [discord] guild_id."]
