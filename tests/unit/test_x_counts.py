"""X's recent counts: the recorded responses parsed exactly, the documented request sent through
the fake X API, pages followed, and every wrong shape refused."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from tagpulse_collector.sources.errors import CreditsDepleted, MalformedResponse
from tagpulse_collector.sources.x_api import XAccess
from tagpulse_collector.sources.x_counts import count_recent, parse_counts
from tests.conftest import FAKE_X_TOKEN
from tests.support.fake_http import Fault
from tests.support.fake_x import FIXTURES, FakeXApi, bucket_instant, credits_depleted, load_counts
from tests.support.policies import FAST


def recorded_twarc() -> dict[str, Any]:
    """The twarc-csv line as recorded, read with plain json."""
    line = json.loads((FIXTURES / "counts.jsonl").read_text().splitlines()[0])
    assert isinstance(line, dict)
    return line


def access(api: FakeXApi) -> XAccess:
    return XAccess(FAKE_X_TOKEN, api.base_url, FAST)


@pytest.mark.parametrize("name", ["counts.jsonl", "tweepy_counts_recent.json"])
def test_the_recorded_responses_parse_to_their_buckets_and_total(name: str) -> None:
    body = load_counts(name)
    buckets, token = parse_counts(body)
    assert token is None
    assert len(buckets) == len(body["data"]) == 169  # 7 days, the two ends cut at the request
    assert sum(b.count for b in buckets) == body["meta"]["total_tweet_count"]
    assert [(b.start, b.end, b.count) for b in buckets] == [
        (bucket_instant(d["start"]), bucket_instant(d["end"]), d["tweet_count"]) for d in body["data"]
    ]
    assert buckets[0].start.minute != 0
    assert buckets[-1].end.minute != 0
    assert all(b.start.tzinfo == UTC for b in buckets)


def test_the_twarc_recording_is_the_counts_response_of_its_query() -> None:
    line = recorded_twarc()
    assert line["__twarc"]["url"].endswith("/2/tweets/counts/recent?query=dogs&granularity=hour")
    assert line["meta"] == {"total_tweet_count": 771665}


def test_the_newer_spec_names_post_count_and_an_empty_answer_has_no_data() -> None:
    """X's spec 2.167 renames tweet_count to post_count; an answer without data counts nothing."""
    body = load_counts("counts.jsonl")
    renamed = [{"start": d["start"], "end": d["end"], "post_count": d["tweet_count"]} for d in body["data"]]
    buckets, _ = parse_counts({"data": renamed, "meta": {"total_post_count": 771665}})
    assert sum(b.count for b in buckets) == 771665
    assert parse_counts({"meta": {"total_tweet_count": 0}}) == ([], None)


@pytest.mark.parametrize(
    "body",
    [
        [],
        {"data": {"start": "x"}},
        {"data": [], "meta": []},
        {"data": ["bucket"]},
        {"data": [{"start": "2021-10-16T18:00:00Z", "end": "2021-10-16T19:00:00Z"}]},
        {"data": [{"start": "2021-10-16T18:00:00Z", "end": "2021-10-16T19:00:00Z", "tweet_count": "3"}]},
        {"data": [{"start": "2021-10-16T18:00:00Z", "end": "2021-10-16T19:00:00Z", "tweet_count": -1}]},
        {"data": [{"start": "2021-10-16T18:00:00Z", "end": "2021-10-16T19:00:00Z", "tweet_count": True}]},
        {"data": [{"start": "yesterday", "end": "2021-10-16T19:00:00Z", "tweet_count": 1}]},
        {"data": [{"start": "2021-10-16T18:00:00", "end": "2021-10-16T19:00:00", "tweet_count": 1}]},
        {"data": [{"start": 1634407200, "end": "2021-10-16T19:00:00Z", "tweet_count": 1}]},
        {"data": [{"start": "2021-10-16T19:00:00Z", "end": "2021-10-16T18:00:00Z", "tweet_count": 1}]},
        {
            "data": [
                {"start": "2021-10-16T19:00:00Z", "end": "2021-10-16T20:00:00Z", "tweet_count": 1},
                {"start": "2021-10-16T18:00:00Z", "end": "2021-10-16T19:00:00Z", "tweet_count": 1},
            ]
        },
        {"data": [], "meta": {"next_token": 7}},
    ],
)
def test_wrong_shapes_are_malformed(body: Any) -> None:
    with pytest.raises(MalformedResponse):
        parse_counts(body)


@pytest.mark.parametrize("include_retweets", [False, True])
def test_asks_with_the_searchs_query_by_the_hour(fake_x: FakeXApi, include_retweets: bool) -> None:
    counts = count_recent(access(fake_x), "brexit", include_retweets)
    query = "#brexit" if include_retweets else "#brexit -is:retweet"
    [request] = fake_x.counts_requests()
    assert request.query == {"query": query, "granularity": "hour"}
    assert request.headers["authorization"] == f"Bearer {FAKE_X_TOKEN}"
    assert (counts.query, counts.requests, counts.total) == (query, 1, 771665)
    assert len(counts.buckets) == 169


def test_since_id_and_start_time_are_sent_and_pages_are_followed(fake_x: FakeXApi) -> None:
    fake_x.counts_page_size = 40
    start = datetime(2021, 9, 17, 0, 0, tzinfo=UTC)
    counts = count_recent(access(fake_x), "kpop", False, since_id="1439000000000000000", start_time=start)
    body = load_counts("tweepy_counts_recent.json")
    kept = [d for d in body["data"] if bucket_instant(d["end"]) > start]
    assert counts.total == sum(d["tweet_count"] for d in kept)
    assert [b.start for b in counts.buckets] == [bucket_instant(d["start"]) for d in kept]
    requests = fake_x.counts_requests("kpop")
    assert len(kept) == 92
    assert counts.requests == len(requests) == 3  # 40 buckets a page
    assert [r.query.get("next_token") for r in requests] == [None, "counts-40", "counts-80"]
    assert {r.query["since_id"] for r in requests} == {"1439000000000000000"}
    assert {r.query["start_time"] for r in requests} == {"2021-09-17T00:00:00Z"}


def test_a_hashtag_x_counts_nothing_for_has_no_buckets(fake_x: FakeXApi) -> None:
    counts = count_recent(access(fake_x), "blacklivesmatter", False)
    assert (counts.buckets, counts.total, counts.requests) == ((), 0, 1)


def test_spent_credits_and_a_truncated_body_are_the_sources_errors(fake_x: FakeXApi) -> None:
    fake_x.add_fault(credits_depleted())
    with pytest.raises(CreditsDepleted) as depleted:
        count_recent(access(fake_x), "brexit", False)
    assert depleted.value.stops_run
    assert depleted.value.requests == 1
    fake_x.add_fault(Fault(truncate=True))
    with pytest.raises(MalformedResponse, match="malformed counts response") as malformed:
        count_recent(access(fake_x), "brexit", False)
    assert (malformed.value.requests, malformed.value.errors) == (1, 1)
