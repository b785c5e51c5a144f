"""students and audit log

Revision ID: 0001
Revises:
Create Date: 2026-11-29 23:24:16.104944
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import bot.db.types

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("at", bot.db.types.UTCDateTime(), nullable=False),
        sa.Column("actor_id", sa.BigInteger(), nullable=True),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("target_id", sa.BigInteger(), nullable=True),
        sa.Column("details", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_log_at"), ["at"], unique=False)
        batch_op.create_index("ix_audit_log_target_at", ["target_id", "at"], unique=False)

    op.create_table(
        "students",
        sa.Column("discord_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("student_id", sa.String(length=32), nullable=True),
        sa.Column("name", sa.String(length=100), nullable=True),
        sa.Column("discord_name", sa.String(length=100), nullable=True),
        sa.Column("joined_at", bot.db.types.UTCDateTime(), nullable=False),
        sa.Column("registered_at", bot.db.types.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("discord_id", name=op.f("pk_students")),
        sa.UniqueConstraint("student_id", name=op.f("uq_students_student_id")),
    )


def downgrade() -> None:
    op.drop_table("students")
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_log_target_at")
        batch_op.drop_index(batch_op.f("ix_audit_log_at"))

    op.drop_table("audit_log")
