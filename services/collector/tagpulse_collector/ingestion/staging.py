"""Set-based writes of a batch: stage it in temporary tables, then move it with a few
INSERT … SELECT statements.

PostgreSQL loads the staging tables with COPY, SQLite with executemany; after that both run
the same SQL:

1. posts are inserted with `ON CONFLICT DO NOTHING`, and the rows that insert really
   created are kept in `tagpulse_stage_new` — PostgreSQL by `RETURNING`, SQLite by an
   anti-join, which is race-free there because this transaction takes SQLite's only write
   lock first;
2. hashtag links and every rollup are computed from those new posts only, by GROUP BY;
3. authors get their latest profile and their new post counts in one upsert (a bare row when
   the page left the author out), which skips rows where nothing changed: each author is
   written once per batch. No foreign key checks a post's author or a link's post: both are
   written here, in the same transaction (migration 0008).

Every statement writes in key order and every batch touches the tables in the same order, so
concurrent writers wait for each other instead of deadlocking.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Column, MetaData, Table, bindparam, text
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import TextClause

from tagpulse.db.engine import upsert
from tagpulse.db.models import SourceCount
from tagpulse.db.types import UTCDateTime

USERS_COLUMNS = ("source", "id", "username", "display_name", "followers_count", "location", "country_code")
POSTS_COLUMNS = (
    "source",
    "id",
    "author_id",
    "text",
    "language",
    "created_at",
    "country_code",
    "place_country_code",
    "bucket_start",
)
LINKS_COLUMNS = ("source", "post_id", "hashtag")

_TYPES = {
    "followers_count": "BIGINT",
    "created_at": "TIMESTAMP WITH TIME ZONE",
    "bucket_start": "TIMESTAMP WITH TIME ZONE",
}
_BINARY_TYPES = {"followers_count": "int8", "created_at": "timestamptz", "bucket_start": "timestamptz"}
_STAGES = {
    "tagpulse_stage_users": USERS_COLUMNS,
    "tagpulse_stage_posts": POSTS_COLUMNS,
    "tagpulse_stage_links": LINKS_COLUMNS,
    "tagpulse_stage_new": (
        "source",
        "id",
        "author_id",
        "language",
        "country_code",
        "created_at",
        "bucket_start",
    ),
    "tagpulse_stage_new_links": (
        "source",
        "post_id",
        "hashtag",
        "author_id",
        "language",
        "country_code",
        "created_at",
        "bucket_start",
    ),
}

# SQLite stores instants as text: stage them through the same column type as the schema, so
# the staged text is byte-for-byte what the real columns hold.
_sqlite_stages = MetaData()
_SQLITE_TABLES = {
    name: Table(
        name,
        _sqlite_stages,
        *(Column(c, UTCDateTime() if c in ("created_at", "bucket_start") else None) for c in columns),
        prefixes=["TEMPORARY"],
    )
    for name, columns in _STAGES.items()
}


def _ddl(dialect: str) -> list[str]:
    # PostgreSQL empties the tables at every commit; SQLite has no such clause, and both
    # also empty them at the start of each batch (a caller may write several per transaction).
    suffix = " ON COMMIT DELETE ROWS" if dialect == "postgresql" else ""
    return [
        f"CREATE TEMPORARY TABLE IF NOT EXISTS {name} ("
        + ", ".join(f"{c} {_TYPES.get(c, 'TEXT')}" for c in columns)
        + f"){suffix}"
        for name, columns in _STAGES.items()
    ]


def _now(sql: str) -> TextClause:
    return text(sql).bindparams(bindparam("now", type_=UTCDateTime()))


INSERT_POSTS_POSTGRESQL = _now(
    """
WITH inserted AS (
    INSERT INTO posts (source, id, author_id, text, language, created_at, country_code,
                       place_country_code, collected_at)
    SELECT source, id, author_id, text, language, created_at, country_code, place_country_code, :now
    FROM tagpulse_stage_posts
    ORDER BY source, id
    ON CONFLICT (source, id) DO NOTHING
    RETURNING source, id
)
INSERT INTO tagpulse_stage_new (source, id, author_id, language, country_code, created_at, bucket_start)
SELECT s.source, s.id, s.author_id, s.language, s.country_code, s.created_at, s.bucket_start
FROM tagpulse_stage_posts s JOIN inserted i ON i.source = s.source AND i.id = s.id
"""
)

# SQLite finds the new posts by an anti-join before inserting them: this (no-op) write first
# takes the database's only write lock, so no other writer can insert one of them in between.
TAKE_WRITE_LOCK_SQLITE = text("UPDATE source_counts SET posts_fetched = posts_fetched WHERE false")

FIND_NEW_POSTS_SQLITE = text(
    """
INSERT INTO tagpulse_stage_new (source, id, author_id, language, country_code, created_at, bucket_start)
SELECT s.source, s.id, s.author_id, s.language, s.country_code, s.created_at, s.bucket_start
FROM tagpulse_stage_posts s
WHERE NOT EXISTS (SELECT 1 FROM posts p WHERE p.source = s.source AND p.id = s.id)
"""
)

INSERT_POSTS_SQLITE = _now(
    """
INSERT INTO posts (source, id, author_id, text, language, created_at, country_code,
                   place_country_code, collected_at)
SELECT s.source, s.id, s.author_id, s.text, s.language, s.created_at, s.country_code,
       s.place_country_code, :now
FROM tagpulse_stage_posts s JOIN tagpulse_stage_new n ON n.source = s.source AND n.id = s.id
ORDER BY s.source, s.id
"""
)


def _add_counts(
    rollup: str,
    keys: dict[str, str],
    staged: str = "tagpulse_stage_new_links",
    inserted_with: dict[str, str] | None = None,
) -> TextClause:
    """Add the staged rows, counted per key, to a rollup's post_count.

    `keys` maps the rollup's key columns to the staged expressions they are counted by;
    `inserted_with` gives the other columns of a row the rollup does not have yet.
    (`WHERE true` lets SQLite tell the ON CONFLICT of the upsert from a join's ON.)"""
    extra = inserted_with or {}
    grouped = ", ".join(keys.values())
    return text(
        f"""
INSERT INTO {rollup} ({", ".join([*keys, *extra, "post_count"])})
SELECT {", ".join([*keys.values(), *extra.values(), "count(*)"])} FROM {staged} WHERE true
GROUP BY {grouped} ORDER BY {grouped}
ON CONFLICT ({", ".join(keys)}) DO UPDATE SET post_count = {rollup}.post_count + excluded.post_count
"""  # noqa: S608 (names from this module's constants, never from input)
    )


# Only posts this transaction created get links: nobody else can have linked them yet.
STATEMENTS_AFTER_POSTS = [
    text(
        """
INSERT INTO tagpulse_stage_new_links (source, post_id, hashtag, author_id, language, country_code,
                                      created_at, bucket_start)
SELECT l.source, l.post_id, l.hashtag, n.author_id, n.language, n.country_code, n.created_at, n.bucket_start
FROM tagpulse_stage_links l JOIN tagpulse_stage_new n ON n.source = l.source AND n.id = l.post_id
"""
    ),
    text(
        """
INSERT INTO post_hashtags (source, post_id, hashtag, created_at)
SELECT source, post_id, hashtag, created_at FROM tagpulse_stage_new_links ORDER BY source, post_id, hashtag
"""
    ),
    _add_counts("post_counts_by_bucket", {"bucket_start": "bucket_start"}, "tagpulse_stage_new"),
    _add_counts("hashtag_post_counts_by_bucket", {"hashtag": "hashtag", "bucket_start": "bucket_start"}),
    _add_counts(
        "hashtag_language_country_counts",
        {"hashtag": "hashtag", "language": "language", "country_code": "country_code"},
    ),
    _add_counts("user_hashtag_counts", {"hashtag": "hashtag", "source": "source", "user_id": "author_id"}),
    _add_counts("hashtags", {"name": "hashtag"}, inserted_with={"tracked": "false"}),
]

# Each author is written once per batch, after the posts: with their latest profile and the
# count of their posts this batch stored (an update leaves a row whose profile is unchanged and
# who posted nothing new alone). Only authors of new posts are inserted: an author whose posts
# this batch found already stored only has their profile refreshed (REFRESH_PROFILES), so a
# deletion that removed them with their last post meanwhile is not undone by a bare user row.
UPSERT_PROFILED_AUTHORS = _now(
    """
INSERT INTO users (source, id, username, display_name, followers_count, location, country_code,
                   post_count, updated_at)
SELECT u.source, u.id, u.username, u.display_name, u.followers_count, u.location, u.country_code,
       n.post_count, :now
FROM tagpulse_stage_users u
JOIN (SELECT source, author_id, count(*) AS post_count FROM tagpulse_stage_new
      GROUP BY source, author_id) n ON n.source = u.source AND n.author_id = u.id
WHERE true
ORDER BY u.source, u.id
ON CONFLICT (source, id) DO UPDATE SET
    username = excluded.username,
    display_name = excluded.display_name,
    followers_count = excluded.followers_count,
    location = excluded.location,
    country_code = excluded.country_code,
    updated_at = excluded.updated_at,
    post_count = users.post_count + excluded.post_count
WHERE excluded.post_count > 0
   OR users.followers_count <> excluded.followers_count OR users.username <> excluded.username
   OR users.display_name <> excluded.display_name OR users.location <> excluded.location
   OR users.country_code <> excluded.country_code
"""
)

REFRESH_PROFILES = _now(
    """
UPDATE users SET
    username = u.username,
    display_name = u.display_name,
    followers_count = u.followers_count,
    location = u.location,
    country_code = u.country_code,
    updated_at = :now
FROM tagpulse_stage_users u
WHERE users.source = u.source AND users.id = u.id
  AND NOT EXISTS (SELECT 1 FROM tagpulse_stage_new n WHERE n.source = u.source AND n.author_id = u.id)
  AND (users.followers_count <> u.followers_count OR users.username <> u.username
       OR users.display_name <> u.display_name OR users.location <> u.location
       OR users.country_code <> u.country_code)
"""
)

# A platform may leave an author out of a page: keep the post, with a bare user row (or add the
# post to the stored author's count, keeping their profile).
UPSERT_UNPROFILED_AUTHORS = _now(
    """
INSERT INTO users (source, id, username, display_name, followers_count, location, country_code,
                   post_count, updated_at)
SELECT n.source, n.author_id, '', '', 0, '', 'unknown', count(*), :now
FROM tagpulse_stage_new n
WHERE NOT EXISTS (SELECT 1 FROM tagpulse_stage_users u WHERE u.source = n.source AND u.id = n.author_id)
GROUP BY n.source, n.author_id
ORDER BY n.source, n.author_id
ON CONFLICT (source, id) DO UPDATE SET post_count = users.post_count + excluded.post_count
"""
)

NEW_BY_SOURCE = text("SELECT source, count(*) FROM tagpulse_stage_new GROUP BY source")


def _prepare(connection: Connection) -> None:
    # Temporary tables live as long as the database connection; IF NOT EXISTS also brings
    # them back after a rolled-back transaction took them away.
    for statement in _ddl(connection.dialect.name):
        connection.exec_driver_sql(statement)
    for name in _STAGES:
        connection.exec_driver_sql(f"DELETE FROM {name}")  # noqa: S608 - our own table names


def _load_postgresql(connection: Connection, rows: dict[str, Sequence[tuple[Any, ...]]]) -> None:
    # Binary COPY: the values go as PostgreSQL holds them, with nothing for either side to
    # render or parse as text (timestamps above all).
    driver = connection.connection.driver_connection
    assert driver is not None
    with driver.cursor() as cursor:
        for name, batch in rows.items():
            if not batch:
                continue
            columns = _STAGES[name]
            with cursor.copy(f"COPY {name} ({', '.join(columns)}) FROM STDIN (FORMAT BINARY)") as copy:
                copy.set_types([_BINARY_TYPES.get(c, "text") for c in columns])
                for row in batch:
                    copy.write_row(row)


def _load_sqlite(connection: Connection, rows: dict[str, Sequence[tuple[Any, ...]]]) -> None:
    for name, batch in rows.items():
        if batch:
            columns = _STAGES[name]
            connection.execute(
                _SQLITE_TABLES[name].insert(), [dict(zip(columns, r, strict=True)) for r in batch]
            )


def write_batch(
    connection: Connection,
    users: Sequence[tuple[Any, ...]],
    posts: Sequence[tuple[Any, ...]],
    links: Sequence[tuple[Any, ...]],
    fetched_by_source: dict[str, int],
    now: datetime,
) -> dict[str, int]:
    """Write distinct staged rows (in USERS/POSTS/LINKS_COLUMNS order); return new posts per source."""
    postgresql = connection.dialect.name == "postgresql"
    _prepare(connection)
    staged = {"tagpulse_stage_users": users, "tagpulse_stage_posts": posts, "tagpulse_stage_links": links}
    (_load_postgresql if postgresql else _load_sqlite)(connection, staged)
    if postgresql:
        connection.execute(INSERT_POSTS_POSTGRESQL, {"now": now})
    else:
        connection.execute(TAKE_WRITE_LOCK_SQLITE)
        connection.execute(FIND_NEW_POSTS_SQLITE)
        connection.execute(INSERT_POSTS_SQLITE, {"now": now})
    new_by_source = {str(s): int(n) for s, n in connection.execute(NEW_BY_SOURCE)}
    if new_by_source:
        for statement in STATEMENTS_AFTER_POSTS:
            connection.execute(statement)
    if new_by_source:
        connection.execute(UPSERT_PROFILED_AUTHORS, {"now": now})
        connection.execute(UPSERT_UNPROFILED_AUTHORS, {"now": now})
    connection.execute(REFRESH_PROFILES, {"now": now})
    _add_to_source_counts(connection, fetched_by_source, new_by_source)
    return new_by_source


def _add_to_source_counts(connection: Connection, fetched: dict[str, int], stored: dict[str, int]) -> None:
    table = SourceCount.table()
    for source, count in sorted(fetched.items()):
        statement = upsert(connection, table).values(
            source=source, posts_fetched=count, posts_stored=stored.get(source, 0)
        )
        connection.execute(
            statement.on_conflict_do_update(
                index_elements=["source"],
                set_={
                    "posts_fetched": table.c.posts_fetched + statement.excluded.posts_fetched,
                    "posts_stored": table.c.posts_stored + statement.excluded.posts_stored,
                },
            )
        )
