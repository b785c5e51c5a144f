"""The core's own tables, which no feature owns: the declarative base (with the constraint naming
convention migrations rely on), the audit log, runtime settings, the outbox and the reminder
preferences it reads. `bot/notify/` uses these and no feature table; the features' tables are in
`models.py`."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Index, Integer, MetaData, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from bot.db.types import BigId, UTCDateTime

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class AuditEntry(Base):
    """One line of the audit log: who did what to whom, when, with details as JSON text."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_target_at", "target_id", "at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    actor_id: Mapped[int | None] = mapped_column(BigInteger)
    action: Mapped[str] = mapped_column(String(64))
    target_id: Mapped[int | None] = mapped_column(BigInteger)
    details: Mapped[str] = mapped_column(Text, default="{}")


class Setting(Base):
    """Runtime state changed by staff (e.g. a sign-up override), keyed by name."""

    __tablename__ = "settings"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_by: Mapped[int | None] = mapped_column(BigInteger)


class Notification(Base):
    """One row of the outbox: a reminder or notice stored before it is due, sent at least once and
    shown at most once (its id is the message nonce).

    audience: "channel" (the announcements channel, pinging the student role), "dm" (one member),
    or "dm_all" (every student with the category on; expanded into "dm" rows when due).
    status: pending → claimed → sent | skipped | failed.
    """

    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_status_due", "status", "due_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    source_key: Mapped[str] = mapped_column(
        String(160), unique=True
    )  # what planned it; re-planning is idempotent
    kind: Mapped[str] = mapped_column(String(32))
    category: Mapped[str | None] = mapped_column(
        String(32)
    )  # office_hours, deadlines, presentation, attendance
    audience: Mapped[str] = mapped_column(String(16))
    user_id: Mapped[int | None] = mapped_column(BigInteger)
    text: Mapped[str] = mapped_column(Text)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    event_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # after this the reminder is useless
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    fallback: Mapped[bool] = mapped_column(default=False)  # DMs closed: posted in the fallback channel
    error: Mapped[str | None] = mapped_column(Text)


class ReminderPreference(Base):
    """A student's choice for one reminder category (absent = the category's default)."""

    __tablename__ = "reminder_preferences"
    __table_args__ = (UniqueConstraint("discord_id", "category"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    discord_id: Mapped[int] = mapped_column(BigInteger, index=True)
    category: Mapped[str] = mapped_column(String(32))
    enabled: Mapped[bool] = mapped_column()
