"""Realistic posts for the benchmark, bulk-loaded into PostgreSQL with exactly the rows and
rollups that ingestion would have written for them.

The posts look like the sample source's (its languages, free-text profile locations,
heavy-tailed follower counts, Zipf-like authors and daily rhythm), over 30 days and the ten
default hashtags. A million posts through `ingest_page` would take most of an hour on two
cores, so the rows are written with COPY and the rollups computed by one GROUP BY each after
the load; `tests/integration/test_bench_dataset.py` checks that this gives the very tables
ingestion gives for the same pages.
"""

from __future__ import annotations

import argparse
import bisect
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import psycopg
from psycopg.types.json import Json
from sqlalchemy.engine import make_url

from tagpulse.db.models import BUCKET_SECONDS, UNKNOWN_LANGUAGE
from tagpulse.settings import DEFAULT_HASHTAGS
from tagpulse_collector.ingestion.batches import country_of_location
from tagpulse_collector.sources.base import Author, CollectedPost, Page
from tagpulse_collector.sources.sample import (
    FIRST_NAMES,
    HANDLE_WORDS,
    HOUR_WEIGHTS,
    LANGUAGES,
    LOCATIONS,
    PHRASES,
)

SOURCE = "x"
DAYS = 30
# Share of posts written for each hashtag: a few big ones and a long tail.
HASHTAG_WEIGHTS = (6, 5, 30, 15, 12, 10, 7, 9, 3, 3)
# Of the posts fetched, this share had already been stored (found under a second hashtag,
# or again in the next run); used for the fetched figures.
DUPLICATE_SHARE = 0.18
RUNS_PER_DAY = 2


@dataclass(frozen=True)
class Dataset:
    authors: list[Author]
    posts: list[CollectedPost]
    # Posts fetched, duplicates included.
    fetched: int
    end: datetime

    def pages(self, size: int = 100) -> Iterator[Page]:
        """The same posts as pages for `ingest_page` (each with its authors)."""
        by_id = {a.id: a for a in self.authors}
        for start in range(0, len(self.posts), size):
            chunk = self.posts[start : start + size]
            authors = {p.author_id: by_id[p.author_id] for p in chunk}
            yield Page(posts=chunk, authors=[authors[key] for key in sorted(authors)])


def generate(posts: int, seed: int = 2026, end: datetime | None = None) -> Dataset:
    """`posts` distinct posts with 1-3 of the ten hashtags, written over the 30 days before `end`."""
    rng = random.Random(seed)
    end = end or datetime(2026, 11, 23, tzinfo=UTC)
    start = end - timedelta(days=DAYS)
    locations, location_weights = zip(*LOCATIONS.items(), strict=True)
    authors = []
    for index in range(max(400, posts // 10)):
        first = rng.choice(FIRST_NAMES)
        followers = rng.lognormvariate(5, 2.5) * (1000 if rng.random() < 0.02 else 1)
        authors.append(
            Author(
                source=SOURCE,
                id=str(10**15 + index * 7919),
                username=f"{first}_{rng.choice(HANDLE_WORDS)}_{index}",
                display_name=f"{first.title()} {rng.choice('ABCDEFGHIJKLMNOPRSTVZ')}.",
                followers_count=min(int(followers), 60_000_000),
                location=rng.choices(locations, weights=location_weights)[0],
            )
        )
    # Zipf-like authorship: a few accounts write much of it.
    cumulative_authors = _cumulative([1 / (rank + 1) ** 0.9 for rank in range(len(authors))])
    cumulative_languages = _cumulative(list(LANGUAGES.values()))
    language_names = list(LANGUAGES)
    cumulative_hours = _cumulative(list(HOUR_WEIGHTS))
    cumulative_tags = _cumulative(list(HASHTAG_WEIGHTS))
    made = []
    for index in range(posts):
        author = authors[_pick(rng, cumulative_authors)]
        language = language_names[_pick(rng, cumulative_languages)]
        primary = DEFAULT_HASHTAGS[_pick(rng, cumulative_tags)]
        extras = rng.sample(DEFAULT_HASHTAGS, k=rng.choices((0, 1, 2), weights=(60, 30, 10))[0])
        hashtags = tuple(dict.fromkeys([primary, *extras]))
        created = (
            start
            + timedelta(days=rng.randrange(DAYS), hours=_pick(rng, cumulative_hours))
            + timedelta(seconds=rng.randrange(3600), microseconds=rng.randrange(1000) * 1000)
        )
        made.append(
            CollectedPost(
                source=SOURCE,
                id=str(1_800_000_000_000_000_000 + index * 104_729),
                author_id=author.id,
                text=" ".join([rng.choice(PHRASES[language]), *(f"#{tag}" for tag in hashtags)]),
                language=language,
                created_at=created,
                hashtags=hashtags,
                place_country_code=(
                    rng.choice(("US", "GB", "MX", "ES", "IN", "BR", "DE", "JP"))
                    if rng.random() < 1 / 12
                    else None
                ),
            )
        )
    # Ingestion only ever meets authors through their posts.
    used = {p.author_id for p in made}
    return Dataset(
        authors=[a for a in authors if a.id in used],
        posts=made,
        fetched=posts + round(posts * DUPLICATE_SHARE / (1 - DUPLICATE_SHARE)),
        end=end,
    )


def _cumulative(weights: list[float]) -> list[float]:
    total, out = 0.0, []
    for weight in weights:
        total += weight
        out.append(total)
    return out


def _pick(rng: random.Random, cumulative: list[float]) -> int:
    return bisect.bisect_right(cumulative, rng.random() * cumulative[-1])


def psycopg_url(url: str) -> str:
    """A SQLAlchemy URL as libpq understands it."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def bulk_load(database_url: str, data: Dataset, collected_at: datetime | None = None) -> None:
    """Write `data` into an empty, migrated PostgreSQL database as ingestion would have."""
    now = collected_at or datetime.now(UTC)
    countries = {a.id: country_of_location(a.location) for a in data.authors}
    with psycopg.connect(psycopg_url(database_url)) as connection, connection.cursor() as cursor:
        _copy(
            cursor,
            "users (source, id, username, display_name, followers_count, location, country_code, post_count,"
            " updated_at)",
            ((a.source, a.id, a.username, a.display_name, a.followers_count, a.location, countries[a.id], 0,
              now) for a in data.authors),
        )  # fmt: skip
        _copy(
            cursor,
            "posts (source, id, author_id, text, language, created_at, country_code, place_country_code,"
            " collected_at)",
            (
                (
                    p.source, p.id, p.author_id, p.text, p.language or UNKNOWN_LANGUAGE, p.created_at,
                    p.place_country_code.upper() if p.place_country_code else countries[p.author_id],
                    p.place_country_code.upper() if p.place_country_code else None, now,
                )
                for p in data.posts
            ),
        )  # fmt: skip
        _copy(
            cursor,
            "post_hashtags (source, post_id, hashtag, created_at)",
            ((p.source, p.id, tag, p.created_at) for p in data.posts for tag in sorted(set(p.hashtags))),
        )
        for statement in ROLLUPS:
            cursor.execute(statement, {"bucket": BUCKET_SECONDS})
        _record_runs(cursor, data, now)
        cursor.execute(
            "INSERT INTO source_counts (source, posts_fetched, posts_stored)"
            " SELECT source, 0, count(*) FROM posts GROUP BY source"
        )
        cursor.execute("UPDATE source_counts SET posts_fetched = %s", (data.fetched,))
        connection.commit()
        cursor.execute("ANALYZE")


def _copy(
    cursor: psycopg.Cursor[tuple[object, ...]], target: str, rows: Iterator[tuple[object, ...]]
) -> None:
    with cursor.copy(f"COPY {target} FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


# The rollups of tagpulse_collector.ingestion.staging, by GROUP BY over the loaded rows.
ROLLUPS = (
    "INSERT INTO post_counts_by_bucket (bucket_start, post_count)"
    " SELECT to_timestamp(floor(extract(epoch FROM created_at) / %(bucket)s) * %(bucket)s), count(*)"
    " FROM posts GROUP BY 1",
    "INSERT INTO hashtag_post_counts_by_bucket (hashtag, bucket_start, post_count)"
    " SELECT hashtag, to_timestamp(floor(extract(epoch FROM created_at) / %(bucket)s) * %(bucket)s), count(*)"
    " FROM post_hashtags GROUP BY 1, 2",
    "INSERT INTO hashtag_language_country_counts (hashtag, language, country_code, post_count)"
    " SELECT h.hashtag, p.language, p.country_code, count(*) FROM post_hashtags h"
    " JOIN posts p ON p.source = h.source AND p.id = h.post_id GROUP BY 1, 2, 3",
    "INSERT INTO user_hashtag_counts (hashtag, source, user_id, post_count)"
    " SELECT h.hashtag, p.source, p.author_id, count(*) FROM post_hashtags h"
    " JOIN posts p ON p.source = h.source AND p.id = h.post_id GROUP BY 1, 2, 3",
    "INSERT INTO hashtags (name, tracked, post_count)"
    " SELECT hashtag, false, count(*) FROM post_hashtags GROUP BY 1",
    "UPDATE users u SET post_count = c.n FROM"
    " (SELECT source, author_id, count(*) AS n FROM posts GROUP BY 1, 2) c"
    " WHERE u.source = c.source AND u.id = c.author_id",
)


def _record_runs(cursor: psycopg.Cursor[tuple[object, ...]], data: Dataset, now: datetime) -> None:
    """The scheduled runs that collected the posts: two a day, each hashtag succeeding; the
    tracked hashtags marked as the collector marks them."""
    runs = DAYS * RUNS_PER_DAY
    per_run = len(data.posts) // runs
    for index in range(runs):
        started = data.end - timedelta(hours=12 * (runs - index))
        cursor.execute(
            "INSERT INTO collection_runs (source, hashtags, max_posts_per_hashtag, state, started_at,"
            " ended_at, posts_fetched, posts_new, error_message)"
            " VALUES (%s, %s, %s, 'SUCCEEDED', %s, %s, %s, %s, '') RETURNING id",
            (SOURCE, Json(list(DEFAULT_HASHTAGS)), 10_000, started,
             started + timedelta(minutes=9), per_run, per_run),
        )  # fmt: skip
        row = cursor.fetchone()
        assert row is not None
        share = per_run // len(DEFAULT_HASHTAGS)
        cursor.executemany(
            "INSERT INTO collection_run_hashtags (run_id, hashtag, state, posts_fetched, posts_new,"
            " error_message) VALUES (%s, %s, 'SUCCEEDED', %s, %s, '')",
            [(row[0], tag, share, share) for tag in DEFAULT_HASHTAGS],
        )
    cursor.execute(
        "UPDATE hashtags SET tracked = true, last_collected_at = %s WHERE name = ANY(%s)",
        (data.end - timedelta(hours=12) + timedelta(minutes=9), list(DEFAULT_HASHTAGS)),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("database_url", help="an empty database migrated to head")
    parser.add_argument("--posts", type=int, default=10_000)
    args = parser.parse_args()
    bulk_load(args.database_url, generate(args.posts))


if __name__ == "__main__":
    main()
