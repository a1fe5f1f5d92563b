"""Planner statistics after bulk writes, so the first reads after them are as fast as later ones.

PostgreSQL plans from the statistics ANALYZE gathers. Autovacuum gathers them once a table has
changed by a share of its size, but only some time later, and not at all where autovacuum is
off: right after an import the planner would guess (a cold top-users answer took 150–190 ms
instead of 0.5 ms). So a bulk write ends by analyzing what it changed: an import always, a
collection page or a stream batch when the tables grew past autovacuum's own threshold.
"""

from __future__ import annotations

import logging

from sqlalchemy import Engine, bindparam, text

log = logging.getLogger("tagpulse.ingest")

# Every table the ingestion path writes, in the order it writes them.
INGESTION_TABLES = (
    "users",
    "posts",
    "post_hashtags",
    "post_counts_by_bucket",
    "hashtag_post_counts_by_bucket",
    "hashtag_language_country_counts",
    "user_hashtag_counts",
    "hashtags",
    "source_counts",
)
# Autovacuum's defaults (autovacuum_analyze_threshold and _scale_factor): a table is analyzed
# again once this many rows plus this share of its rows changed since it last was.
ANALYZE_THRESHOLD_ROWS = 50
ANALYZE_SCALE_FACTOR = 0.1

_GROWN = text(
    """
SELECT s.relname FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid
WHERE s.schemaname = current_schema() AND s.relname IN :tables
  AND s.n_mod_since_analyze > :rows + :share * greatest(c.reltuples, 0)
ORDER BY s.relname
"""
).bindparams(bindparam("tables", expanding=True))


def analyze(engine: Engine, tables: tuple[str, ...] = INGESTION_TABLES) -> None:
    """ANALYZE the tables (PostgreSQL; SQLite plans well enough without)."""
    if engine.dialect.name != "postgresql" or not tables:
        return
    # One order for everyone: two writers analyzing at once wait for each other, never deadlock.
    tables = tuple(sorted(tables))
    with engine.begin() as connection:
        connection.exec_driver_sql(f"ANALYZE {', '.join(tables)}")
    log.debug("tables analyzed", extra={"tables": list(tables)})


def analyze_grown(engine: Engine) -> tuple[str, ...]:
    """ANALYZE the ingestion tables that changed by more than autovacuum's threshold since they
    were last analyzed (by anyone); return them. Cheap when none did: one catalog query."""
    if engine.dialect.name != "postgresql":
        return ()
    with engine.connect() as connection:
        grown = tuple(
            connection.execute(
                _GROWN,
                {"tables": INGESTION_TABLES, "rows": ANALYZE_THRESHOLD_ROWS, "share": ANALYZE_SCALE_FACTOR},
            ).scalars()
        )
    analyze(engine, grown)
    return grown
