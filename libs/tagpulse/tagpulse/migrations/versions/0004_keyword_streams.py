"""keyword streams: per-stream dedupe and counts, written buffer entries, dead letters, stream progress

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 07:48:28.373607
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import tagpulse.db.types


revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def _stream_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["stream_id"], ["streams.id"], name=op.f(f"fk_{table}_stream_id_streams"), ondelete="CASCADE"
    )


def upgrade() -> None:
    with op.batch_alter_table("streams", schema=None) as batch_op:
        batch_op.add_column(sa.Column("posts_new", sa.BigInteger(), server_default="0", nullable=False))
        batch_op.add_column(
            sa.Column("messages_dead_lettered", sa.BigInteger(), server_default="0", nullable=False)
        )
        batch_op.add_column(sa.Column("position", sa.BigInteger(), nullable=True))
        batch_op.add_column(
            sa.Column("reader_stopped_at", tagpulse.db.types.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("drained_at", tagpulse.db.types.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("settled_below_ms", sa.BigInteger(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("settled_below_seq", sa.BigInteger(), server_default="0", nullable=False))

    op.create_table(
        "stream_posts",
        sa.Column("stream_id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("post_id", sa.String(length=64), nullable=False),
        sa.Column("language", sa.String(length=16), nullable=False),
        sa.Column("country_code", sa.String(length=8), nullable=False),
        sa.Column("first_seen_at", tagpulse.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["source", "post_id"], ["posts.source", "posts.id"], name=op.f("fk_stream_posts_source_post_id_posts")
        ),
        _stream_fk("stream_posts"),
        sa.PrimaryKeyConstraint("stream_id", "source", "post_id", name=op.f("pk_stream_posts")),
    )
    op.create_table(
        "stream_counts",
        sa.Column("stream_id", sa.Integer(), nullable=False),
        sa.Column("dimension", sa.String(length=16), nullable=False),
        sa.Column("key", sa.String(length=512), nullable=False),
        sa.Column("post_count", sa.BigInteger(), nullable=False),
        _stream_fk("stream_counts"),
        sa.PrimaryKeyConstraint("stream_id", "dimension", "key", name=op.f("pk_stream_counts")),
    )
    op.create_table(
        "stream_entries",
        sa.Column("stream_id", sa.Integer(), nullable=False),
        sa.Column("entry_ms", sa.BigInteger(), nullable=False),
        sa.Column("entry_seq", sa.BigInteger(), nullable=False),
        _stream_fk("stream_entries"),
        sa.PrimaryKeyConstraint("stream_id", "entry_ms", "entry_seq", name=op.f("pk_stream_entries")),
    )
    op.create_table(
        "stream_dead_letters",
        sa.Column("stream_id", sa.Integer(), nullable=False),
        sa.Column("entry_id", sa.String(length=48), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("dead_lettered_at", tagpulse.db.types.UTCDateTime(timezone=True), nullable=False),
        _stream_fk("stream_dead_letters"),
        sa.PrimaryKeyConstraint("stream_id", "entry_id", name=op.f("pk_stream_dead_letters")),
    )
    with op.batch_alter_table("stream_dead_letters", schema=None) as batch_op:
        batch_op.create_index(
            "ix_stream_dead_letters_stream_time",
            ["stream_id", sa.literal_column("dead_lettered_at DESC")],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("stream_dead_letters", schema=None) as batch_op:
        batch_op.drop_index("ix_stream_dead_letters_stream_time")
    op.drop_table("stream_dead_letters")
    op.drop_table("stream_entries")
    op.drop_table("stream_counts")
    op.drop_table("stream_posts")

    with op.batch_alter_table("streams", schema=None) as batch_op:
        batch_op.drop_column("settled_below_seq")
        batch_op.drop_column("settled_below_ms")
        batch_op.drop_column("drained_at")
        batch_op.drop_column("reader_stopped_at")
        batch_op.drop_column("position")
        batch_op.drop_column("messages_dead_lettered")
        batch_op.drop_column("posts_new")
