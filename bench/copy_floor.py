"""The floors: a raw COPY of the distinct posts, timed twice.

    python bench/copy_floor.py FILE   (TAGPULSE_DATABASE_URL: a migrated, empty database)

Untimed: the archive is parsed and its distinct posts rendered as COPY text in memory. Timed,
each with its commit: one COPY of (id, author, time, language, text) into a table with only a
primary key — nothing can store posts faster, the floor the import is measured against — and
one COPY of the full rows into the real `posts` table with its indexes. No links, no users, no
rollups, no dedupe. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import psycopg
from sqlalchemy.engine import make_url

from tagpulse_collector.archive.files import ArchiveProblems, read_archive


def _text(value: object) -> str:
    if value is None:
        return "\\N"
    return str(value).replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("file", type=Path)
    args = parser.parse_args()
    now = datetime.now(UTC).isoformat()
    bare, posts = io.StringIO(), io.StringIO()
    seen_posts: set[str] = set()
    for page in read_archive(args.file, ArchiveProblems()):
        for post in page.posts:
            if post.id in seen_posts:
                continue
            seen_posts.add(post.id)
            text = post.text.replace("\x00", "")
            created = post.created_at.isoformat()
            bare.write("\t".join(map(_text, (post.id, post.author_id, created, post.language, text))) + "\n")
            row = (
                *(post.source, post.id, post.author_id, text, post.language),
                *(created, "unknown", post.place_country_code, now),
            )
            posts.write("\t".join(map(_text, row)) + "\n")
    url = make_url(os.environ["TAGPULSE_DATABASE_URL"]).set(drivername="postgresql")
    with psycopg.connect(url.render_as_string(hide_password=False)) as connection:
        connection.execute(
            "CREATE TABLE floor_posts (id text PRIMARY KEY, author_id text, created_at timestamptz, "
            "language text, text text)"
        )
        connection.commit()
        seconds = {
            "primary_key_only": _copy(connection, "COPY floor_posts FROM STDIN", bare.getvalue()),
            "posts_table": _copy(connection, "COPY posts FROM STDIN", posts.getvalue()),
        }
    print(json.dumps({"posts": len(seen_posts), "seconds": seconds}))
    return 0


def _copy(connection: psycopg.Connection, statement: str, data: str) -> float:
    """Seconds to COPY the text in and commit."""
    started = time.monotonic()
    with connection.cursor() as cursor, cursor.copy(statement) as copy:
        for start in range(0, len(data), 1 << 20):
            copy.write(data[start : start + (1 << 20)])
    connection.commit()
    return round(time.monotonic() - started, 3)


if __name__ == "__main__":
    sys.exit(main())
