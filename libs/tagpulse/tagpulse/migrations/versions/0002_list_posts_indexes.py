"""indexes for ListPosts filtered by language, country or author

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 06:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("posts", schema=None) as batch_op:
        batch_op.create_index(
            "ix_posts_language_created",
            ["language", sa.literal_column("created_at DESC"), "source", "id"],
            unique=False,
        )
        batch_op.create_index(
            "ix_posts_country_created",
            ["country_code", sa.literal_column("created_at DESC"), "source", "id"],
            unique=False,
        )
        batch_op.create_index(
            "ix_posts_author_id_created",
            ["author_id", sa.literal_column("created_at DESC"), "source", "id"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("posts", schema=None) as batch_op:
        batch_op.drop_index("ix_posts_author_id_created")
        batch_op.drop_index("ix_posts_country_created")
        batch_op.drop_index("ix_posts_language_created")
