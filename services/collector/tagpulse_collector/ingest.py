"""Writes pages of posts: users, posts, hashtag links and rollups, exactly once.

One page is one transaction (the caller's). Posts are inserted with ON CONFLICT DO NOTHING
and the rollups are updated only for the rows that insert really created, so a post seen
twice — in one page, in two runs, or by two concurrent writers — is stored and counted once.
Rows are written in key order so concurrent writers take locks in the same order.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import Table, bindparam, update
from sqlalchemy.engine import Connection

from tagpulse.db.engine import upsert
from tagpulse.db.models import (
    BUCKET_SECONDS,
    UNKNOWN_COUNTRY,
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
from tagpulse_collector.country import resolve_country
from tagpulse_collector.sources.base import Author, CollectedPost, Page

# Rows per INSERT statement: well under SQLite's limit of bound parameters.
CHUNK = 500


@dataclass(frozen=True)
class IngestResult:
    # Posts in the page (a post repeated within the page counts each time).
    fetched: int
    # Posts stored for the first time.
    new: int

    @property
    def duplicate(self) -> int:
        return self.fetched - self.new


def bucket_start(instant: datetime) -> datetime:
    """The 15-minute UTC bucket an instant falls in."""
    seconds = int(instant.timestamp())
    return datetime.fromtimestamp(seconds - seconds % BUCKET_SECONDS, UTC)


@lru_cache(maxsize=65536)
def country_of_location(location: str) -> str:
    return resolve_country(location) or UNKNOWN_COUNTRY


def ingest_page(
    connection: Connection,
    page: Page,
    now: datetime | None = None,
    resolve: Callable[[str], str] = country_of_location,
) -> IngestResult:
    """Store one page in the connection's transaction; return how many posts were new."""
    now = now or datetime.now(UTC)
    posts = {(p.source, p.id): p for p in page.posts}
    if not posts:
        return IngestResult(fetched=0, new=0)
    authors = {(a.source, a.id): a for a in page.authors}
    author_countries = {key: resolve(a.location) for key, a in authors.items()}

    _upsert_users(connection, authors, author_countries, now)
    _insert_missing_authors(connection, posts.values(), authors, now)
    inserted = _insert_posts(connection, posts, authors, author_countries, now)
    new_posts = [posts[key] for key in sorted(inserted)]
    if new_posts:
        _add_hashtag_links(connection, new_posts)
        _update_rollups(connection, new_posts, country_of=lambda p: _post_country(p, author_countries))
    _add_to_source_counts(connection, page.posts, new_posts)
    return IngestResult(fetched=len(page.posts), new=len(new_posts))


def _post_country(post: CollectedPost, author_countries: dict[tuple[str, str], str]) -> str:
    if post.place_country_code:
        return post.place_country_code.upper()
    return author_countries.get((post.source, post.author_id), UNKNOWN_COUNTRY)


def _chunks(rows: list[dict[str, Any]]) -> Iterable[list[dict[str, Any]]]:
    for start in range(0, len(rows), CHUNK):
        yield rows[start : start + CHUNK]


def _upsert_users(
    connection: Connection,
    authors: dict[tuple[str, str], Author],
    countries: dict[tuple[str, str], str],
    now: datetime,
) -> None:
    rows = [
        {
            "source": a.source,
            "id": a.id,
            "username": a.username,
            "display_name": a.display_name,
            "followers_count": a.followers_count,
            "location": a.location,
            "country_code": countries[key],
            "post_count": 0,
            "updated_at": now,
        }
        for key, a in sorted(authors.items())
    ]
    for chunk in _chunks(rows):
        statement = upsert(connection, User.table()).values(chunk)
        latest = statement.excluded
        connection.execute(
            statement.on_conflict_do_update(
                index_elements=["source", "id"],
                set_={
                    "username": latest.username,
                    "display_name": latest.display_name,
                    "followers_count": latest.followers_count,
                    "location": latest.location,
                    "country_code": latest.country_code,
                    "updated_at": latest.updated_at,
                },
            )
        )


def _insert_missing_authors(
    connection: Connection,
    posts: Iterable[CollectedPost],
    authors: dict[tuple[str, str], Author],
    now: datetime,
) -> None:
    """A platform may omit an author from a page; keep the post, with a bare user row."""
    missing = sorted({(p.source, p.author_id) for p in posts} - set(authors))
    rows = [
        {
            "source": source,
            "id": author_id,
            "username": "",
            "display_name": "",
            "followers_count": 0,
            "location": "",
            "country_code": UNKNOWN_COUNTRY,
            "post_count": 0,
            "updated_at": now,
        }
        for source, author_id in missing
    ]
    for chunk in _chunks(rows):
        connection.execute(upsert(connection, User.table()).values(chunk).on_conflict_do_nothing())


def _insert_posts(
    connection: Connection,
    posts: dict[tuple[str, str], CollectedPost],
    authors: dict[tuple[str, str], Author],
    author_countries: dict[tuple[str, str], str],
    now: datetime,
) -> set[tuple[str, str]]:
    rows = [
        {
            "source": p.source,
            "id": p.id,
            "author_id": p.author_id,
            "text": p.text,
            "language": p.language or "und",
            "created_at": p.created_at,
            "country_code": _post_country(p, author_countries),
            "place_country_code": p.place_country_code.upper() if p.place_country_code else None,
            "collected_at": now,
        }
        for _, p in sorted(posts.items())
    ]
    inserted: set[tuple[str, str]] = set()
    table = Post.table()
    for chunk in _chunks(rows):
        statement = (
            upsert(connection, table)
            .values(chunk)
            .on_conflict_do_nothing(index_elements=["source", "id"])
            .returning(table.c.source, table.c.id)
        )
        inserted.update((row.source, row.id) for row in connection.execute(statement))
    return inserted


def _add_hashtag_links(connection: Connection, posts: list[CollectedPost]) -> None:
    rows = [
        {"source": p.source, "post_id": p.id, "hashtag": tag, "created_at": p.created_at}
        for p in posts
        for tag in sorted(set(p.hashtags))
    ]
    for chunk in _chunks(rows):
        connection.execute(upsert(connection, PostHashtag.table()).values(chunk).on_conflict_do_nothing())


def _update_rollups(
    connection: Connection, posts: list[CollectedPost], country_of: Callable[[CollectedPost], str]
) -> None:
    by_bucket: Counter[tuple[Any, ...]] = Counter()
    by_hashtag_bucket: Counter[tuple[Any, ...]] = Counter()
    by_hashtag_language_country: Counter[tuple[Any, ...]] = Counter()
    by_user_hashtag: Counter[tuple[Any, ...]] = Counter()
    by_hashtag: Counter[tuple[Any, ...]] = Counter()
    by_user: Counter[tuple[str, str]] = Counter()
    for post in posts:
        bucket = bucket_start(post.created_at)
        country = country_of(post)
        language = post.language or "und"
        by_bucket[(bucket,)] += 1
        by_user[(post.source, post.author_id)] += 1
        for tag in set(post.hashtags):
            by_hashtag_bucket[(tag, bucket)] += 1
            by_hashtag_language_country[(tag, language, country)] += 1
            by_user_hashtag[(tag, post.source, post.author_id)] += 1
            by_hashtag[(tag,)] += 1

    _increment(connection, PostCountByBucket.table(), ("bucket_start",), by_bucket)
    _increment(connection, HashtagPostCountByBucket.table(), ("hashtag", "bucket_start"), by_hashtag_bucket)
    _increment(
        connection,
        HashtagLanguageCountryCount.table(),
        ("hashtag", "language", "country_code"),
        by_hashtag_language_country,
    )
    _increment(connection, UserHashtagCount.table(), ("hashtag", "source", "user_id"), by_user_hashtag)
    _increment(connection, Hashtag.table(), ("name",), by_hashtag, defaults={"tracked": False})

    users = User.table()
    connection.execute(
        update(users)
        .where(users.c.source == bindparam("b_source"), users.c.id == bindparam("b_id"))
        .values(post_count=users.c.post_count + bindparam("b_count")),
        [{"b_source": s, "b_id": i, "b_count": n} for (s, i), n in sorted(by_user.items())],
    )


def _increment(
    connection: Connection,
    table: Table,
    key_columns: tuple[str, ...],
    counts: Counter[tuple[Any, ...]],
    column: str = "post_count",
    defaults: dict[str, Any] | None = None,
) -> None:
    """Add counts to a rollup: insert new keys, add to existing ones, in key order."""
    rows = [
        {**dict(zip(key_columns, key, strict=True)), column: n, **(defaults or {})}
        for key, n in sorted(counts.items())
    ]
    for chunk in _chunks(rows):
        statement = upsert(connection, table).values(chunk)
        connection.execute(
            statement.on_conflict_do_update(
                index_elements=list(key_columns),
                set_={column: table.c[column] + statement.excluded[column]},
            )
        )


def _add_to_source_counts(
    connection: Connection, fetched_posts: Iterable[CollectedPost], new_posts: list[CollectedPost]
) -> None:
    fetched: Counter[str] = Counter(p.source for p in fetched_posts)
    stored: Counter[str] = Counter(p.source for p in new_posts)
    table = SourceCount.table()
    for source, count in sorted(fetched.items()):
        statement = upsert(connection, table).values(
            source=source, posts_fetched=count, posts_stored=stored[source]
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
