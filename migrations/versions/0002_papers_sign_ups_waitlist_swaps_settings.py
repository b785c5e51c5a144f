"""papers, sign-ups, waitlist, swaps, settings

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29 23:28:24.075517
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import bot.db.types

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "papers",
        sa.Column("number", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("authors", sa.String(length=500), nullable=False),
        sa.Column("url", sa.String(length=500), nullable=False),
        sa.Column("week", sa.Integer(), nullable=False),
        sa.Column("added_at", bot.db.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("number", name=op.f("pk_papers")),
    )
    with op.batch_alter_table("papers", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_papers_week"), ["week"], unique=False)

    op.create_table(
        "settings",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("updated_at", bot.db.types.UTCDateTime(), nullable=False),
        sa.Column("updated_by", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_settings")),
    )
    op.create_table(
        "presenters",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("paper_number", sa.Integer(), nullable=False),
        sa.Column("discord_id", sa.BigInteger(), nullable=False),
        sa.Column("since", bot.db.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["discord_id"],
            ["students.discord_id"],
            name=op.f("fk_presenters_discord_id_students"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["paper_number"],
            ["papers.number"],
            name=op.f("fk_presenters_paper_number_papers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_presenters")),
        sa.UniqueConstraint("paper_number", "discord_id", name=op.f("uq_presenters_paper_number")),
    )
    with op.batch_alter_table("presenters", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_presenters_discord_id"), ["discord_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_presenters_paper_number"), ["paper_number"], unique=False)

    op.create_table(
        "swap_offers",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("from_id", sa.BigInteger(), nullable=False),
        sa.Column("to_id", sa.BigInteger(), nullable=False),
        sa.Column("from_paper", sa.Integer(), nullable=False),
        sa.Column("to_paper", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", bot.db.types.UTCDateTime(), nullable=False),
        sa.Column("expires_at", bot.db.types.UTCDateTime(), nullable=False),
        sa.Column("decided_at", bot.db.types.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["from_id"],
            ["students.discord_id"],
            name=op.f("fk_swap_offers_from_id_students"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["to_id"], ["students.discord_id"], name=op.f("fk_swap_offers_to_id_students"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_swap_offers")),
    )
    with op.batch_alter_table("swap_offers", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_swap_offers_from_id"), ["from_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_swap_offers_to_id"), ["to_id"], unique=False)

    op.create_table(
        "waitlist",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("paper_number", sa.Integer(), nullable=False),
        sa.Column("discord_id", sa.BigInteger(), nullable=False),
        sa.Column("since", bot.db.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["discord_id"],
            ["students.discord_id"],
            name=op.f("fk_waitlist_discord_id_students"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["paper_number"],
            ["papers.number"],
            name=op.f("fk_waitlist_paper_number_papers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_waitlist")),
        sa.UniqueConstraint("discord_id", name=op.f("uq_waitlist_discord_id")),
    )
    with op.batch_alter_table("waitlist", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_waitlist_paper_number"), ["paper_number"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("waitlist", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_waitlist_paper_number"))

    op.drop_table("waitlist")
    with op.batch_alter_table("swap_offers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_swap_offers_to_id"))
        batch_op.drop_index(batch_op.f("ix_swap_offers_from_id"))

    op.drop_table("swap_offers")
    with op.batch_alter_table("presenters", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_presenters_paper_number"))
        batch_op.drop_index(batch_op.f("ix_presenters_discord_id"))

    op.drop_table("presenters")
    op.drop_table("settings")
    with op.batch_alter_table("papers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_papers_week"))

    op.drop_table("papers")
