"""outbox, reminder preferences, deadlines, office hours changes

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29 23:38:48.962801
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import bot.db.types

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "deadlines",
        sa.Column("key", sa.String(length=32), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("due_at", bot.db.types.UTCDateTime(), nullable=False),
        sa.Column("remind", sa.String(length=100), nullable=False),
        sa.Column("origin", sa.String(length=16), nullable=False),
        sa.Column("removed", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_deadlines")),
    )
    op.create_table(
        "notifications",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("source_key", sa.String(length=160), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("category", sa.String(length=32), nullable=True),
        sa.Column("audience", sa.String(length=16), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("due_at", bot.db.types.UTCDateTime(), nullable=False),
        sa.Column("event_at", bot.db.types.UTCDateTime(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("claimed_at", bot.db.types.UTCDateTime(), nullable=True),
        sa.Column("sent_at", bot.db.types.UTCDateTime(), nullable=True),
        sa.Column("fallback", sa.Boolean(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notifications")),
        sa.UniqueConstraint("source_key", name=op.f("uq_notifications_source_key")),
    )
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.create_index("ix_notifications_status_due", ["status", "due_at"], unique=False)

    op.create_table(
        "office_hours_changes",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("starts_at", bot.db.types.UTCDateTime(), nullable=True),
        sa.Column("place", sa.String(length=200), nullable=True),
        sa.Column("reason", sa.String(length=300), nullable=True),
        sa.Column("changed_by", sa.BigInteger(), nullable=True),
        sa.Column("changed_at", bot.db.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("day", name=op.f("pk_office_hours_changes")),
    )
    op.create_table(
        "reminder_preferences",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("discord_id", sa.BigInteger(), nullable=False),
        sa.Column("category", sa.String(length=32), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reminder_preferences")),
        sa.UniqueConstraint("discord_id", "category", name=op.f("uq_reminder_preferences_discord_id")),
    )
    with op.batch_alter_table("reminder_preferences", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_reminder_preferences_discord_id"), ["discord_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("reminder_preferences", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_reminder_preferences_discord_id"))

    op.drop_table("reminder_preferences")
    op.drop_table("office_hours_changes")
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_index("ix_notifications_status_due")

    op.drop_table("notifications")
    op.drop_table("deadlines")
