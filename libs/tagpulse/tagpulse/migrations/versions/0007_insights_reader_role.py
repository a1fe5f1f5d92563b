"""insights reader role: a PostgreSQL role that may read the rollups, hashtags and users, nothing else

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-10 09:00:00.000000

Grafana's insights dashboard connects as this role (docs/operations.md, "The insights
dashboard"). It is created NOLOGIN: no password ever appears here. `python -m tagpulse.migrate`
gives it LOGIN and a password when TAGPULSE_INSIGHTS_PASSWORD is set (the chart sets it from its
Secret on every install and upgrade). The name and the table list are written out here rather
than imported, so this revision keeps doing what it did when later code changes
(`tagpulse.db.insights` holds the name the code uses).

Roles belong to the server, not to a database: databases on one server share the role, each
granting it SELECT on its own tables. So the upgrade creates it only when it is missing (two
databases migrating at once may race for it), and the downgrade drops it only when no other
database still grants it something. SQLite has no roles: nothing to do there.
"""

from __future__ import annotations

from alembic import op


revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

ROLE = "tagpulse_insights"
# The rollups the dashboard reads, the hashtag list its variable offers, and the sources' figures.
TABLES = (
    "post_counts_by_bucket",
    "hashtag_post_counts_by_bucket",
    "hashtag_language_country_counts",
    "user_hashtag_counts",
    "hashtags",
    "source_counts",
)
# Users without their raw profile location (free text the author wrote) and bookkeeping.
USER_COLUMNS = ("source", "id", "username", "display_name", "followers_count", "country_code", "post_count")


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    # CREATE ROLE has no IF NOT EXISTS; a concurrent creator makes ours fail with
    # duplicate_object or unique_violation, and then the role exists, which is all we need.
    # Read-only even if someone grants it more later; a runaway dashboard query stops after 30 s.
    op.execute(
        f"""
        DO $$
        BEGIN
            IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{ROLE}') THEN
                BEGIN
                    CREATE ROLE {ROLE} NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT;
                    ALTER ROLE {ROLE} SET default_transaction_read_only = on;
                    ALTER ROLE {ROLE} SET statement_timeout = '30s';
                EXCEPTION
                    WHEN duplicate_object OR unique_violation THEN NULL;
                    WHEN insufficient_privilege THEN
                        RAISE EXCEPTION 'the role {ROLE} does not exist and % may not create roles',
                            current_user
                            USING HINT = 'Create it once as an administrator '
                                '(CREATE ROLE {ROLE} NOLOGIN), or give the migrating user CREATEROLE, '
                                'then migrate again.';
                END;
            END IF;
        END
        $$
        """
    )
    op.execute(f"GRANT SELECT ON {', '.join(TABLES)} TO {ROLE}")
    op.execute(f"GRANT SELECT ({', '.join(USER_COLUMNS)}) ON users TO {ROLE}")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(f"REVOKE ALL ON {', '.join(TABLES)} FROM {ROLE}")
    op.execute(f"REVOKE ALL ({', '.join(USER_COLUMNS)}) ON users FROM {ROLE}")
    op.execute(
        f"""
        DO $$
        BEGIN
            IF EXISTS (SELECT FROM pg_roles WHERE rolname = '{ROLE}') THEN
                DROP ROLE {ROLE};
            END IF;
        EXCEPTION
            -- Another database on this server still grants it something: it stays for that one.
            WHEN dependent_objects_still_exist THEN
                RAISE NOTICE 'role {ROLE} kept: other databases on this server still use it';
        END
        $$
        """
    )
