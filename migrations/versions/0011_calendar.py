"""calendar: Discord Scheduled Events kept, iCalendar versions, private feeds, office-hours notices

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 11:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import bot.db.types

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "office_hours_notices",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("posted_at", bot.db.types.UTCDateTime(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("posted_by", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_office_hours_notices")),
    )
    with op.batch_alter_table("office_hours_notices", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_office_hours_notices_posted_at"), ["posted_at"], unique=False)
    op.create_table(
        "scheduled_events",
        sa.Column("key", sa.String(length=80), nullable=False),
        sa.Column("event_id", sa.BigInteger(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("starts_at", bot.db.types.UTCDateTime(), nullable=False),
        sa.Column("ends_at", bot.db.types.UTCDateTime(), nullable=False),
        sa.Column("synced_at", bot.db.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_scheduled_events")),
        sa.UniqueConstraint("event_id", name=op.f("uq_scheduled_events_event_id")),
    )
    op.create_table(
        "calendar_versions",
        sa.Column("uid", sa.String(length=200), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("changed_at", bot.db.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("uid", name=op.f("pk_calendar_versions")),
    )
    op.create_table(
        "calendar_feeds",
        sa.Column("discord_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", bot.db.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("discord_id", name=op.f("pk_calendar_feeds")),
        sa.UniqueConstraint("secret_hash", name=op.f("uq_calendar_feeds_secret_hash")),
    )


def downgrade() -> None:
    op.drop_table("calendar_feeds")
    op.drop_table("calendar_versions")
    op.drop_table("scheduled_events")
    with op.batch_alter_table("office_hours_notices", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_office_hours_notices_posted_at"))
    op.drop_table("office_hours_notices")
