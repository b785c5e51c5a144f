"""ORM models. Each feature adds its tables here; migrations in `migrations/` follow them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Index, MetaData, String, Text
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


class Student(Base):
    """A member of the course server known to the bot; registration adds student id and name."""

    __tablename__ = "students"

    discord_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    student_id: Mapped[str | None] = mapped_column(String(32), unique=True)
    name: Mapped[str | None] = mapped_column(String(100))
    discord_name: Mapped[str | None] = mapped_column(String(100))
    joined_at: Mapped[datetime] = mapped_column(UTCDateTime)
    registered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


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
