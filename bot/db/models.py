"""ORM models. Each feature adds its tables here (the core's own are in `tables.py`, imported here
too); migrations in `migrations/` follow them."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column

from bot.db.tables import (
    NAMING_CONVENTION,
    AuditEntry,
    Base,
    Notification,
    ReminderPreference,
    Setting,
)
from bot.db.types import BigId, UTCDateTime

__all__ = [
    "NAMING_CONVENTION",
    "AbsenceWarning",
    "Appointment",
    "AttendanceRecord",
    "AttendanceSession",
    "AuditEntry",
    "Base",
    "CalendarFeed",
    "CalendarVersion",
    "CheckinAttempt",
    "DeadlineRow",
    "ExcuseEvidence",
    "ExcuseRequest",
    "Group",
    "GroupInvite",
    "GroupMember",
    "Notification",
    "OfficeHoursChange",
    "OfficeHoursNotice",
    "Paper",
    "Presenter",
    "ReminderPreference",
    "Review",
    "RosterEntry",
    "ScheduledEventRow",
    "Setting",
    "Student",
    "SwapOffer",
    "TalkQuestion",
    "TalkSlides",
    "TalkThread",
    "WaitlistEntry",
]


class Student(Base):
    """A member of the course server known to the bot; registration adds student id and name."""

    __tablename__ = "students"

    discord_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    student_id: Mapped[str | None] = mapped_column(String(32), unique=True)
    name: Mapped[str | None] = mapped_column(String(100))
    discord_name: Mapped[str | None] = mapped_column(String(100))
    joined_at: Mapped[datetime] = mapped_column(UTCDateTime)
    registered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Whether the member had the student role when the bot last looked (for exports without Discord).
    has_student_role: Mapped[bool] = mapped_column(default=False, server_default=false())


class Paper(Base):
    """A paper on the list; students sign up to present it in its week."""

    __tablename__ = "papers"

    number: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    title: Mapped[str] = mapped_column(String(300))
    authors: Mapped[str] = mapped_column(String(500), default="")
    url: Mapped[str] = mapped_column(String(500), default="")
    week: Mapped[int] = mapped_column(Integer, index=True)
    added_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Presenter(Base):
    """A student holding a presenter slot on a paper."""

    __tablename__ = "presenters"
    __table_args__ = (UniqueConstraint("paper_number", "discord_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    paper_number: Mapped[int] = mapped_column(ForeignKey("papers.number", ondelete="CASCADE"), index=True)
    discord_id: Mapped[int] = mapped_column(ForeignKey("students.discord_id", ondelete="CASCADE"), index=True)
    since: Mapped[datetime] = mapped_column(UTCDateTime)


class WaitlistEntry(Base):
    """A student waiting for a slot on a full paper; first come, first served. One waitlist per student."""

    __tablename__ = "waitlist"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    paper_number: Mapped[int] = mapped_column(ForeignKey("papers.number", ondelete="CASCADE"), index=True)
    discord_id: Mapped[int] = mapped_column(
        ForeignKey("students.discord_id", ondelete="CASCADE"), unique=True
    )
    since: Mapped[datetime] = mapped_column(UTCDateTime)


class SwapOffer(Base):
    """An offer from one presenter to another to exchange papers."""

    __tablename__ = "swap_offers"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    from_id: Mapped[int] = mapped_column(ForeignKey("students.discord_id", ondelete="CASCADE"), index=True)
    to_id: Mapped[int] = mapped_column(ForeignKey("students.discord_id", ondelete="CASCADE"), index=True)
    from_paper: Mapped[int] = mapped_column(Integer)
    to_paper: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Group(Base):
    """A project group. `name_key` (the casefolded name) keeps names unique ignoring case."""

    __tablename__ = "groups"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(40))
    name_key: Mapped[str] = mapped_column(String(40), unique=True)
    invite_code: Mapped[str] = mapped_column(String(12), unique=True)
    title: Mapped[str] = mapped_column(String(200), default="")
    locked: Mapped[bool] = mapped_column(default=False)
    channel_id: Mapped[int | None] = mapped_column(BigInteger)
    role_id: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[int | None] = mapped_column(BigInteger)


class GroupMember(Base):
    """A student's membership; a student is in at most one group."""

    __tablename__ = "group_members"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"), index=True)
    discord_id: Mapped[int] = mapped_column(
        ForeignKey("students.discord_id", ondelete="CASCADE"), unique=True
    )
    joined_at: Mapped[datetime] = mapped_column(UTCDateTime)


class GroupInvite(Base):
    """An invitation into a group, answered with buttons in a DM; it expires."""

    __tablename__ = "group_invites"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"), index=True)
    inviter_id: Mapped[int] = mapped_column(BigInteger)
    invitee_id: Mapped[int] = mapped_column(BigInteger, index=True)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class AttendanceSession(Base):
    """Check-in for one lecture date (one session per date; re-opening the same day reuses it).

    A session makes its lecture "held". Codes derive from `secret` and the time step (see
    services/attendance.py), so a rotating code needs no stored history.
    """

    __tablename__ = "attendance_sessions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    lecture_date: Mapped[date] = mapped_column(Date, unique=True)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)  # the lecture's start, for late check-ins
    extra: Mapped[bool] = mapped_column(default=False)  # held on a day without a scheduled lecture
    secret: Mapped[str] = mapped_column(String(64))
    rotate_seconds: Mapped[int] = mapped_column(Integer, default=0)  # 0: one code for the whole session
    opened_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closes_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    opened_by: Mapped[int | None] = mapped_column(BigInteger)
    live_channel_id: Mapped[int | None] = mapped_column(BigInteger)  # the projector message, when rotating
    live_message_id: Mapped[int | None] = mapped_column(BigInteger)


class AttendanceRecord(Base):
    """One student's status for one held lecture: present, late, excused or absent."""

    __tablename__ = "attendance_records"
    __table_args__ = (UniqueConstraint("session_id", "discord_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    session_id: Mapped[int] = mapped_column(
        ForeignKey("attendance_sessions.id", ondelete="CASCADE"), index=True
    )
    discord_id: Mapped[int] = mapped_column(ForeignKey("students.discord_id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(16))  # checkin, manual, excuse
    at: Mapped[datetime] = mapped_column(UTCDateTime)


class CheckinAttempt(Base):
    """Wrong codes a student typed in one session; at the limit they are locked out of it."""

    __tablename__ = "checkin_attempts"
    __table_args__ = (UniqueConstraint("session_id", "discord_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    session_id: Mapped[int] = mapped_column(
        ForeignKey("attendance_sessions.id", ondelete="CASCADE"), index=True
    )
    discord_id: Mapped[int] = mapped_column(BigInteger)
    wrong: Mapped[int] = mapped_column(Integer, default=0)


class ExcuseRequest(Base):
    """A student's request to excuse an absence on a lecture date, decided by the staff."""

    __tablename__ = "excuse_requests"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    discord_id: Mapped[int] = mapped_column(ForeignKey("students.discord_id", ondelete="CASCADE"), index=True)
    lecture_date: Mapped[date] = mapped_column(Date)
    reason: Mapped[str] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    decided_by: Mapped[int | None] = mapped_column(BigInteger)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Whether a document came with it (stays true once the file itself is deleted after the term).
    had_evidence: Mapped[bool] = mapped_column(default=False, server_default=false())


class AbsenceWarning(Base):
    """A warning DM sent for reaching an absence count (each count warns once)."""

    __tablename__ = "absence_warnings"
    __table_args__ = (UniqueConstraint("discord_id", "absences"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    discord_id: Mapped[int] = mapped_column(ForeignKey("students.discord_id", ondelete="CASCADE"))
    absences: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(UTCDateTime)


class DeadlineRow(Base):
    """A deadline: from config.toml (synced at start-up) or added by the staff; removal hides it."""

    __tablename__ = "deadlines"

    key: Mapped[str] = mapped_column(String(32), primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    remind: Mapped[str] = mapped_column(String(100))  # offsets, e.g. "7d,1d,1h"
    origin: Mapped[str] = mapped_column(String(16))  # config or staff
    removed: Mapped[bool] = mapped_column(default=False)


class OfficeHoursChange(Base):
    """A one-off change to the weekly office hours on one date: cancelled or moved."""

    __tablename__ = "office_hours_changes"

    day: Mapped[date] = mapped_column(Date, primary_key=True)  # the regular session's date
    kind: Mapped[str] = mapped_column(String(16))  # cancel or move
    starts_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # the new start when moved
    place: Mapped[str | None] = mapped_column(String(200))
    reason: Mapped[str | None] = mapped_column(String(300))
    changed_by: Mapped[int | None] = mapped_column(BigInteger)
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime)


class RosterEntry(Base):
    """A row of the class roster: the university's list of enrolled students."""

    __tablename__ = "roster"

    student_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    discord_ref: Mapped[str | None] = mapped_column(String(100))  # a username or an id, as given
    discord_id: Mapped[int | None] = mapped_column(BigInteger, unique=True)  # the member it is linked to
    email: Mapped[str | None] = mapped_column(String(254))  # the LMS's login email, when given
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Review(Base):
    """A peer review of a talk (target: paper number) or a poster (target: group id).
    One per reviewer and target; editable while its window is open."""

    __tablename__ = "reviews"
    __table_args__ = (UniqueConstraint("kind", "target", "reviewer_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16))  # talk or poster
    target: Mapped[int] = mapped_column(BigInteger, index=True)
    week: Mapped[int] = mapped_column(Integer)
    reviewer_id: Mapped[int] = mapped_column(
        ForeignKey("students.discord_id", ondelete="CASCADE"), index=True
    )
    score_1: Mapped[int] = mapped_column(Integer)
    score_2: Mapped[int] = mapped_column(Integer)
    score_3: Mapped[int] = mapped_column(Integer)
    comment: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


# ---- appointments and excuse evidence (migration 0010) -------------------------------------------
class Appointment(Base):
    """An office-hours appointment outside the weekly hours ("by appointment"), asked for by a student.

    status: pending (asked) → accepted | declined | proposed (the staff offered another time:
    `starts_at` is then that time, `asked_start` the student's) → accepted | declined; a pending,
    proposed or accepted one can be cancelled. `staff_id` is who decided or proposed.
    """

    __tablename__ = "appointments"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    discord_id: Mapped[int] = mapped_column(ForeignKey("students.discord_id", ondelete="CASCADE"), index=True)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    asked_start: Mapped[datetime] = mapped_column(UTCDateTime)  # the time the student asked for
    topic: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    note: Mapped[str | None] = mapped_column(String(300))  # the staff's note with a proposal
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    staff_id: Mapped[int | None] = mapped_column(BigInteger)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancelled_by: Mapped[int | None] = mapped_column(BigInteger)
    # The request's post in ta-log (with the staff's buttons), once it was posted.
    staff_message_id: Mapped[int | None] = mapped_column(BigInteger)


class ExcuseEvidence(Base):
    """The document attached to an excuse request (a medical note, a 결석계), kept by the bot because
    Discord's attachment links expire.

    In the database rather than as files next to it: `coursebot backup` (and pg_dump) then include it
    with no second place to copy or restore, it is written and deleted in the transaction of its
    request (no orphan file after a crash), and SQLite and PostgreSQL work alike. At most 8 MB each,
    a few per student per term.
    """

    __tablename__ = "excuse_evidence"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    excuse_id: Mapped[int] = mapped_column(ForeignKey("excuse_requests.id", ondelete="CASCADE"), unique=True)
    filename: Mapped[str] = mapped_column(String(120))
    content_type: Mapped[str] = mapped_column(String(32))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    data: Mapped[bytes] = mapped_column(LargeBinary)
    stored_at: Mapped[datetime] = mapped_column(UTCDateTime)


# ---- talk day (bot/services/talk_day) -------------------------------------------------------------
class TalkThread(Base):
    """The Discord thread of one talk (a thread from a starter message in a text channel, or a forum
    post), created by its outbox row; `revision` counts the first message's wanted versions and
    `shown_revision` the one Discord shows."""

    __tablename__ = "talk_threads"

    paper_number: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    notification_id: Mapped[int | None] = mapped_column(BigInteger)  # the outbox row that made it
    channel_id: Mapped[int] = mapped_column(BigInteger)  # the text or forum channel
    forum: Mapped[bool] = mapped_column(default=False)
    starter_channel_id: Mapped[int | None] = mapped_column(BigInteger)  # where the first message is
    starter_message_id: Mapped[int | None] = mapped_column(BigInteger)
    thread_id: Mapped[int | None] = mapped_column(BigInteger, unique=True)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)  # the talk, when the thread was made
    content: Mapped[str] = mapped_column(Text, default="")  # the first message as wanted now
    revision: Mapped[int] = mapped_column(Integer, default=0)
    shown_revision: Mapped[int] = mapped_column(Integer, default=0)
    slides_revision: Mapped[int] = mapped_column(Integer, default=0)  # of the slides file it carries
    created_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    archived_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class TalkSlides(Base):
    """The slides of a talk: a file the bot keeps (Discord's attachment links expire) or an https
    link. Re-attaching replaces them and counts `revision` up."""

    __tablename__ = "talk_slides"

    paper_number: Mapped[int] = mapped_column(
        ForeignKey("papers.number", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    url: Mapped[str | None] = mapped_column(String(500))
    filename: Mapped[str | None] = mapped_column(String(200))
    content_type: Mapped[str | None] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer, default=0)
    data: Mapped[bytes | None] = mapped_column(LargeBinary)
    revision: Mapped[int] = mapped_column(Integer, default=1)
    uploaded_by: Mapped[int] = mapped_column(BigInteger)
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime)


class TalkQuestion(Base):
    """A question about a talk: asked with `/talk ask` (posted by the bot; `anonymous` hides the
    asker from everyone but the staff) or written directly in the talk's thread. Engagement."""

    __tablename__ = "talk_questions"
    __table_args__ = (Index("ix_talk_questions_asker_paper", "asker_id", "paper_number"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    paper_number: Mapped[int] = mapped_column(Integer, index=True)
    week: Mapped[int] = mapped_column(Integer, index=True)
    asker_id: Mapped[int] = mapped_column(ForeignKey("students.discord_id", ondelete="CASCADE"))
    source: Mapped[str] = mapped_column(String(16))  # ask or thread
    anonymous: Mapped[bool] = mapped_column(default=False)
    text: Mapped[str] = mapped_column(Text, default="")  # /talk ask only; thread messages are not read
    message_id: Mapped[int | None] = mapped_column(BigInteger, unique=True)  # the message in the thread
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


# ---- the course calendar (migration 0011) ----------------------------------------------------------
class OfficeHoursNotice(Base):
    """A `/ta officehours notice`: shown with the next session in the course calendar."""

    __tablename__ = "office_hours_notices"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    posted_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    text: Mapped[str] = mapped_column(Text)
    posted_by: Mapped[int | None] = mapped_column(BigInteger)


class ScheduledEventRow(Base):
    """A Discord Scheduled Event the bot keeps in step with one course moment (`key`, e.g.
    `officehours:2025-05-07`); `digest` is what it was last synced with."""

    __tablename__ = "scheduled_events"

    key: Mapped[str] = mapped_column(String(80), primary_key=True)
    event_id: Mapped[int] = mapped_column(BigInteger, unique=True)
    digest: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))  # scheduled or cancelled
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    synced_at: Mapped[datetime] = mapped_column(UTCDateTime)


class CalendarVersion(Base):
    """The iCalendar version of one event (by UID): its SEQUENCE goes up when its content changes."""

    __tablename__ = "calendar_versions"

    uid: Mapped[str] = mapped_column(String(200), primary_key=True)
    digest: Mapped[str] = mapped_column(String(64))
    sequence: Mapped[int] = mapped_column(Integer, default=0)
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime)


class CalendarFeed(Base):
    """A member's private calendar feed: only the SHA-256 of its secret is kept."""

    __tablename__ = "calendar_feeds"

    discord_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
