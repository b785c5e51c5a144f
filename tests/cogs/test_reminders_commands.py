"""Reminders through discord.py and simcord: `/reminders`, `/officehours` with its Subscribe button
(across a restart too), `/deadlines`, `/ta deadline add|remove` and `/ta officehours
cancel|move|notice`, and what the dispatcher then sends: a post in the announcements channel that
pings the student role (never @everyone), DMs to the students with the category on, and a mention
in the fallback channel for a student whose DMs are closed.

The dispatcher is driven directly (`dispatcher.run()`) after the frozen clock is moved. simcord
refuses DMs only to bots by itself; a human with closed DMs is Discord's 403/50007 on the send,
injected with `env.inject_error`.
"""

from __future__ import annotations

from datetime import timedelta

import discord
import simcord
from sqlalchemy import func, select

from bot.clock import Clock
from bot.db.models import AuditEntry, DeadlineRow, Notification, ReminderPreference
from tests.cogs.conftest import Course, close_dms, dms, embed_text, one_line
from tests.conftest import seoul

STAFF_ONLY = "Only the course staff (TA or instructor role) can do that."


# ---- helpers ---------------------------------------------------------------------------------
def when(*args: int) -> str:
    unix = int(seoul(*args).timestamp())
    return f"<t:{unix}:F> (<t:{unix}:R>)"


def buttons(message: discord.Message | simcord.ResponseMessage) -> list[str]:
    components = message.components
    labels = []
    for row in components:
        children = row.get("components", []) if isinstance(row, dict) else getattr(row, "children", [])
        for child in children:
            labels.append(child.get("label") if isinstance(child, dict) else child.label)
    return labels


def posts(course: Course, channel: str) -> list[discord.Message]:
    return course.channels[channel].history()


async def deliver(course: Course) -> None:
    """Send whatever is due now. A background run of the dispatcher (woken by the command) may be
    under way; wait for it, then run once more so nothing due is left."""
    dispatcher = course.bot.dispatcher
    async with dispatcher._lock:  # a run in progress finishes first
        pass
    await dispatcher.run()
    await course.env.settle()


async def slash(course: Course, who: str, name: str, **options: object) -> simcord.InteractionResult:
    return await course.members[who].slash(course.channel, name, **options)


async def snapshot(course: Course) -> tuple[int, int, int, list[str]]:
    async with course.bot.services.db.read() as session:
        counts = [
            await session.scalar(select(func.count()).select_from(model)) or 0
            for model in (Notification, DeadlineRow, AuditEntry)
        ]
    return counts[0], counts[1], counts[2], [m.content for m in posts(course, "ta-log")]


async def rows(course: Course, prefix: str) -> list[Notification]:
    async with course.bot.services.db.read() as session:
        result = await session.scalars(
            select(Notification)
            .where(Notification.source_key.startswith(prefix, autoescape=True))
            .order_by(Notification.id)
        )
        return list(result.all())


def assert_pings_students_only(course: Course, message: discord.Message) -> None:
    role = course.roles["student"]
    assert message.content.startswith(f"<@&{role.id}> ")
    assert "@everyone" not in message.content and "@here" not in message.content
    assert not message.mention_everyone


# ---- /reminders ------------------------------------------------------------------------------
async def test_reminders_turns_a_category_on_and_off(course: Course) -> None:
    on = one_line(await slash(course, "alice", "reminders", category="office_hours", enabled=True))
    assert on == (
        "office_hours reminders are now on. Your DM reminders: office_hours on, deadlines on, "
        "presentation on, attendance on."
    )
    off = one_line(await slash(course, "alice", "reminders", category="deadlines", enabled=False))
    assert off.startswith("deadlines reminders are now off.")
    assert "office_hours on, deadlines off" in off
    async with course.bot.services.db.read() as session:
        stored = (
            await session.execute(
                select(ReminderPreference.category, ReminderPreference.enabled)
                .where(ReminderPreference.discord_id == course.members["alice"].id)
                .order_by(ReminderPreference.category)
            )
        ).all()
    assert [tuple(row) for row in stored] == [("deadlines", False), ("office_hours", True)]


# ---- /officehours ----------------------------------------------------------------------------
async def test_officehours_shows_the_next_session_and_subscribes(course: Course) -> None:
    shown = await slash(course, "alice", "officehours")
    assert shown.ephemeral
    [card] = shown.response.embeds
    text = embed_text(card)
    assert "Wed 17:00–18:00 at Terarosa Coffee, and by appointment" in text
    assert f"{when(2025, 3, 12, 17, 0)} at Terarosa Coffee" in text
    assert "DM before each session: off" in text
    assert buttons(shown.response) == ["Subscribe"]

    clicked = await course.members["alice"].click(shown.response, label="Subscribe")
    assert one_line(clicked) == "Office-hours reminders are on: you will get a DM before office hours."
    again = await slash(course, "alice", "officehours")
    assert "DM before each session: on" in embed_text(again.response.embeds[0])
    assert buttons(again.response) == ["Unsubscribe"]
    off = await course.members["alice"].click(again.response, label="Unsubscribe")
    assert one_line(off) == "Office-hours reminders are off."
    assert "DM before each session: off" in embed_text(
        (await slash(course, "alice", "officehours")).response.embeds[0]
    )


async def test_the_subscribe_button_works_after_a_restart(course: Course) -> None:
    shown = await slash(course, "bob", "officehours")
    await course.restart()
    clicked = await course.members["bob"].click(shown.response, label="Subscribe")
    assert one_line(clicked) == "Office-hours reminders are on: you will get a DM before office hours."
    card = (await slash(course, "bob", "officehours")).response.embeds[0]
    assert "DM before each session: on" in embed_text(card)


async def test_the_subscriber_gets_the_weekly_reminder_and_others_do_not(
    course: Course, clock: Clock
) -> None:
    await slash(course, "alice", "reminders", category="office_hours", enabled=True)
    clock.set(seoul(2025, 3, 12, 16, 0))  # an hour before Wednesday's office hours
    await deliver(course)
    [post] = [m for m in posts(course, "announcements") if "Office hours" in m.content]
    assert_pings_students_only(course, post)
    assert f"☕ Office hours {when(2025, 3, 12, 17, 0)} at Terarosa Coffee." in post.content
    assert dms(course, "alice") == [f"☕ Office hours {when(2025, 3, 12, 17, 0)} at Terarosa Coffee."]
    assert dms(course, "bob") == dms(course, "carol") == []
    assert dms(course, "ta") == dms(course, "prof") == []  # staff are not students
    await deliver(course)  # nothing twice
    assert len(dms(course, "alice")) == 1
    assert len([m for m in posts(course, "announcements") if "Office hours" in m.content]) == 1


# ---- /deadlines and /ta deadline -------------------------------------------------------------
async def test_deadlines_lists_what_is_ahead(course: Course) -> None:
    shown = await slash(course, "carol", "deadlines")
    assert shown.ephemeral
    [card] = shown.response.embeds
    lines = card.description.splitlines()
    assert card.title == "Upcoming deadlines"
    assert lines[0] == f"**Paper sign-up closes** — {when(2025, 3, 23, 23, 59)}"
    assert "Paper list published" not in card.description  # it was this morning
    assert len(lines) == 5


async def test_staff_add_and_remove_a_deadline(course: Course, clock: Clock) -> None:
    added = await slash(
        course, "ta", "ta deadline add", key="quiz1", title="Quiz 1", due="2025-03-12 11:00", remind="1d,1h"
    )
    assert (
        one_line(added)
        == f"Deadline `quiz1`: Quiz 1, due {when(2025, 3, 12, 11, 0)}; reminders 1d,1h before."
    )
    assert posts(course, "ta-log")[-1].content == (
        f"{course.members['ta'].mention} set deadline `quiz1` (Quiz 1) to {when(2025, 3, 12, 11, 0)}"
    )
    listed = (await slash(course, "alice", "deadlines")).response.embeds[0].description.splitlines()
    assert listed[0] == f"**Quiz 1** — {when(2025, 3, 12, 11, 0)}"
    assert len(await rows(course, "deadline:quiz1:")) == 4

    await slash(course, "bob", "reminders", category="deadlines", enabled=False)
    clock.advance(timedelta(days=1))  # the "1d" ping is due
    await deliver(course)
    [post] = [m for m in posts(course, "announcements") if "Quiz 1" in m.content]
    assert_pings_students_only(course, post)
    text = f"⏰ **Quiz 1** is due {when(2025, 3, 12, 11, 0)}."
    assert post.content.endswith(text)
    assert dms(course, "alice") == dms(course, "carol") == [text]
    assert dms(course, "bob") == []  # turned deadline reminders off

    removed = await slash(course, "prof", "ta deadline remove", key="quiz1")
    assert one_line(removed) == "Removed deadline `quiz1` (Quiz 1); its reminders are cancelled."
    assert posts(course, "ta-log")[-1].content == f"{course.members['prof'].mention} removed deadline `quiz1`"
    statuses = {row.source_key: row.status for row in await rows(course, "deadline:quiz1:1h:")}
    assert statuses == {"deadline:quiz1:1h:channel": "skipped", "deadline:quiz1:1h:dm": "skipped"}
    listed = (await slash(course, "alice", "deadlines")).response.embeds[0].description
    assert "Quiz 1" not in listed
    clock.advance(timedelta(hours=23))  # the "1h" ping's time: nothing goes out
    await deliver(course)
    assert dms(course, "alice") == [text]
    missing = await slash(course, "ta", "ta deadline remove", key="quiz1")
    assert one_line(missing) == "There is no deadline `quiz1`; see `/deadlines`."


async def test_bad_deadlines_get_one_line_and_change_nothing(course: Course) -> None:
    before = await snapshot(course)
    cases = [
        ({"due": "next friday"}, "`next friday` is not a time like 2025-04-18 23:59."),
        ({"due": "2025-03-09 12:00"}, "That time has already passed."),
        ({"remind": "1x"}, "Reminders: '1x' is not an offset like 7d, 1h or 30m."),
        ({"remind": "0d"}, "Reminders: '0d' is zero."),
        ({"key": "Quiz 1"}, "A key is 1–32 lowercase letters, digits or _ (e.g. `midterm_report`)."),
        ({"title": "@everyone quiz"}, "A title is 1–200 characters, without @ mentions."),
    ]
    for change, reason in cases:
        options = {"key": "quiz1", "title": "Quiz 1", "due": "2025-03-12 11:00", "remind": "1d"} | change
        assert one_line(await slash(course, "ta", "ta deadline add", **options)) == reason
    assert await snapshot(course) == before


async def test_absurd_reminder_offsets_get_one_line_and_change_nothing(course: Course) -> None:
    """Offsets are bounded at 366 days: "999999d" once crashed the planning, a 20-digit one the parsing."""
    before = await snapshot(course)
    longest = "Reminders: '{}' is more than 366 days, the longest an offset can be."
    for remind in ("999999d", "99999999999999999999d", "367d", "8785h", "1d,527041m"):
        options = {"key": "quiz1", "title": "Quiz 1", "due": "2025-03-12 11:00", "remind": remind}
        reason = longest.format(remind.split(",")[-1])
        assert one_line(await slash(course, "ta", "ta deadline add", **options)) == reason
    assert await snapshot(course) == before
    far = {"key": "final", "title": "Final", "due": "2026-03-12 11:00", "remind": "366d,8784h,527040m"}
    added = await slash(course, "ta", "ta deadline add", **far)
    assert (
        one_line(added) == f"Deadline `final`: Final, due {when(2026, 3, 12, 11, 0)}; reminders 366d before."
    )
    assert len(await rows(course, "deadline:final:366d:")) == 2  # the post and the DMs


async def test_a_student_cannot_manage_deadlines_or_office_hours(course: Course) -> None:
    """Discord hides /ta from students; one whose server role grants Manage Server sees it, and the
    bot still refuses, on its own side."""
    mallory = course.add("mallory", "student", permissions=discord.Permissions(manage_guild=True))
    assert "ta deadline add" not in course.members["alice"].available_commands(course.channel)
    assert "ta deadline add" in mallory.available_commands(course.channel)
    before = await snapshot(course)
    added = await slash(
        course, "mallory", "ta deadline add", key="quiz1", title="Quiz 1", due="2025-03-12 11:00"
    )
    assert one_line(added) == STAFF_ONLY
    assert one_line(await slash(course, "mallory", "ta deadline remove", key="signup")) == STAFF_ONLY
    assert one_line(await slash(course, "mallory", "ta officehours notice", text="free pizza")) == STAFF_ONLY
    cancel = await slash(course, "mallory", "ta officehours cancel", date="2025-03-12")
    assert one_line(cancel) == STAFF_ONLY
    assert await snapshot(course) == before


# ---- /ta officehours: told at once -------------------------------------------------------------
async def change_and_deliver(course: Course, clock: Clock, command: str, **options: object) -> str:
    for name in ("alice", "carol"):
        await slash(course, name, "reminders", category="office_hours", enabled=True)
    reply = one_line(await slash(course, "ta", f"ta officehours {command}", **options))
    clock.advance(timedelta(seconds=1))
    await deliver(course)
    return reply


async def test_cancelling_office_hours_tells_subscribers_and_the_channel(
    course: Course, clock: Clock
) -> None:
    reply = await change_and_deliver(course, clock, "cancel", date="2025-03-12", reason="at a conference")
    assert reply == "Office hours on Wed 2025-03-12 cancelled; the channel and subscribers are being told."
    text = "☕ Office hours on Wed Mar 12 are **cancelled** (at a conference)."
    post = posts(course, "announcements")[-1]
    assert_pings_students_only(course, post)
    assert post.content.endswith(text)
    assert dms(course, "alice") == dms(course, "carol") == [text]
    assert dms(course, "bob") == []
    assert "cancelled office hours on 2025-03-12" in posts(course, "ta-log")[-1].content
    card = (await slash(course, "bob", "officehours")).response.embeds[0]
    assert f"~~{when(2025, 3, 12, 17, 0)}~~ **cancelled**: at a conference" in embed_text(card)
    # the cancelled session's own reminder never goes out
    clock.set(seoul(2025, 3, 12, 16, 30))
    await deliver(course)
    assert dms(course, "alice") == [text]


async def test_moving_office_hours_tells_subscribers_and_the_channel(course: Course, clock: Clock) -> None:
    reply = await change_and_deliver(
        course, clock, "move", date="2025-03-12", start="16:00", place="PIAI 3rd floor lounge"
    )
    assert (
        reply
        == f"Office hours of Wed 2025-03-12 moved to {when(2025, 3, 12, 16, 0)} at PIAI 3rd floor lounge."
    )
    text = f"☕ Office hours on Wed Mar 12 **moved** to {when(2025, 3, 12, 16, 0)} at PIAI 3rd floor lounge."
    post = posts(course, "announcements")[-1]
    assert_pings_students_only(course, post)
    assert post.content.endswith(text)
    assert dms(course, "alice") == dms(course, "carol") == [text]
    assert dms(course, "bob") == []
    card = (await slash(course, "alice", "officehours")).response.embeds[0]
    assert f"{when(2025, 3, 12, 16, 0)} at PIAI 3rd floor lounge (**moved** this week)" in embed_text(card)
    # the session's reminder follows the move: an hour before the new time
    clock.set(seoul(2025, 3, 12, 15, 0))
    await deliver(course)
    reminder = f"☕ Office hours {when(2025, 3, 12, 16, 0)} at PIAI 3rd floor lounge (moved this week)."
    assert dms(course, "alice") == [text, reminder]


async def test_an_office_hours_notice_goes_out_at_once(course: Course, clock: Clock) -> None:
    reply = await change_and_deliver(course, clock, "notice", text="Bring your laptop")
    assert reply == "Notice queued for the announcements channel and office-hours subscribers."
    post = posts(course, "announcements")[-1]
    assert_pings_students_only(course, post)
    assert post.content.endswith("☕ Office hours: Bring your laptop")
    assert dms(course, "alice") == dms(course, "carol") == ["☕ Office hours: Bring your laptop"]
    assert dms(course, "bob") == []
    refused = await slash(course, "ta", "ta officehours notice", text="@everyone come")
    assert one_line(refused) == "A notice is 1–1500 characters, without @everyone or @here."


async def test_bad_office_hours_changes_get_one_line(course: Course) -> None:
    before = await snapshot(course)
    cases = [
        ("cancel", {"date": "2025-03-13"}, "There are no office hours on Thu 2025-03-13 (they are on Weds)."),
        ("cancel", {"date": "2025-03-05"}, "Those office hours are over."),
        ("cancel", {"date": "March 12"}, "`March 12` is not a date like 2025-03-12."),
        (
            "move",
            {"date": "2025-03-12", "start": "25:00"},
            "`2025-03-12 25:00` is not a time like 2025-04-18 23:59.",
        ),
    ]
    for command, options, reason in cases:
        assert one_line(await slash(course, "ta", f"ta officehours {command}", **options)) == reason
    assert await snapshot(course) == before


# ---- DMs closed --------------------------------------------------------------------------------
async def quiz_reminder_delivered(course: Course, clock: Clock) -> None:
    """The TA adds `quiz1` (due Wed 2025-03-12 11:00, reminded 1 day before); a day later the
    dispatcher has sent its reminders."""
    await slash(
        course, "ta", "ta deadline add", key="quiz1", title="Quiz 1", due="2025-03-12 11:00", remind="1d"
    )
    clock.advance(timedelta(days=1))
    await deliver(course)


async def test_closed_dms_fall_back_to_a_mention_in_bot_notices(course: Course, clock: Clock) -> None:
    carol = course.members["carol"]
    close_dms(course, "carol")
    await quiz_reminder_delivered(course, clock)
    text = f"⏰ **Quiz 1** is due {when(2025, 3, 12, 11, 0)}."
    assert dms(course, "alice") == dms(course, "bob") == [text]
    assert dms(course, "carol") == []
    [notice] = posts(course, "bot-notices")
    assert notice.content == f"{carol.mention} (your DMs are closed) {text}"
    assert [user.id for user in notice.mentions] == [carol.id]
    assert not notice.mention_everyone and not notice.role_mentions
    by_user = {row.user_id: row for row in await rows(course, "deadline:quiz1:1d:dm#")}
    assert {uid: (row.status, row.fallback) for uid, row in by_user.items()} == {
        course.members["alice"].id: ("sent", False),
        course.members["bob"].id: ("sent", False),
        carol.id: ("sent", True),
    }
    assert by_user[carol.id].error == "DMs closed: posted in the fallback channel"
    await deliver(course)
    assert len(posts(course, "bot-notices")) == 1
