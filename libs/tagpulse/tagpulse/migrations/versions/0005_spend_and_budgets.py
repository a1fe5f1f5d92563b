"""spend and budgets: what each run and hashtag was billed, the daily spend per source, budget stops

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04 22:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

BILLED = ("posts_billed", "users_billed", "counts_requests", "cost_micros", "reserved_micros")


def upgrade() -> None:
    op.create_table(
        "daily_spend",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("posts_billed", sa.BigInteger(), nullable=False),
        sa.Column("users_billed", sa.BigInteger(), nullable=False),
        sa.Column("counts_requests", sa.BigInteger(), nullable=False),
        sa.Column("cost_micros", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("day", "source", name=op.f("pk_daily_spend")),
    )
    with op.batch_alter_table("collection_runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("max_cost_micros", sa.BigInteger(), nullable=True))

    with op.batch_alter_table("collection_run_hashtags", schema=None) as batch_op:
        batch_op.add_column(sa.Column("catch_up_since_id", sa.String(length=64), nullable=True))
        for column in BILLED:
            batch_op.add_column(sa.Column(column, sa.BigInteger(), server_default="0", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("collection_run_hashtags", schema=None) as batch_op:
        for column in reversed(BILLED):
            batch_op.drop_column(column)
        batch_op.drop_column("catch_up_since_id")

    with op.batch_alter_table("collection_runs", schema=None) as batch_op:
        batch_op.drop_column("max_cost_micros")
    op.drop_table("daily_spend")
