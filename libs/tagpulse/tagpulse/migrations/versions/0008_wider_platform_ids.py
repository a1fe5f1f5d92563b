"""Bluesky: wider platform ids (a post's id is its at:// URI: about 70 characters, up to 300),
and streams.posts_deleted

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04 23:00:00.000000

Every column that holds a platform's id of a post or user goes from 64 to 300 characters. On
PostgreSQL a longer varchar changes only the catalog (no table rewrite, no index rebuild). SQLite
does not enforce lengths, but batch mode rebuilds the tables so that the declared types match the
models; the foreign keys are deferred to the commit meanwhile, since dropping the old copy of a
referenced table would otherwise fail on the rows that point at it.

`streams.posts_deleted` counts the stored posts a Bluesky stream saw deleted.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

# Children before parents on the way up does not matter with deferred keys; the order is the
# schema's, for a reader.
COLUMNS = (
    ("users", "id", False),
    ("posts", "id", False),
    ("posts", "author_id", False),
    ("post_hashtags", "post_id", False),
    ("collection_run_hashtags", "since_id", True),
    ("collection_run_hashtags", "newest_id", True),
    ("collection_run_hashtags", "catch_up_since_id", True),
    ("stream_posts", "post_id", False),
    ("user_hashtag_counts", "user_id", False),
)


def _resize(old: int, new: int) -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("PRAGMA defer_foreign_keys = ON")
    tables: dict[str, list[tuple[str, bool]]] = {}
    for table, column, nullable in COLUMNS:
        tables.setdefault(table, []).append((column, nullable))
    for table, columns in tables.items():
        with op.batch_alter_table(table) as batch:
            for column, nullable in columns:
                batch.alter_column(
                    column,
                    existing_type=sa.String(length=old),
                    type_=sa.String(length=new),
                    existing_nullable=nullable,
                )


def upgrade() -> None:
    _resize(64, 300)
    with op.batch_alter_table("streams") as batch:
        batch.add_column(sa.Column("posts_deleted", sa.BigInteger(), server_default="0", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("streams") as batch:
        batch.drop_column("posts_deleted")
    # Fails on PostgreSQL when a longer id is stored (a Bluesky post): delete those first.
    _resize(300, 64)
