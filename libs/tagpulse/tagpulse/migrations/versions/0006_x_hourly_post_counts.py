"""X's hourly post counts per hashtag and when they were fetched

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04 21:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import tagpulse.db.types


revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "x_post_count_fetches",
        sa.Column("hashtag", sa.String(length=100), nullable=False),
        sa.Column("query", sa.Text(), nullable=False),
        sa.Column("fetched_at", tagpulse.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("hashtag", name=op.f("pk_x_post_count_fetches")),
    )
    op.create_table(
        "x_hourly_post_counts",
        sa.Column("hashtag", sa.String(length=100), nullable=False),
        sa.Column("bucket_start", tagpulse.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("bucket_end", tagpulse.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("post_count", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["hashtag"],
            ["x_post_count_fetches.hashtag"],
            name=op.f("fk_x_hourly_post_counts_hashtag_x_post_count_fetches"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("hashtag", "bucket_start", name=op.f("pk_x_hourly_post_counts")),
    )


def downgrade() -> None:
    op.drop_table("x_hourly_post_counts")
    op.drop_table("x_post_count_fetches")
