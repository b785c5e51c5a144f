"""Every moment of the course, as one list that the Discord Scheduled Events and the iCalendar files
are both made from: lectures, talk days (their papers and presenters in talk order, from
`services/talks.py`), the weekly office hours with their one-off changes and notices (from
`services/reminders.py`), the poster session and the deadlines. Each moment has a stable `key`
(`lecture:2025-03-05`, `talks:10`, `officehours:2025-05-07`, `poster_session`, `deadline:proposal`)
that the event ids and UIDs are derived from, so they survive restarts and re-runs.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import DeadlineRow, OfficeHoursChange, OfficeHoursNotice, Paper, Presenter, Student
from bot.services import Services
from bot.services.reminders import _stored_offsets as stored_offsets
from bot.services.reminders import office_hours_sessions
from bot.services.talks import talk_slots
from bot.services.text import offset_label

LECTURE, TALKS, OFFICE_HOURS, POSTER_SESSION, DEADLINE = (
    "lecture",
    "talks",
    "office_hours",
    "poster_session",
    "deadline",
)
NO_ROOM = "to be announced"  # Discord needs a location for an external event


@dataclass(frozen=True)
class Talk:
    """One talk of a talk day, in order."""

    number: int  # the paper
    title: str
    starts_at: datetime
    ends_at: datetime
    presenters: tuple[int, ...]  # discord ids, in sign-up order
    names: tuple[str, ...]  # their names, as shown


@dataclass(frozen=True)
class Moment:
    """One event of the course calendar. `ends_at` is None for an instant (a deadline)."""

    key: str
    kind: str
    title: str
    starts_at: datetime
    ends_at: datetime | None
    location: str
    description: str
    cancelled: bool = False
    alarms: tuple[timedelta, ...] = ()  # reminder offsets before `starts_at` (deadlines)
    talks: tuple[Talk, ...] = ()  # a talk day's talks


def _hhmm(services: Services, instant: datetime) -> str:
    return f"{instant.astimezone(services.calendar.tz):%H:%M}"


def _room(services: Services) -> str:
    return services.config.lectures.room or NO_ROOM


async def presenter_names(session: AsyncSession, ids: Iterable[int]) -> dict[int, str]:
    """The name each presenter is shown with: the registered name, else the Discord name."""
    wanted = set(ids)
    if not wanted:
        return {}
    rows = await session.execute(
        select(Student.discord_id, Student.name, Student.discord_name).where(Student.discord_id.in_(wanted))
    )
    names = {discord_id: name or discord_name or "a student" for discord_id, name, discord_name in rows.all()}
    return {discord_id: names.get(discord_id, "a student") for discord_id in wanted}


async def talk_days(services: Services, session: AsyncSession) -> list[Moment]:
    """One moment per talk week: its papers in talk order with their presenters, in the lecture room."""
    config, calendar = services.config, services.calendar
    papers = config.papers
    slots = await talk_slots(session, calendar)
    titles = dict((await session.execute(select(Paper.number, Paper.title))).all())
    presenters: dict[int, list[int]] = {}
    rows = await session.execute(
        select(Presenter.paper_number, Presenter.discord_id).order_by(Presenter.since, Presenter.id)
    )
    for number, discord_id in rows.all():
        presenters.setdefault(number, []).append(discord_id)
    names = await presenter_names(session, (i for ids in presenters.values() for i in ids))
    length = timedelta(minutes=papers.talk_minutes + papers.qa_minutes)
    moments = []
    for week in range(papers.first_week, min(papers.last_week, config.course.weeks) + 1):
        day = calendar.talk_date(week)
        in_week = sorted((slot for slot in slots.values() if slot.week == week), key=lambda s: s.order)
        if calendar.lecture_on(day) is None and not in_week:
            continue  # a holiday without talks
        talks = tuple(
            Talk(
                slot.number,
                titles.get(slot.number, ""),
                slot.starts_at,
                slot.starts_at + timedelta(minutes=papers.talk_minutes),
                tuple(presenters.get(slot.number, ())),
                tuple(names[i] for i in presenters.get(slot.number, ())),
            )
            for slot in in_week
        )
        starts = calendar.at(day, config.lectures.start)
        ends = max([calendar.at(day, config.lectures.end)] + [slot.starts_at + length for slot in in_week])
        topic = calendar.topic(week)
        lines = [f"Student talks of week {week}" + (f" ({topic})" if topic else "") + ":"]
        for index, talk in enumerate(talks, start=1):
            who = ", ".join(talk.names) if talk.names else "no presenter yet"
            lines.append(
                f"{index}. {_hhmm(services, talk.starts_at)} paper {talk.number}: {talk.title} ({who})"
            )
        if not talks:
            lines.append("The papers of this week are not out yet.")
        lines.append(f"Each talk {papers.talk_minutes} min + {papers.qa_minutes} min Q&A.")
        moments.append(
            Moment(
                f"{TALKS}:{week}",
                TALKS,
                f"{config.course.code} student talks (week {week})",
                starts,
                ends,
                _room(services),
                "\n".join(lines),
                talks=talks,
            )
        )
    return moments


async def office_hours_moments(services: Services, session: AsyncSession) -> list[Moment]:
    """Each weekly session with its change (cancelled, moved) and the notices posted before it."""
    config, calendar = services.config, services.calendar
    office = config.office_hours
    changes = (await session.scalars(select(OfficeHoursChange))).all()
    notices = list((await session.scalars(select(OfficeHoursNotice).order_by(OfficeHoursNotice.id))).all())
    sessions = office_hours_sessions(config, calendar, changes)
    # A notice belongs to the first session held (not cancelled) that had not ended when it was posted.
    shown: dict[date, list[str]] = {}
    held = [item for item in sessions if not item.cancelled]
    for notice in notices:
        item = next((s for s in held if s.ends_at > notice.posted_at), None)
        if item is not None:
            shown.setdefault(item.day, []).append(notice.text)
    moments = []
    for item in sessions:
        lines = [f"Weekly office hours at {item.place}" + (f", {office.note}" if office.note else "") + "."]
        regular = calendar.at(item.day, office.start)
        if item.cancelled:
            lines.insert(0, "Cancelled" + (f": {item.reason}" if item.reason else "") + ".")
        elif item.moved:
            lines.insert(
                0,
                f"Moved this week (usually {office.day} {office.start:%H:%M} at {office.place})"
                + (f": {item.reason}" if item.reason else "")
                + ".",
            )
        lines += [f"Notice: {text}" for text in shown.get(item.day, [])]
        moments.append(
            Moment(
                f"{OFFICE_HOURS}:{item.day.isoformat()}",
                OFFICE_HOURS,
                f"{config.course.code} office hours" + (" (cancelled)" if item.cancelled else ""),
                item.starts_at if not item.cancelled else regular,
                item.ends_at,
                item.place[:100] or NO_ROOM,
                "\n".join(lines),
                cancelled=item.cancelled,
            )
        )
    return moments


async def _deadline_rows(services: Services, session: AsyncSession) -> list[DeadlineRow]:
    """The deadlines as the table has them (config.toml's are synced into it at start-up; before the
    bot first ran, the configured ones), without removed ones, by due time."""
    stored = {row.key: row for row in (await session.scalars(select(DeadlineRow))).all()}
    rows = [row for row in stored.values() if not row.removed]
    rows += [
        DeadlineRow(
            key=d.key,
            title=d.title,
            due_at=d.due_at,
            remind=",".join(offset_label(o) for o in d.remind),
            origin="config",
            removed=False,
        )
        for d in services.calendar.deadlines
        if d.key not in stored
    ]
    return sorted(rows, key=lambda row: (row.due_at, row.key))


def poster_session(services: Services, deadlines: Sequence[DeadlineRow]) -> Moment | None:
    """The poster session: `reviews.poster_session` (a deadline key, as the deadlines table has it
    now, or an instant), as long as a lecture, in the lecture room; None when it is not set."""
    config, calendar = services.config, services.calendar
    spec = config.reviews.poster_session.strip()
    row = next((d for d in deadlines if d.key == spec), None)
    starts = row.due_at.astimezone(calendar.tz) if row is not None else calendar.resolve_moment(spec)
    if starts is None:
        return None
    lectures = config.lectures
    length = datetime.combine(date.min, lectures.end) - datetime.combine(date.min, lectures.start)
    title = row.title if row is not None else "Poster session"
    return Moment(
        POSTER_SESSION,
        POSTER_SESSION,
        f"{config.course.code} {title}",
        starts,
        starts + length,
        _room(services),
        "The project groups present their posters; peer assessment with `/review poster`.",
    )


def lecture_moments(services: Services, skip: Iterable[datetime]) -> list[Moment]:
    """Every lecture of the term but those starting at an instant of `skip` (talk days, the poster
    session), which are their own moments."""
    config, calendar = services.config, services.calendar
    taken = set(skip)
    return [
        Moment(
            f"{LECTURE}:{lecture.date.isoformat()}",
            LECTURE,
            f"{config.course.code} lecture (week {lecture.week})"
            + (f": {calendar.topic(lecture.week)}" if calendar.topic(lecture.week) else ""),
            lecture.starts_at,
            lecture.ends_at,
            _room(services),
            f"{config.course.name}, week {lecture.week}"
            + (f": {calendar.topic(lecture.week)}" if calendar.topic(lecture.week) else "")
            + ".",
        )
        for lecture in calendar.lectures
        if lecture.starts_at not in taken
    ]


def deadline_moments(services: Services, deadlines: Sequence[DeadlineRow]) -> list[Moment]:
    """Each deadline at its due time, with its reminder offsets (the poster session is its own)."""
    poster_key = services.config.reviews.poster_session.strip()
    return [
        Moment(
            f"{DEADLINE}:{row.key}",
            DEADLINE,
            f"{services.config.course.code}: {row.title}",
            row.due_at.astimezone(services.calendar.tz),
            None,
            "",
            f"{row.title}: due at {_hhmm(services, row.due_at)} (course time).",
            alarms=tuple(stored_offsets(row.remind)),
        )
        for row in deadlines
        if row.key != poster_key
    ]


async def course_moments(services: Services, session: AsyncSession | None = None) -> list[Moment]:
    """Every moment of the term as the data is now, in order of start."""
    if session is None:
        async with services.db.read() as reading:
            return await course_moments(services, reading)
    talks = await talk_days(services, session)
    deadlines = await _deadline_rows(services, session)
    poster = poster_session(services, deadlines)
    skip = [moment.starts_at for moment in talks] + ([poster.starts_at] if poster else [])
    moments = [
        *lecture_moments(services, skip),
        *talks,
        *await office_hours_moments(services, session),
        *([poster] if poster else []),
        *deadline_moments(services, deadlines),
    ]
    return sorted(moments, key=lambda moment: (moment.starts_at, moment.key))
