"""when each stored Mastodon status was last re-checked on its instance

Revision ID: 0011
Revises: 0009
Create Date: 2026-12-05 07:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import tagpulse.db.types


revision = "0011"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "mastodon_status_checks",
        sa.Column("post_id", sa.String(length=300), nullable=False),
        sa.Column("checked_at", tagpulse.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("post_id", name=op.f("pk_mastodon_status_checks")),
    )
    op.create_index(
        "ix_mastodon_status_checks_checked_at", "mastodon_status_checks", ["checked_at", "post_id"]
    )


def downgrade() -> None:
    op.drop_index("ix_mastodon_status_checks_checked_at", table_name="mastodon_status_checks")
    op.drop_table("mastodon_status_checks")
