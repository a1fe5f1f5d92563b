"""The baseline: the same archive stored row by row with the ORM, the way seed scripts do it.

    python bench/orm_baseline.py FILE --posts 20000   (TAGPULSE_DATABASE_URL: a migrated database)

For every post: load or create its author, skip it if it is stored already, add it and its
hashtag links, then load-or-create and increment every rollup row it counts in; one commit
per page. Correct, and exactly what the set-based path replaces. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from tagpulse.db.engine import create_database_engine
from tagpulse.db.models import (
    UNKNOWN_COUNTRY,
    Base,
    Hashtag,
    HashtagLanguageCountryCount,
    HashtagPostCountByBucket,
    Post,
    PostCountByBucket,
    PostHashtag,
    SourceCount,
    User,
    UserHashtagCount,
)
from tagpulse_collector.archive.files import ArchiveProblems, read_archive
from tagpulse_collector.ingestion.batches import bucket_start, country_of_location


def _count(session: Session, model: type[Base], key: dict[str, Any], **defaults: Any) -> None:
    row = session.get(model, tuple(key.values()))
    if row is None:
        session.add(model(**key, post_count=1, **defaults))
        session.flush()
    else:
        row.post_count += 1  # type: ignore[attr-defined]


def store_page(session: Session, page: Any, now: datetime) -> tuple[int, int]:
    new = 0
    authors = {a.id: a for a in page.authors}
    for post in page.posts:
        source = session.get(SourceCount, post.source)
        if source is None:
            source = SourceCount(source=post.source, posts_fetched=0, posts_stored=0)
            session.add(source)
        source.posts_fetched += 1
        author = authors.get(post.author_id)
        user = session.get(User, (post.source, post.author_id))
        country = country_of_location(author.location) if author else UNKNOWN_COUNTRY
        if user is None:
            user = User(source=post.source, id=post.author_id, post_count=0, updated_at=now)
            session.add(user)
        if author is not None:
            user.username, user.display_name = author.username, author.display_name
            user.followers_count, user.location = author.followers_count, author.location
            user.country_code = country
            user.updated_at = now
        elif user.username is None:
            user.username = user.display_name = user.location = ""
            user.followers_count, user.country_code = 0, UNKNOWN_COUNTRY
        session.flush()
        if session.get(Post, (post.source, post.id)) is not None:
            continue
        place = post.place_country_code
        post_country = place or country
        session.add(
            Post(
                source=post.source,
                id=post.id,
                author_id=post.author_id,
                text=post.text.replace("\x00", ""),
                language=post.language,
                created_at=post.created_at,
                country_code=post_country,
                place_country_code=place,
                collected_at=now,
            )
        )
        session.flush()
        new += 1
        source.posts_stored += 1
        user.post_count += 1
        bucket = bucket_start(post.created_at)
        _count(session, PostCountByBucket, {"bucket_start": bucket})
        for tag in set(post.hashtags):
            session.add(
                PostHashtag(source=post.source, post_id=post.id, hashtag=tag, created_at=post.created_at)
            )
            _count(session, HashtagPostCountByBucket, {"hashtag": tag, "bucket_start": bucket})
            _count(
                session,
                HashtagLanguageCountryCount,
                {"hashtag": tag, "language": post.language, "country_code": post_country},
            )
            _count(
                session, UserHashtagCount, {"hashtag": tag, "source": post.source, "user_id": post.author_id}
            )
            _count(session, Hashtag, {"name": tag}, tracked=False)
        session.flush()
    return len(page.posts), new


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("file", type=Path)
    parser.add_argument("--posts", type=int, default=20_000, help="stop after this many posts")
    args = parser.parse_args()
    engine = create_database_engine(os.environ["TAGPULSE_DATABASE_URL"])
    started = time.monotonic()
    fetched = new = 0
    for page in read_archive(args.file, ArchiveProblems()):
        with Session(engine) as session, session.begin():
            page_fetched, page_new = store_page(session, page, datetime.now(UTC))
        fetched += page_fetched
        new += page_new
        if fetched >= args.posts:
            break
    seconds = time.monotonic() - started
    engine.dispose()
    print(json.dumps({"posts_fetched": fetched, "posts_new": new, "seconds": round(seconds, 3)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
