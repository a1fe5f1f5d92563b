"""The floor: a raw COPY of the posts alone, into the real `posts` table with its indexes.

    python bench/copy_floor.py FILE   (TAGPULSE_DATABASE_URL: a migrated, empty database)

Untimed: the archive is parsed, its distinct posts rendered as COPY text in memory, and their
authors copied into `users` (the posts' foreign key needs them). Timed: one COPY of the
posts, and its commit. No links, no rollups, no dedupe: nothing can store posts faster.
Prints one JSON object.
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
    posts, users = io.StringIO(), io.StringIO()
    seen_posts: set[str] = set()
    seen_users: set[str] = set()
    for page in read_archive(args.file, ArchiveProblems()):
        for post in page.posts:
            if post.id in seen_posts:
                continue
            seen_posts.add(post.id)
            row = (
                *(post.source, post.id, post.author_id, post.text.replace("\x00", ""), post.language),
                *(post.created_at.isoformat(), "unknown", post.place_country_code, now),
            )
            posts.write("\t".join(map(_text, row)) + "\n")
            if post.author_id not in seen_users:
                seen_users.add(post.author_id)
                user = ("x", post.author_id, "", "", 0, "", "unknown", 0, now)
                users.write("\t".join(map(_text, user)) + "\n")
    url = make_url(os.environ["TAGPULSE_DATABASE_URL"]).set(drivername="postgresql")
    with psycopg.connect(url.render_as_string(hide_password=False)) as connection:
        with connection.cursor() as cursor, cursor.copy("COPY users FROM STDIN") as copy:
            copy.write(users.getvalue())
        connection.commit()
        data = posts.getvalue()
        started = time.monotonic()
        with connection.cursor() as cursor, cursor.copy("COPY posts FROM STDIN") as copy:
            for start in range(0, len(data), 1 << 20):
                copy.write(data[start : start + (1 << 20)])
        connection.commit()
        seconds = time.monotonic() - started
    print(json.dumps({"posts": len(seen_posts), "seconds": round(seconds, 3)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
