"""Every summary equals a brute-force computation over the raw posts stored by the test."""

from __future__ import annotations

import itertools
import random
from collections import Counter
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine
from sqlalchemy.engine import Connection

from tagpulse import pagination
from tagpulse_collector.ingestion.batches import ingest_page
from tagpulse_collector.sources.base import Author, CollectedPost, Page
from tagpulse_query import summaries
from tagpulse_query.summaries import HashtagLanguageCountryRow
from tagpulse_query.validation import (
    DEFAULT_COUNTS_PAGE_SIZE,
    hashtag_count_query,
    hour_count_query,
    top_users_query,
)
from tests.integration.brute_force import hour_of_day_counts, local_hour_counts, stored

TAGS = ("devops", "sre", "metrics", "oauth")
# Around the US "fall back" of 2026-11-01 and India/Nepal's :30/:45 offsets.
WINDOW_START = datetime(2026, 10, 30, tzinfo=UTC)
WINDOW = timedelta(days=4)
ZONES = [
    "UTC",
    "Asia/Kolkata",
    "Asia/Kathmandu",
    "America/New_York",
    "Australia/Lord_Howe",
    "Pacific/Chatham",
]


@pytest.fixture
def random_posts(engine: Engine) -> Engine:
    rng = random.Random(20261123)
    authors = [
        Author(
            "sample",
            str(i),
            f"user{i}",
            f"User {i}",
            rng.choice([0, 5, 5, 40, 900, 12000]),
            rng.choice(["", "Mumbai", "Earth"]),
        )
        for i in range(60)
    ]
    posts = []
    for i in range(1500):
        author = rng.choice(authors)
        created = WINDOW_START + timedelta(seconds=rng.randrange(int(WINDOW.total_seconds())))
        tags = tuple(rng.sample(TAGS, k=rng.choice([0, 1, 1, 2, 3])))
        posts.append(
            CollectedPost(
                "sample",
                str(i),
                author.id,
                "text",
                rng.choice(["en", "es", "und"]),
                created,
                tags,
                place_country_code=rng.choice([None, None, None, "NP"]),
            )
        )
    # Pages of 100, each post sent twice across pages to exercise dedupe on the way in.
    doubled = posts + rng.sample(posts, 300)
    for start in range(0, len(doubled), 100):
        chunk = doubled[start : start + 100]
        with engine.begin() as connection:
            ingest_page(connection, Page(posts=chunk, authors=authors))
    return engine


@pytest.mark.parametrize("hashtag", [None, "sre"])
def test_hour_of_day_equals_a_recount(random_posts: Engine, hashtag: str | None) -> None:
    posts, tags, _ = stored(random_posts)
    for zone in ZONES:
        check_hour_of_day(random_posts, posts, tags, zone, hashtag)


def check_hour_of_day(random_posts: Engine, posts: list, tags: dict, zone: str, hashtag: str | None) -> None:  # type: ignore[type-arg]
    with random_posts.connect() as connection:
        rows = summaries.count_posts_by_hour(
            connection, hour_count_query("HOUR_OF_DAY", zone, hashtag or "", None, None)
        )
    assert [r.hour_of_day for r in rows] == list(range(24))
    assert [r.post_count for r in rows] == hour_of_day_counts(posts, tags, zone, hashtag)
    if hashtag is None:
        assert sum(r.post_count for r in rows) == len(posts) == 1500


def test_timeline_equals_a_recount_across_dst_and_odd_offsets(random_posts: Engine) -> None:
    posts, tags, _ = stored(random_posts)
    for zone in ZONES:
        check_timeline(random_posts, posts, tags, zone)


def check_timeline(random_posts: Engine, posts: list, tags: dict, zone: str) -> None:  # type: ignore[type-arg]
    with random_posts.connect() as connection:
        rows = summaries.count_posts_by_hour(connection, hour_count_query("TIMELINE", zone, "", None, None))
    expected = local_hour_counts(posts, tags, zone, None)
    got = {r.local_start.astimezone(UTC): r.post_count for r in rows if r.post_count}
    assert got == {k: v for k, v in expected.items() if v}
    # Consecutive rows are consecutive local hours: 60 minutes apart in real time, except
    # across Lord Howe's 30-minute DST shift.
    starts = [r.local_start for r in rows]
    assert len(starts) == len({s.astimezone(UTC) for s in starts})
    steps = {(b.astimezone(UTC) - a.astimezone(UTC)) for a, b in itertools.pairwise(starts)}
    assert steps <= {timedelta(hours=1), timedelta(minutes=30), timedelta(minutes=90)}
    if zone == "America/New_York":
        # 1:00 local happens twice on 2026-11-01: two rows.
        ones = [s for s in starts if s.date().isoformat() == "2026-11-01" and s.hour == 1]
        assert [s.utcoffset() for s in ones] == [timedelta(hours=-4), timedelta(hours=-5)]


def test_unaligned_time_range_is_exact(random_posts: Engine) -> None:
    posts, tags, _ = stored(random_posts)
    start = WINDOW_START + timedelta(hours=30, minutes=7, seconds=13)
    end = start + timedelta(hours=40, minutes=11)
    for zone, hashtag in [
        ("Asia/Kathmandu", None),
        ("Asia/Kathmandu", "metrics"),
        ("America/New_York", None),
    ]:
        query = hour_count_query("TIMELINE", zone, hashtag or "", start, end)
        with random_posts.connect() as connection:
            rows = summaries.count_posts_by_hour(connection, query)
            by_day = summaries.count_posts_by_hour(
                connection, hour_count_query("HOUR_OF_DAY", zone, hashtag or "", start, end)
            )
        expected = local_hour_counts(posts, tags, zone, hashtag, start, end)
        got = {r.local_start.astimezone(UTC): r.post_count for r in rows if r.post_count}
        assert got == {k: v for k, v in expected.items() if v}
        assert (
            rows[0].local_start <= start.astimezone(ZoneInfo(zone)) < rows[0].local_start + timedelta(hours=1)
        )
        assert [r.post_count for r in by_day] == hour_of_day_counts(posts, tags, zone, hashtag, start, end)
    # Start and end inside one 15-minute bucket.
    tiny_start = WINDOW_START + timedelta(hours=50, minutes=1)
    tiny = hour_count_query("HOUR_OF_DAY", "UTC", "", tiny_start, tiny_start + timedelta(minutes=9))
    with random_posts.connect() as connection:
        total = sum(r.post_count for r in summaries.count_posts_by_hour(connection, tiny))
    assert total == sum(1 for p in posts if tiny_start <= p.created_at < tiny_start + timedelta(minutes=9))


def test_the_widest_spans_cost_what_the_data_costs_and_stay_exact(
    random_posts: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An unauthenticated request once made the service work through 8,000 years of a time
    zone's hours (HOUR_OF_DAY) or list 490,000 empty hours (TIMELINE from 1970)."""
    posts, tags, _ = stored(random_posts)
    earliest, latest = datetime(1970, 1, 1, tzinfo=UTC), datetime(9999, 1, 1, tzinfo=UTC)
    zone = "America/New_York"
    with random_posts.connect() as connection:
        by_day = summaries.count_posts_by_hour(
            connection, hour_count_query("HOUR_OF_DAY", zone, "", earliest, latest)
        )
        assert [r.post_count for r in by_day] == hour_of_day_counts(posts, tags, zone, None)
        everything = local_hour_counts(posts, tags, zone, None)
        for start, end in [(earliest, None), (None, latest), (None, None)]:
            rows = summaries.count_posts_by_hour(
                connection, hour_count_query("TIMELINE", zone, "", start, end)
            )
            got = {r.local_start.astimezone(UTC): r.post_count for r in rows if r.post_count}
            assert got == {k: v for k, v in everything.items() if v}
            # An open end comes from the data: nothing from 1970, nothing up to year 9999.
            assert len(rows) <= WINDOW.total_seconds() / 3600 + 2

        # Data wider than the longest timeline: an open start keeps the newest hours.
        monkeypatch.setattr(summaries, "MAX_TIMELINE_HOURS", 24)
        rows = summaries.count_posts_by_hour(
            connection, hour_count_query("TIMELINE", "UTC", "", earliest, None)
        )
    assert len(rows) == 24
    newest = max(p.created_at for p in posts)
    assert rows[-1].local_start <= newest < rows[-1].local_start + timedelta(hours=1)
    window_start = rows[0].local_start
    assert [r.post_count for r in rows] == [
        sum(1 for p in posts if r.local_start <= p.created_at < r.local_start + timedelta(hours=1))
        for r in rows
    ]
    assert window_start > WINDOW_START


@pytest.mark.parametrize("hashtag", [None, "oauth"])
def test_top_users_are_distinct_by_latest_followers(random_posts: Engine, hashtag: str | None) -> None:
    posts, tags, users = stored(random_posts)
    with random_posts.connect() as connection:
        top = summaries.top_users(connection, top_users_query(7, hashtag or ""))
    posted = {
        (p.source, p.author_id) for p in posts if hashtag is None or hashtag in tags.get((p.source, p.id), ())
    }
    expected = sorted(posted, key=lambda key: (-users[key].followers_count, key))[:7]
    assert [(u.source, u.id) for u in top] == expected
    counts = Counter((p.source, p.author_id) for p in posts)
    assert [u.post_count for u in top] == [counts[key] for key in expected]


def every_count(
    connection: Connection, page_size: int = 0, **filters: str
) -> list[HashtagLanguageCountryRow]:
    """Every row of CountPostsByHashtag, page after page; each page's totals checked against them."""
    rows: list[HashtagLanguageCountryRow] = []
    totals = set()
    token = ""
    while True:
        page = summaries.count_posts_by_hashtag(
            connection, hashtag_count_query(page_size=page_size, page_token=token, **filters)
        )
        rows.extend(page.rows)
        totals.add((page.total_rows, page.total_posts))
        query = hashtag_count_query(page_size=page_size, **filters)
        token = pagination.HASHTAG_COUNTS.encode(page.last, query.filter)
        if not token:
            break
    assert totals == {(len(rows), sum(r.post_count for r in rows))}
    return rows


def test_counts_by_hashtag_language_country(random_posts: Engine) -> None:
    posts, tags, _ = stored(random_posts)
    expected = Counter((t, p.language, p.country_code) for p in posts for t in tags.get((p.source, p.id), ()))
    with random_posts.connect() as connection:
        rows = every_count(connection, page_size=1000, hashtag="")
        sre = every_count(connection, hashtag="#SRE")
    assert len(rows) == len(expected)
    assert {(r.hashtag, r.language, r.country_code): r.post_count for r in rows} == expected
    assert [r.post_count for r in rows] == sorted((r.post_count for r in rows), reverse=True)
    assert {r.hashtag for r in sre} == {"sre"}
    assert {r.country_code for r in rows} >= {"NP", "IN", "unknown"}


def test_counts_by_hashtag_page_by_page(random_posts: Engine) -> None:
    """Small pages walk the same rows in the same order as one big page, each once, whatever the
    order and the filters; the totals on every page are those of all of them."""
    with random_posts.connect() as connection:
        some, other = every_count(connection, page_size=1000)[::-1][:2]
        for filters in (
            {},
            {"language": some.language},
            {"country_code": other.country_code.lower()},
            {"hashtag": other.hashtag, "language": other.language},
        ):
            for order in ("", "hashtag"):
                whole = every_count(connection, page_size=1000, order_by=order, **filters)
                assert every_count(connection, page_size=3, order_by=order, **filters) == whole
                assert whole, filters
        by_name = every_count(connection, page_size=1000, order_by="hashtag")
        first = summaries.count_posts_by_hashtag(connection, hashtag_count_query(""))
        english = every_count(connection, language="en")
        nepal = every_count(connection, country_code="NP")
    keys = [(r.hashtag, r.language, r.country_code) for r in by_name]
    assert keys == sorted(keys)
    assert len(first.rows) == min(first.total_rows, DEFAULT_COUNTS_PAGE_SIZE)
    assert {r.language for r in english} == {"en"}
    assert {r.country_code for r in nepal} == {"NP"}


def test_sql_looking_input_is_just_a_value(random_posts: Engine) -> None:
    with random_posts.connect() as connection:
        assert summaries.top_users(connection, top_users_query(5, "DROP_TABLE_posts")) == []
        assert summaries.count_posts_by_hashtag(connection, hashtag_count_query("x_OR_1_1")).rows == []
