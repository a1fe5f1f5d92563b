"""X batch compliance jobs: the ids each covers and how far it got

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05 09:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import tagpulse.db.types


revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "x_compliance_jobs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("job_type", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("x_job_id", sa.String(length=64), nullable=True),
        sa.Column("pass_started_at", tagpulse.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("after_id", sa.String(length=300), nullable=False),
        sa.Column("last_id", sa.String(length=300), nullable=True),
        sa.Column("ids_uploaded", sa.Integer(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("upload_url", sa.Text(), nullable=True),
        sa.Column("download_url", sa.Text(), nullable=True),
        sa.Column("results", sa.Integer(), nullable=False),
        sa.Column("posts_deleted", sa.Integer(), nullable=False),
        sa.Column("posts_geo_scrubbed", sa.Integer(), nullable=False),
        sa.Column("error_message", sa.Text(), nullable=False),
        sa.Column("created_at", tagpulse.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", tagpulse.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_x_compliance_jobs")),
    )
    op.create_index("ix_x_compliance_jobs_type_id", "x_compliance_jobs", ["job_type", "id"])


def downgrade() -> None:
    op.drop_index("ix_x_compliance_jobs_type_id", table_name="x_compliance_jobs")
    op.drop_table("x_compliance_jobs")
