"""class roster

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29 23:50:17.757394
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import bot.db.types

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "roster",
        sa.Column("student_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("discord_ref", sa.String(length=100), nullable=True),
        sa.Column("discord_id", sa.BigInteger(), nullable=True),
        sa.Column("imported_at", bot.db.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("student_id", name=op.f("pk_roster")),
        sa.UniqueConstraint("discord_id", name=op.f("uq_roster_discord_id")),
    )


def downgrade() -> None:
    op.drop_table("roster")
