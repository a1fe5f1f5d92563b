"""X API v2 recent counts (GET /2/tweets/counts/recent): how many posts match a hashtag's search,
per hour, over the last 7 days. The true volume beside which a collected sample is measured, and
what a run would find before it pays for reading it.

The query is the search's own (`x_api.search_query`), so the counts are of exactly the posts a
run can collect. X bills a counts request (about $0.005), not the posts it counts. Buckets are
UTC hours; the first and last are cut at the instant of the request (18:21:34 → 19:00). The
bucket's count is `tweet_count` in the recordings and in X's spec up to 2.159, `post_count`
since; both are read.
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson

from tagpulse_collector.sources.api_client import ApiClient
from tagpulse_collector.sources.errors import MalformedResponse
from tagpulse_collector.sources.x_api import XAccess, search_query

COUNTS_PATH = "/2/tweets/counts/recent"
GRANULARITY = "hour"
# X answers the 7 days in one page; a next_token is followed anyway, but never for ever.
MAX_PAGES = 10
COUNT_KEYS = ("post_count", "tweet_count")


@dataclass(frozen=True)
class HourlyCount:
    """One of X's buckets: [start, end) and the posts X counts in it."""

    start: datetime
    end: datetime
    count: int


@dataclass(frozen=True)
class RecentCounts:
    query: str
    # Oldest first, as X answers.
    buckets: tuple[HourlyCount, ...]
    # Requests made, retries included (each one is billed).
    requests: int

    @property
    def total(self) -> int:
        return sum(bucket.count for bucket in self.buckets)


def count_recent(
    access: XAccess,
    hashtag: str,
    include_retweets: bool,
    since_id: str | None = None,
    start_time: datetime | None = None,
    stop: threading.Event | None = None,
    transport: httpx.BaseTransport | None = None,
) -> RecentCounts:
    """X's hourly counts of the posts a search for `hashtag` would return (only those newer than
    `since_id`, or created at or after `start_time`, when given). Raises a `SourceError` kind
    like the search does: a 402 is `CreditsDepleted`."""
    query = search_query(hashtag, include_retweets)
    params: dict[str, str | int] = {"query": query, "granularity": GRANULARITY}
    if since_id:
        params["since_id"] = since_id
    if start_time is not None:
        params["start_time"] = start_time.isoformat().replace("+00:00", "Z")
    buckets: list[HourlyCount] = []
    with access.client(stop, transport) as client:
        token: str | None = None
        for _ in range(MAX_PAGES):
            page_params = {**params, "next_token": token} if token else params
            response = client.get(COUNTS_PATH, page_params)
            page, next_token = _parse(client, response)
            buckets += page
            if not next_token or next_token == token:
                break
            token = next_token
        requests, _errors = client.take_figures()
    return RecentCounts(query=query, buckets=tuple(buckets), requests=requests)


def _parse(client: ApiClient, response: httpx.Response) -> tuple[list[HourlyCount], str | None]:
    try:
        return parse_counts(orjson.loads(response.content))
    except (orjson.JSONDecodeError, MalformedResponse) as error:
        requests, errors = client.take_figures()
        raise MalformedResponse(f"malformed counts response ({error})", requests, len(errors) + 1) from None


def parse_counts(body: Any) -> tuple[list[HourlyCount], str | None]:
    """The buckets of one counts response and its `meta.next_token`; MalformedResponse when the
    body is not the documented shape. No `data` (nothing counted) is an empty list."""
    if not isinstance(body, dict):
        raise MalformedResponse("the body is not a JSON object")
    meta = body.get("meta", {})
    data = body.get("data", [])
    if not isinstance(meta, dict) or not isinstance(data, list):
        raise MalformedResponse("`meta` is not an object or `data` is not a list")
    buckets = [_bucket(item) for item in data]
    for earlier, later in itertools.pairwise(buckets):
        if later.start < earlier.end:
            raise MalformedResponse(f"buckets overlap or are out of order at {later.start.isoformat()}")
    token = meta.get("next_token")
    if token is not None and not isinstance(token, str):
        raise MalformedResponse("`meta.next_token` is not a string")
    return buckets, token or None


def _bucket(item: Any) -> HourlyCount:
    if not isinstance(item, dict):
        raise MalformedResponse("a bucket is not an object")
    count = next((item[key] for key in COUNT_KEYS if key in item), None)
    if not isinstance(count, int) or isinstance(count, bool) or count < 0:
        raise MalformedResponse(f"a bucket's count is not a whole number: {count!r}")
    start, end = _instant(item.get("start")), _instant(item.get("end"))
    if end <= start:
        raise MalformedResponse(f"a bucket ends before it starts: {item.get('start')!r}")
    return HourlyCount(start=start, end=end, count=count)


def _instant(value: Any) -> datetime:
    if not isinstance(value, str):
        raise MalformedResponse(f"a bucket's start or end is not a string: {value!r}")
    try:
        instant = datetime.fromisoformat(value)
    except ValueError:
        raise MalformedResponse(f"a bucket's start or end is not an RFC 3339 instant: {value!r}") from None
    if instant.tzinfo is None:
        raise MalformedResponse(f"a bucket's start or end has no offset: {value!r}")
    return instant.astimezone(UTC)
