"""appointments and excuse evidence

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import bot.db.types

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "appointments",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("discord_id", sa.BigInteger(), nullable=False),
        sa.Column("starts_at", bot.db.types.UTCDateTime(), nullable=False),
        sa.Column("ends_at", bot.db.types.UTCDateTime(), nullable=False),
        sa.Column("asked_start", bot.db.types.UTCDateTime(), nullable=False),
        sa.Column("topic", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("note", sa.String(length=300), nullable=True),
        sa.Column("created_at", bot.db.types.UTCDateTime(), nullable=False),
        sa.Column("staff_id", sa.BigInteger(), nullable=True),
        sa.Column("decided_at", bot.db.types.UTCDateTime(), nullable=True),
        sa.Column("cancelled_by", sa.BigInteger(), nullable=True),
        sa.Column("staff_message_id", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["discord_id"],
            ["students.discord_id"],
            name=op.f("fk_appointments_discord_id_students"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_appointments")),
    )
    with op.batch_alter_table("appointments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_appointments_discord_id"), ["discord_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_appointments_starts_at"), ["starts_at"], unique=False)

    with op.batch_alter_table("excuse_requests", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("had_evidence", sa.Boolean(), server_default=sa.false(), nullable=False)
        )

    op.create_table(
        "excuse_evidence",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("excuse_id", BIG_ID, nullable=False),
        sa.Column("filename", sa.String(length=120), nullable=False),
        sa.Column("content_type", sa.String(length=32), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("stored_at", bot.db.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["excuse_id"],
            ["excuse_requests.id"],
            name=op.f("fk_excuse_evidence_excuse_id_excuse_requests"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_excuse_evidence")),
        sa.UniqueConstraint("excuse_id", name=op.f("uq_excuse_evidence_excuse_id")),
    )


def downgrade() -> None:
    op.drop_table("excuse_evidence")
    with op.batch_alter_table("excuse_requests", schema=None) as batch_op:
        batch_op.drop_column("had_evidence")
    with op.batch_alter_table("appointments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_appointments_starts_at"))
        batch_op.drop_index(batch_op.f("ix_appointments_discord_id"))
    op.drop_table("appointments")
