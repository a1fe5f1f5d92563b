"""collection progress: per-hashtag requests, errors, pages, timings, since_id bookkeeping; run resumes

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 06:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import tagpulse.db.types


revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("collection_runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("resume_count", sa.Integer(), server_default="0", nullable=False))

    with op.batch_alter_table("collection_run_hashtags", schema=None) as batch_op:
        batch_op.add_column(sa.Column("api_requests", sa.BigInteger(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("error_count", sa.BigInteger(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("pages", sa.BigInteger(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("since_id", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("newest_id", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("started_at", tagpulse.db.types.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("ended_at", tagpulse.db.types.UTCDateTime(timezone=True), nullable=True))
        batch_op.create_index(
            "ix_collection_run_hashtags_hashtag", ["hashtag", sa.literal_column("run_id DESC")], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("collection_run_hashtags", schema=None) as batch_op:
        batch_op.drop_index("ix_collection_run_hashtags_hashtag")
        batch_op.drop_column("ended_at")
        batch_op.drop_column("started_at")
        batch_op.drop_column("newest_id")
        batch_op.drop_column("since_id")
        batch_op.drop_column("pages")
        batch_op.drop_column("error_count")
        batch_op.drop_column("api_requests")

    with op.batch_alter_table("collection_runs", schema=None) as batch_op:
        batch_op.drop_column("resume_count")
