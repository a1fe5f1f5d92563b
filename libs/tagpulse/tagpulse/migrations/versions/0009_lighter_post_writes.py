"""lighter post writes: no foreign keys from posts to users and from links to posts, no second author index, room on users' pages

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-12 09:00:00.000000

Every post and every hashtag link checked its foreign key with a row lock on the user or the
post it names (a second write of that row, in the write-ahead log too), although the one path
that writes them (`tagpulse_collector.ingestion`) writes a post's author and a link's post in
the same transaction: the checks cost a third of the database time of an import and could never
fail. `ix_posts_author` (source, author_id, created_at) answered nothing that
`ix_posts_author_id_created` does not. And users' pages keep a fifth free, so the post-count
update of an author who posted again fits on the row's own page and leaves the indexes alone (a
HOT update). See BENCHMARKS.md, "ingestion".
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

USERS_FILLFACTOR = 80


def upgrade() -> None:
    with op.batch_alter_table("post_hashtags", schema=None) as batch_op:
        batch_op.drop_constraint("fk_post_hashtags_source_post_id_posts", type_="foreignkey")
    with op.batch_alter_table("posts", schema=None) as batch_op:
        batch_op.drop_constraint("fk_posts_source_author_id_users", type_="foreignkey")
        batch_op.drop_index("ix_posts_author")
    if op.get_context().dialect.name == "postgresql":
        op.execute(f"ALTER TABLE users SET (fillfactor = {USERS_FILLFACTOR})")


def downgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        op.execute("ALTER TABLE users RESET (fillfactor)")
    with op.batch_alter_table("posts", schema=None) as batch_op:
        batch_op.create_foreign_key(
            "fk_posts_source_author_id_users", "users", ["source", "author_id"], ["source", "id"]
        )
    # Outside the batch: SQLite's copy of the table cannot take an index on an expression.
    op.create_index(
        "ix_posts_author", "posts", ["source", "author_id", sa.literal_column("created_at DESC")], unique=False
    )
    with op.batch_alter_table("post_hashtags", schema=None) as batch_op:
        batch_op.create_foreign_key(
            "fk_post_hashtags_source_post_id_posts", "posts", ["source", "post_id"], ["source", "id"]
        )
