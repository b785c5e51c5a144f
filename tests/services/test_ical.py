"""iCalendar files (bot/services/ical.py): they parse with `icalendar` and with an independent
parser (`ics`), times are right in Asia/Seoul across the term, UIDs and the whole file are stable
across calls and restarts, a change raises that event's SEQUENCE (and only its), a cancelled
session is STATUS:CANCELLED; a member's file adds their own talk and accepted appointments; feed
secrets are stored hashed, replaced by a new link, and any wrong one finds nobody."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import ics
import pytest
from icalendar import Calendar
from sqlalchemy import select

from bot.db import Database
from bot.db.models import CalendarFeed
from bot.services import Services, appointments, ical, papers, reminders, students
from tests.conftest import ROOT, SEOUL, audit_rows, seoul

SAMPLE = (ROOT / "data" / "papers.sample.csv").read_bytes()
TA, ALICE, BOB = 9000, 5001, 5002


def events_of(body: bytes) -> dict[str, Any]:
    """UID → VEVENT, parsed with icalendar."""
    parsed = Calendar.from_ical(body)
    return {str(event["UID"]): event for event in parsed.walk("VEVENT")}


def uid(key: str) -> str:
    return f"{key}@eece695d-spring-2025.coursebot"


async def test_the_course_file_parses_twice_over_with_course_times_across_the_term(
    services: Services,
) -> None:
    made = await ical.course_calendar(services)
    parsed = Calendar.from_ical(made.body)
    [timezone] = parsed.walk("VTIMEZONE")
    assert str(timezone["TZID"]) == "Asia/Seoul"
    events = events_of(made.body)
    assert len(events) == made.events
    other = ics.Calendar(made.body.decode())
    assert {event.uid for event in other.events} == set(events)

    for event in events.values():
        start = event.decoded("DTSTART")
        assert start.tzinfo is not None and str(event["DTSTART"].params["TZID"]) == "Asia/Seoul"
    first, last = events[uid("lecture-2025-03-05")], events[uid("lecture-2025-06-16")]
    assert first.decoded("DTSTART") == seoul(2025, 3, 5, 11, 0)  # 03-03 is a holiday
    assert first.decoded("DTEND") == seoul(2025, 3, 5, 12, 15)
    assert last.decoded("DTSTART") == seoul(2025, 6, 16, 11, 0)
    assert str(first["LOCATION"]) == "PIAI 122"
    assert uid("lecture-2025-04-14") not in events  # week 7: no class
    by_uid = {event.uid: event for event in other.events}
    assert by_uid[uid("lecture-2025-06-16")].begin.to("UTC").datetime == datetime(
        2025, 6, 16, 2, 0, tzinfo=UTC
    )
    for week in range(1, 17):  # office hours every Wednesday 17:00 in Seoul, 08:00 UTC
        day = seoul(2025, 3, 5, 17, 0) + timedelta(weeks=week - 1)
        office = by_uid[uid(f"office-hours-{day:%Y-%m-%d}")]
        assert office.begin.to("UTC").datetime == day.astimezone(UTC)
        assert office.location == "Terarosa Coffee"

    talk_day = events[uid("talks-10")]
    assert talk_day.decoded("DTSTART") == seoul(2025, 5, 7, 11, 0)
    assert uid("lecture-2025-05-07") not in events  # the talk day is that lecture's slot
    poster = events[uid("poster-session")]
    assert poster.decoded("DTSTART") == seoul(2025, 6, 18, 11, 0)
    assert uid("lecture-2025-06-18") not in events and uid("deadline-poster-session") not in events

    proposal = events[uid("deadline-proposal")]
    assert proposal.decoded("DTSTART") == seoul(2025, 4, 18, 23, 59)
    assert "DTEND" not in proposal and str(proposal["TRANSP"]) == "TRANSPARENT"
    triggers = sorted(alarm.decoded("TRIGGER") for alarm in proposal.walk("VALARM"))
    assert triggers == [-timedelta(days=7), -timedelta(days=1), -timedelta(hours=1)]
    assert not events[uid("deadline-paper-list")].walk("VALARM")  # remind = ""
    assert {str(event["STATUS"]) for event in events.values()} == {"CONFIRMED"}
    assert {int(event["SEQUENCE"]) for event in events.values()} == {0}


async def test_uids_and_the_file_are_stable_across_calls_and_restarts(
    services: Services, database_url: str
) -> None:
    first = await ical.course_calendar(services)
    services.clock.advance(timedelta(days=3))
    again = await ical.course_calendar(services)
    assert again.body == first.body and again.etag == first.etag
    restarted = replace(services, db=Database(database_url))
    try:
        after_restart = await ical.course_calendar(restarted)
    finally:
        await restarted.db.dispose()
    assert after_restart.etag == first.etag
    assert set(events_of(after_restart.body)) == set(events_of(first.body))


async def test_a_change_raises_that_events_sequence_and_a_cancelled_session_is_cancelled(
    services: Services,
) -> None:
    before = await ical.course_calendar(services)
    services.clock.advance(timedelta(hours=1))
    await reminders.change_office_hours(
        services, actor_id=TA, day_text="2025-03-12", cancel=True, reason="ill"
    )
    await reminders.change_office_hours(
        services, actor_id=TA, day_text="2025-03-19", cancel=False, start="15:00", place="Room 301"
    )
    after = await ical.course_calendar(services)
    assert after.etag != before.etag
    assert after.last_modified == services.now().astimezone(UTC)
    events = events_of(after.body)
    cancelled, moved = events[uid("office-hours-2025-03-12")], events[uid("office-hours-2025-03-19")]
    assert str(cancelled["STATUS"]) == "CANCELLED" and int(cancelled["SEQUENCE"]) == 1
    assert "Cancelled: ill." in str(cancelled["DESCRIPTION"])
    assert int(moved["SEQUENCE"]) == 1 and str(moved["STATUS"]) == "CONFIRMED"
    assert moved.decoded("DTSTART") == seoul(2025, 3, 19, 15, 0) and str(moved["LOCATION"]) == "Room 301"
    assert moved.decoded("LAST-MODIFIED") == services.now().astimezone(UTC)
    unchanged = [
        e
        for u, e in events.items()
        if u not in (uid("office-hours-2025-03-12"), uid("office-hours-2025-03-19"))
    ]
    assert {int(e["SEQUENCE"]) for e in unchanged} == {0}
    parsed = {event.uid: event for event in ics.Calendar(after.body.decode()).events}
    assert parsed[uid("office-hours-2025-03-12")].status == "CANCELLED"
    # Asking again changes nothing: the sequence goes up per change, not per download.
    assert (await ical.course_calendar(services)).etag == after.etag


async def test_a_members_file_has_their_own_talk_and_their_accepted_appointments(services: Services) -> None:
    await papers.import_papers(services, actor_id=TA, data=SAMPLE)
    for discord_id, name in ((ALICE, "Alice Kim"), (BOB, "Bob Lee")):
        await students.register(
            services,
            discord_id=discord_id,
            discord_name=None,
            joined_at=services.now(),
            student_id=f"2025{discord_id:04d}",
            name=name,
        )
    await papers.sign_up(services, discord_id=ALICE, discord_name=None, joined_at=None, number=5)
    asked = await appointments.request_appointment(
        services,
        discord_id=ALICE,
        discord_name=None,
        joined_at=None,
        when="2025-03-13 15:00",
        topic="project scope",
    )
    await appointments.decide(services, actor_id=TA, appointment_id=asked.id, accept=True)
    await appointments.request_appointment(
        services,
        discord_id=ALICE,
        discord_name=None,
        joined_at=None,
        when="2025-03-20 15:00",
        topic="still waiting",
    )

    mine = events_of((await ical.member_calendar(services, ALICE)).body)
    talk = mine[uid(f"own-talk-5-{ALICE}")]
    assert str(talk["SUMMARY"]).startswith("Your talk: paper 5: ")
    assert talk.decoded("DTSTART") == seoul(2025, 5, 7, 11, 25)  # the second talk of week 10
    assert talk.decoded("DTEND") == seoul(2025, 5, 7, 11, 45)
    assert [a.decoded("TRIGGER") for a in talk.walk("VALARM")] == [-timedelta(days=2)]
    assert "Alice Kim" in str(mine[uid("talks-10")]["DESCRIPTION"])
    [appointment] = [e for u, e in mine.items() if u.startswith("appointment-")]
    assert appointment.decoded("DTSTART") == seoul(2025, 3, 13, 15, 0)
    assert str(appointment["SUMMARY"]) == "EECE695D appointment: project scope"

    theirs = events_of((await ical.member_calendar(services, BOB)).body)
    assert not [u for u in theirs if u.startswith(("own-talk-", "appointment-"))]
    assert set(theirs) == set(events_of((await ical.course_calendar(services)).body))
    # A talk day shared by everyone keeps one version whoever downloads it.
    assert int(theirs[uid("talks-10")]["SEQUENCE"]) == int(mine[uid("talks-10")]["SEQUENCE"])


async def test_feed_secrets_are_hashed_replaced_and_never_guessed(services: Services) -> None:
    secret = await ical.new_feed(services, ALICE)
    assert len(secret) == 43
    assert await ical.feed_owner(services, secret) == ALICE
    async with services.db.read() as session:
        [row] = (await session.scalars(select(CalendarFeed))).all()
    assert row.secret_hash == ical.hash_secret(secret) and secret not in row.secret_hash
    assert ical.feed_url(services, secret).endswith(f"/calendar/{secret}.ics")

    replaced = await ical.new_feed(services, ALICE)
    assert replaced != secret
    assert await ical.feed_owner(services, secret) is None
    assert await ical.feed_owner(services, replaced) == ALICE
    for wrong in (
        "",
        "x",
        replaced[:-1],
        replaced[:-1] + ("A" if replaced[-1] != "A" else "B"),
        "é" * 43,
        replaced + "=",
    ):
        assert await ical.feed_owner(services, wrong) is None
    assert [e.details for e in await audit_rows(services, "calendar.feed_new")] == [
        '{"replaced": false}',
        '{"replaced": true}',
    ]
    assert await ical.drop_feed(services, ALICE, reason="left the server")
    assert await ical.feed_owner(services, replaced) is None
    assert not await ical.drop_feed(services, ALICE, reason="left the server")


@pytest.mark.parametrize(
    "public_url, port, enabled",
    [("", 8080, False), ("https://bot.example.edu", 0, False), ("https://bot.example.edu", 8080, True)],
)
def test_feeds_need_a_port_and_a_public_url(
    services: Services, public_url: str, port: int, enabled: bool
) -> None:
    http = services.config.http.model_copy(update={"public_url": public_url, "port": port})
    assert (
        ical.feeds_enabled(replace(services, config=services.config.model_copy(update={"http": http})))
        is enabled
    )


def test_times_are_course_time_also_far_from_utc(services: Services) -> None:
    """The fixtures' instants are Seoul's; the helper used above agrees with zoneinfo."""
    assert seoul(2025, 3, 5, 11, 0).utcoffset() == timedelta(hours=9)
    assert seoul(2025, 3, 5, 11, 0).tzinfo == SEOUL
