"""Writes pages of posts: users, posts, hashtag links and rollups, exactly once.

The one ingestion path: collection runs, archive import and (later) streams all call
`ingest_pages`. A call is part of the caller's transaction — one page per transaction for a
collection, several for an import. Posts are inserted with ON CONFLICT DO NOTHING and the
rollups are updated only for the rows that insert really created, so a post seen twice — in
one page, in two runs, or by two concurrent writers — is stored and counted once.

This module turns pages into distinct rows (latest author profile wins, countries resolved,
15-minute buckets); `staging.py` writes them set-based.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, TypeVar

from sqlalchemy import Engine
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

from tagpulse.db.models import (
    BUCKET_SECONDS,
    DISPLAY_NAME,
    LANGUAGE,
    PLATFORM_ID,
    UNKNOWN_COUNTRY,
    UNKNOWN_LANGUAGE,
    USERNAME,
    width,
)
from tagpulse_collector.ingestion import staging
from tagpulse_collector.ingestion.country import resolve_country
from tagpulse_collector.sources.base import Author, CollectedPost, Page

log = logging.getLogger("tagpulse.ingest")

# The schema's column widths: longer values are cut rather than failing the whole batch.
MAX_ID, MAX_USERNAME = width(PLATFORM_ID), width(USERNAME)
MAX_DISPLAY_NAME, MAX_LANGUAGE = width(DISPLAY_NAME), width(LANGUAGE)
# PostgreSQL's codes for "try the transaction again": a deadlock, a serialization failure, and a
# foreign-key violation, which a deletion removing an author (its last post gone) at the moment
# a batch stores a new post of theirs causes on either side; run again, the batch inserts the
# author anew, or the deletion sees the new post and keeps the author.
RETRYABLE_SQLSTATES = frozenset({"40P01", "40001", "23503"})


@dataclass(frozen=True)
class IngestResult:
    # Posts in the pages (a post repeated within them counts each time).
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


def _clean(value: str, limit: int | None = None) -> str:
    # PostgreSQL text cannot hold NUL characters.
    if "\x00" in value:
        value = value.replace("\x00", "")
    return value[:limit] if limit is not None else value


@dataclass(frozen=True)
class Batch:
    """Distinct rows ready for `staging.write_batch`."""

    users: list[tuple[Any, ...]]
    posts: list[tuple[Any, ...]]
    links: list[tuple[Any, ...]]
    fetched_by_source: dict[str, int]

    @property
    def fetched(self) -> int:
        return sum(self.fetched_by_source.values())


def prepare_batch(pages: Iterable[Page], resolve: Callable[[str], str] = country_of_location) -> Batch:
    """Pages → distinct user, post and link rows (the last sight of a post or author wins)."""
    posts: dict[tuple[str, str], CollectedPost] = {}
    authors: dict[tuple[str, str], Author] = {}
    fetched: Counter[str] = Counter()
    for page in pages:
        for post in page.posts:
            fetched[post.source] += 1
            if len(post.id) <= MAX_ID and len(post.author_id) <= MAX_ID:
                posts[(post.source, post.id)] = post
        for author in page.authors:
            if len(author.id) <= MAX_ID:
                authors[(author.source, author.id)] = author

    author_rows = []
    countries: dict[tuple[str, str], str] = {}
    for key in sorted(authors):
        author = authors[key]
        location = _clean(author.location)
        country = countries[key] = resolve(location)
        author_rows.append(
            (
                author.source,
                author.id,
                _clean(author.username, MAX_USERNAME),
                _clean(author.display_name, MAX_DISPLAY_NAME),
                author.followers_count,
                location,
                country,
            )
        )

    post_rows: list[tuple[Any, ...]] = []
    link_rows: list[tuple[Any, ...]] = []
    for key in sorted(posts):
        post = posts[key]
        place = post.place_country_code.upper() if post.place_country_code else None
        country = place or countries.get((post.source, post.author_id), UNKNOWN_COUNTRY)
        post_rows.append(
            (
                post.source,
                post.id,
                post.author_id,
                _clean(post.text),
                _clean(post.language, MAX_LANGUAGE) or UNKNOWN_LANGUAGE,
                post.created_at,
                country,
                place,
                bucket_start(post.created_at),
            )
        )
        link_rows.extend((post.source, post.id, tag) for tag in sorted(set(post.hashtags)))
    return Batch(author_rows, post_rows, link_rows, dict(fetched))


def ingest_pages(
    connection: Connection,
    pages: Iterable[Page],
    now: datetime | None = None,
    resolve: Callable[[str], str] = country_of_location,
) -> IngestResult:
    """Store pages in the connection's transaction; return how many posts were new."""
    batch = prepare_batch(pages, resolve)
    return write_prepared(connection, batch, now)


def write_prepared(connection: Connection, batch: Batch, now: datetime | None = None) -> IngestResult:
    """Store a batch `prepare_batch` made (the importer prepares in another thread)."""
    if not batch.posts:
        return IngestResult(fetched=batch.fetched, new=0)
    new_by_source = staging.write_batch(
        connection, batch.users, batch.posts, batch.links, batch.fetched_by_source, now or datetime.now(UTC)
    )
    return IngestResult(fetched=batch.fetched, new=sum(new_by_source.values()))


def ingest_page(
    connection: Connection,
    page: Page,
    now: datetime | None = None,
    resolve: Callable[[str], str] = country_of_location,
) -> IngestResult:
    """Store one page in the connection's transaction."""
    return ingest_pages(connection, [page], now, resolve)


T = TypeVar("T")


def in_transaction(engine: Engine, work: Callable[[Connection], T], attempts: int = 5) -> T:
    """Run `work` in a transaction, again from the start if PostgreSQL chose it as a deadlock
    victim or a serialization failure: the rollback undid everything, so nothing counts twice."""
    for attempt in range(1, attempts + 1):
        try:
            with engine.begin() as connection:
                return work(connection)
        except DBAPIError as error:
            sqlstate = getattr(error.orig, "sqlstate", None)
            if sqlstate not in RETRYABLE_SQLSTATES or attempt == attempts:
                raise
            log.warning("transaction retried", extra={"sqlstate": sqlstate, "attempt": attempt})
            time.sleep(0.05 * attempt)
    raise AssertionError("unreachable")  # pragma: no cover
