"""Where the database time of our ingestion goes, statement by statement.

    python bench/breakdown.py FILE --posts 100000   (TAGPULSE_DATABASE_URL: a migrated, empty database)

Parses the first posts of the archive into batches of 10,000 (untimed), then writes them with
the ingestion path, timing each statement on the client (so each time includes its round
trip). Prints one JSON object: seconds per statement, and the posts and links written.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from sqlalchemy import event, func, select

from tagpulse.db.engine import create_database_engine
from tagpulse.db.models import PostHashtag
from tagpulse_collector.archive.files import ArchiveProblems, read_archive
from tagpulse_collector.ingestion import staging
from tagpulse_collector.ingestion.batches import prepare_batch, write_prepared
from tagpulse_collector.sources.base import Page

# Statement → the name it gets in the report, by a piece of its text.
NAMES = (
    ("INSERT INTO users", "users: profiles and post counts, one row write per author"),
    ("INSERT INTO posts", "posts: INSERT … ON CONFLICT DO NOTHING RETURNING"),
    ("INSERT INTO tagpulse_stage_new_links", "links of the new posts (staging join)"),
    ("INSERT INTO post_hashtags", "post_hashtags"),
    ("INSERT INTO user_hashtag_counts", "rollup: user × hashtag"),
    ("INSERT INTO hashtag_language_country_counts", "rollup: hashtag × language × country"),
    ("INSERT INTO hashtag_post_counts_by_bucket", "rollup: hashtag × 15 min"),
    ("INSERT INTO post_counts_by_bucket", "rollup: 15 min"),
    ("INSERT INTO hashtags", "rollup: hashtag totals"),
    ("INSERT INTO source_counts", "rollup: source totals"),
)


def name_of(statement: str) -> str:
    for piece, name in NAMES:
        if piece in statement:
            return name
    return "staging tables: create, empty, count"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("file", type=Path)
    parser.add_argument("--posts", type=int, default=100_000)
    args = parser.parse_args()
    pages: list[Page] = []
    for page in read_archive(args.file, ArchiveProblems()):
        pages.append(page)
        if sum(len(p.posts) for p in pages) >= args.posts:
            break
    batches, pending = [], []
    for page in pages:
        pending.append(page)
        if sum(len(p.posts) for p in pending) >= 10_000:
            batches.append(prepare_batch(pending))
            pending = []
    if pending:
        batches.append(prepare_batch(pending))

    engine = create_database_engine(os.environ["TAGPULSE_DATABASE_URL"])
    seconds: dict[str, float] = defaultdict(float)

    @event.listens_for(engine, "before_cursor_execute")
    def before(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        conn.info["started"] = time.perf_counter()

    @event.listens_for(engine, "after_cursor_execute")
    def after(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        seconds[name_of(statement)] += time.perf_counter() - conn.info["started"]

    load = staging._load_postgresql

    def timed_load(*load_args: Any) -> None:
        started = time.perf_counter()
        load(*load_args)
        seconds["COPY into the staging tables"] += time.perf_counter() - started

    staging._load_postgresql = timed_load  # type: ignore[assignment]
    new = 0
    for batch in batches:
        with engine.begin() as connection:
            new += write_prepared(connection, batch).new
            started = time.perf_counter()
        seconds["commit"] += time.perf_counter() - started
    with engine.connect() as connection:
        links = connection.execute(select(func.count()).select_from(PostHashtag.table())).scalar_one()
    engine.dispose()
    print(
        json.dumps(
            {
                "posts": new,
                "links": links,
                "seconds": dict(sorted(seconds.items(), key=lambda item: item[1], reverse=True)),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
