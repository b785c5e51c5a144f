"""talk day: threads, slides, questions

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import bot.db.types

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "talk_threads",
        sa.Column("paper_number", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("notification_id", sa.BigInteger(), nullable=True),
        sa.Column("channel_id", sa.BigInteger(), nullable=False),
        sa.Column("forum", sa.Boolean(), nullable=False),
        sa.Column("starter_channel_id", sa.BigInteger(), nullable=True),
        sa.Column("starter_message_id", sa.BigInteger(), nullable=True),
        sa.Column("thread_id", sa.BigInteger(), nullable=True),
        sa.Column("starts_at", bot.db.types.UTCDateTime(), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("shown_revision", sa.Integer(), nullable=False),
        sa.Column("slides_revision", sa.Integer(), nullable=False),
        sa.Column("created_at", bot.db.types.UTCDateTime(), nullable=True),
        sa.Column("archived_at", bot.db.types.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("paper_number", name=op.f("pk_talk_threads")),
        sa.UniqueConstraint("thread_id", name=op.f("uq_talk_threads_thread_id")),
    )
    op.create_table(
        "talk_slides",
        sa.Column("paper_number", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("url", sa.String(length=500), nullable=True),
        sa.Column("filename", sa.String(length=200), nullable=True),
        sa.Column("content_type", sa.String(length=100), nullable=True),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=True),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("uploaded_by", sa.BigInteger(), nullable=False),
        sa.Column("uploaded_at", bot.db.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["paper_number"],
            ["papers.number"],
            name=op.f("fk_talk_slides_paper_number_papers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("paper_number", name=op.f("pk_talk_slides")),
    )
    op.create_table(
        "talk_questions",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("paper_number", sa.Integer(), nullable=False),
        sa.Column("week", sa.Integer(), nullable=False),
        sa.Column("asker_id", sa.BigInteger(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("anonymous", sa.Boolean(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("message_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", bot.db.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["asker_id"],
            ["students.discord_id"],
            name=op.f("fk_talk_questions_asker_id_students"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_talk_questions")),
        sa.UniqueConstraint("message_id", name=op.f("uq_talk_questions_message_id")),
    )
    with op.batch_alter_table("talk_questions", schema=None) as batch_op:
        batch_op.create_index("ix_talk_questions_asker_paper", ["asker_id", "paper_number"], unique=False)
        batch_op.create_index(batch_op.f("ix_talk_questions_paper_number"), ["paper_number"], unique=False)
        batch_op.create_index(batch_op.f("ix_talk_questions_week"), ["week"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("talk_questions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_talk_questions_week"))
        batch_op.drop_index(batch_op.f("ix_talk_questions_paper_number"))
        batch_op.drop_index("ix_talk_questions_asker_paper")
    op.drop_table("talk_questions")
    op.drop_table("talk_slides")
    op.drop_table("talk_threads")
