"""attendance sessions, records, attempts, excuses, warnings

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29 23:34:34.068105
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import bot.db.types

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "attendance_sessions",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("lecture_date", sa.Date(), nullable=False),
        sa.Column("starts_at", bot.db.types.UTCDateTime(), nullable=False),
        sa.Column("extra", sa.Boolean(), nullable=False),
        sa.Column("secret", sa.String(length=64), nullable=False),
        sa.Column("rotate_seconds", sa.Integer(), nullable=False),
        sa.Column("opened_at", bot.db.types.UTCDateTime(), nullable=True),
        sa.Column("closes_at", bot.db.types.UTCDateTime(), nullable=True),
        sa.Column("closed_at", bot.db.types.UTCDateTime(), nullable=True),
        sa.Column("opened_by", sa.BigInteger(), nullable=True),
        sa.Column("live_channel_id", sa.BigInteger(), nullable=True),
        sa.Column("live_message_id", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_attendance_sessions")),
        sa.UniqueConstraint("lecture_date", name=op.f("uq_attendance_sessions_lecture_date")),
    )
    op.create_table(
        "absence_warnings",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("discord_id", sa.BigInteger(), nullable=False),
        sa.Column("absences", sa.Integer(), nullable=False),
        sa.Column("at", bot.db.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["discord_id"],
            ["students.discord_id"],
            name=op.f("fk_absence_warnings_discord_id_students"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_absence_warnings")),
        sa.UniqueConstraint("discord_id", "absences", name=op.f("uq_absence_warnings_discord_id")),
    )
    op.create_table(
        "attendance_records",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("session_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("discord_id", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("at", bot.db.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["discord_id"],
            ["students.discord_id"],
            name=op.f("fk_attendance_records_discord_id_students"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["attendance_sessions.id"],
            name=op.f("fk_attendance_records_session_id_attendance_sessions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_attendance_records")),
        sa.UniqueConstraint("session_id", "discord_id", name=op.f("uq_attendance_records_session_id")),
    )
    with op.batch_alter_table("attendance_records", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_attendance_records_discord_id"), ["discord_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_attendance_records_session_id"), ["session_id"], unique=False)

    op.create_table(
        "checkin_attempts",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("session_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("discord_id", sa.BigInteger(), nullable=False),
        sa.Column("wrong", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["attendance_sessions.id"],
            name=op.f("fk_checkin_attempts_session_id_attendance_sessions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_checkin_attempts")),
        sa.UniqueConstraint("session_id", "discord_id", name=op.f("uq_checkin_attempts_session_id")),
    )
    with op.batch_alter_table("checkin_attempts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_checkin_attempts_session_id"), ["session_id"], unique=False)

    op.create_table(
        "excuse_requests",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("discord_id", sa.BigInteger(), nullable=False),
        sa.Column("lecture_date", sa.Date(), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", bot.db.types.UTCDateTime(), nullable=False),
        sa.Column("decided_by", sa.BigInteger(), nullable=True),
        sa.Column("decided_at", bot.db.types.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["discord_id"],
            ["students.discord_id"],
            name=op.f("fk_excuse_requests_discord_id_students"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_excuse_requests")),
    )
    with op.batch_alter_table("excuse_requests", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_excuse_requests_discord_id"), ["discord_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("excuse_requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_excuse_requests_discord_id"))

    op.drop_table("excuse_requests")
    with op.batch_alter_table("checkin_attempts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_checkin_attempts_session_id"))

    op.drop_table("checkin_attempts")
    with op.batch_alter_table("attendance_records", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_attendance_records_session_id"))
        batch_op.drop_index(batch_op.f("ix_attendance_records_discord_id"))

    op.drop_table("attendance_records")
    op.drop_table("absence_warnings")
    op.drop_table("attendance_sessions")
