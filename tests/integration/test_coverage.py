"""GetHashtagCoverage through the query servicer: X's recorded counts beside the posts stored from
X in each bucket, recounted here from the posts the test stores; a hashtag without counts says so."""

from __future__ import annotations

import asyncio
import dataclasses
import random
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine

from tagpulse.errors import InvalidArgument, NotFound
from tagpulse.v1 import query_service_pb2 as pb
from tagpulse_collector.counts import store_counts
from tagpulse_collector.ingestion.batches import ingest_page
from tagpulse_collector.sources.base import Author, CollectedPost, Page
from tagpulse_collector.sources.x_counts import RecentCounts, parse_counts
from tagpulse_query.cache import LocalAnswerCache
from tagpulse_query.servicer import QueryServicer
from tests.support.fake_x import bucket_instant, load_counts

FETCHED_AT = datetime(2021, 10, 23, 18, 21, 44, tzinfo=UTC)


def recorded(name: str) -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = load_counts(name)["data"]
    return data


def store_recorded_counts(engine: Engine, hashtag: str, name: str) -> None:
    buckets, _ = parse_counts(load_counts(name))
    counts = RecentCounts(query=f"#{hashtag} -is:retweet", buckets=tuple(buckets), requests=1)
    with engine.begin() as connection:
        store_counts(connection, hashtag, counts, FETCHED_AT)


def store_posts(engine: Engine, posts: list[CollectedPost]) -> None:
    authors = {
        (p.source, p.author_id): Author(p.source, p.author_id, "someone", "Someone", 10, "") for p in posts
    }
    with engine.begin() as connection:
        ingest_page(connection, Page(posts=posts, authors=list(authors.values())))


def post(source: str, number: int, created_at: datetime, *tags: str) -> CollectedPost:
    return CollectedPost(source, str(number), "1", "text", "en", created_at, tags)


def coverage(engine: Engine, hashtag: str, time_zone: str = "") -> pb.HashtagCoverage:
    servicer = QueryServicer(engine, LocalAnswerCache(ttl_seconds=60))
    request = pb.GetHashtagCoverageRequest(hashtag=hashtag, time_zone=time_zone)
    return pb.HashtagCoverage.FromString(asyncio.run(servicer.GetHashtagCoverage(request, None)))


@pytest.fixture
def brexit(engine: Engine) -> list[CollectedPost]:
    """X's counts of the twarc recording stored as #brexit's, and posts around its 7 days: from X
    with #brexit (inside, on the edges, outside), from X with another tag, from the sample source."""
    store_recorded_counts(engine, "brexit", "counts.jsonl")
    data = recorded("counts.jsonl")
    first, last = bucket_instant(data[0]["start"]), bucket_instant(data[-1]["end"])
    rng = random.Random(13)
    posts = [
        post("x", i, first + timedelta(seconds=rng.randrange(int((last - first).total_seconds()))), "brexit")
        for i in range(400)
    ]
    posts += [
        post("x", 1000, first, "brexit"),  # a bucket's start is inside it
        post("x", 1001, bucket_instant(data[1]["start"]), "brexit"),  # the first bucket's end is not
        post("x", 1002, last, "brexit"),  # after the fetch
        post("x", 1003, first - timedelta(seconds=1), "brexit"),
        post("x", 1004, first + timedelta(hours=3), "kpop"),
        post("sample", 1005, first + timedelta(hours=3), "brexit"),
    ]
    store_posts(engine, posts)
    return posts


def stored_in(posts: list[CollectedPost], start: datetime, end: datetime) -> int:
    return sum(1 for p in posts if p.source == "x" and "brexit" in p.hashtags and start <= p.created_at < end)


def test_every_bucket_holds_xs_count_beside_the_posts_stored_from_x(
    engine: Engine, brexit: list[CollectedPost]
) -> None:
    answer = coverage(engine, "#Brexit")
    data = recorded("counts.jsonl")
    assert (answer.hashtag, answer.time_zone, answer.counts_available) == ("brexit", "UTC", True)
    assert answer.query == "#brexit -is:retweet"
    assert answer.counts_fetch_time.ToDatetime(UTC) == FETCHED_AT
    assert [(h.start_time.ToDatetime(UTC), h.end_time.ToDatetime(UTC)) for h in answer.hours] == [
        (bucket_instant(d["start"]), bucket_instant(d["end"])) for d in data
    ]
    assert [h.x_post_count for h in answer.hours] == [d["tweet_count"] for d in data]
    assert answer.x_post_count == 771665 == sum(d["tweet_count"] for d in data)
    want = [stored_in(brexit, bucket_instant(d["start"]), bucket_instant(d["end"])) for d in data]
    assert [h.stored_post_count for h in answer.hours] == want
    assert answer.stored_post_count == sum(want) == 402  # the 400 inside, and two on the edges
    assert [h.coverage for h in answer.hours] == [
        s / d["tweet_count"] for s, d in zip(want, data, strict=True)
    ]
    assert answer.coverage == 402 / 771665
    assert answer.hours[0].local_start == "2021-10-16T18:21:34+00:00"
    assert answer.message == ""


def test_a_time_zone_shows_xs_buckets_at_their_local_start_without_rebucketing(
    engine: Engine, brexit: list[CollectedPost]
) -> None:
    utc, kolkata = coverage(engine, "brexit"), coverage(engine, "brexit", "Asia/Kolkata")
    assert kolkata.time_zone == "Asia/Kolkata"
    assert [h.start_time for h in kolkata.hours] == [h.start_time for h in utc.hours]
    assert [h.x_post_count for h in kolkata.hours] == [h.x_post_count for h in utc.hours]
    zone = ZoneInfo("Asia/Kolkata")
    assert [h.local_start for h in kolkata.hours] == [
        h.start_time.ToDatetime(UTC).astimezone(zone).isoformat() for h in utc.hours
    ]
    assert kolkata.hours[1].local_start == "2021-10-17T00:30:00+05:30"  # 19:00 UTC


def test_an_hour_x_counted_nothing_has_no_ratio(engine: Engine) -> None:
    """X answers 0 for a silent hour (tweepy's counts/all recording has eight); the recent-counts
    recordings happen to have none, so three of the Tweepy recording's buckets are silenced here."""
    buckets, _ = parse_counts(load_counts("tweepy_counts_recent.json"))
    silent = {3, 4, 100}
    counts = tuple(dataclasses.replace(b, count=0) if i in silent else b for i, b in enumerate(buckets))
    with engine.begin() as connection:
        store_counts(connection, "kpop", RecentCounts("#kpop -is:retweet", counts, 1), FETCHED_AT)
    store_posts(engine, [post("x", 1, buckets[3].start, "kpop"), post("x", 2, buckets[5].start, "kpop")])
    answer = coverage(engine, "kpop")
    assert answer.x_post_count == sum(b.count for b in counts)
    assert [i for i, h in enumerate(answer.hours) if not h.HasField("coverage")] == sorted(silent)
    # One post in a silent hour: stored, with no ratio (n/0 has none either).
    assert (answer.hours[3].stored_post_count, answer.hours[4].stored_post_count) == (1, 0)
    assert answer.hours[5].coverage == 1 / buckets[5].count
    assert answer.coverage == 2 / answer.x_post_count


def test_a_hashtag_only_collected_from_mastodon_or_the_sample_says_there_are_no_counts(
    engine: Engine,
) -> None:
    store_posts(engine, [post("sample", 1, datetime(2026, 11, 1, tzinfo=UTC), "devops")])
    answer = coverage(engine, "devops")
    assert (answer.hashtag, answer.counts_available) == ("devops", False)
    assert "no X counts are stored" in answer.message
    assert "Mastodon and the sample source have no counts endpoint" in answer.message
    assert list(answer.hours) == []
    for figure in ("x_post_count", "stored_post_count", "coverage", "counts_fetch_time"):
        assert not answer.HasField(figure), figure


def test_x_counting_nothing_in_7_days_is_an_answer_not_a_missing_one(engine: Engine) -> None:
    with engine.begin() as connection:
        store_counts(connection, "quiet", RecentCounts("#quiet -is:retweet", (), 1), FETCHED_AT)
    answer = coverage(engine, "quiet")
    assert answer.counts_available
    assert (answer.x_post_count, answer.stored_post_count, list(answer.hours)) == (0, 0, [])
    assert not answer.HasField("coverage")
    assert "X counted no posts" in answer.message


def test_an_unknown_hashtag_is_not_found_and_bad_requests_name_their_fields(engine: Engine) -> None:
    with pytest.raises(NotFound, match="never fetched"):
        coverage(engine, "neverseen")
    with pytest.raises(InvalidArgument) as bad:
        coverage(engine, "not a tag", "Mars/Olympus")
    assert set(bad.value.violations) == {"hashtag", "time_zone"}
    with pytest.raises(InvalidArgument) as missing:
        coverage(engine, "")
    assert missing.value.violations == {"hashtag": "is required"}
