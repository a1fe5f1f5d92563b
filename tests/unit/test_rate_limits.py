"""Rate-limit headers and waits: bounded, and measured on the server's clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tagpulse_collector.sources.rate_limits import (
    WaitPolicy,
    bluesky_rate_limit,
    mastodon_rate_limit,
    seconds_until_reset,
    server_time,
    x_rate_limit,
)

NOW = datetime(2026, 11, 23, 12, 0, 0, tzinfo=UTC)
POLICY = WaitPolicy(max_wait_seconds=960, margin_seconds=1, default_wait_seconds=60)


def test_reads_x_headers_as_recorded() -> None:
    # The values of tweepy's recording of GET /2/tweets/search/recent.
    limit = x_rate_limit(
        {"x-rate-limit-limit": "450", "x-rate-limit-remaining": "448", "x-rate-limit-reset": "1665183229"}
    )
    assert (limit.limit, limit.remaining) == (450, 448)
    assert limit.reset_at == datetime(2022, 10, 7, 22, 53, 49, tzinfo=UTC)


def test_reads_mastodon_headers_as_recorded() -> None:
    # The values of Mastodon.py's recording of GET /api/v1/timelines/tag/hoot.
    limit = mastodon_rate_limit(
        {
            "x-ratelimit-limit": "300",
            "x-ratelimit-remaining": "299",
            "x-ratelimit-reset": "2026-08-01T14:00:00.070144Z",
        }
    )
    assert (limit.limit, limit.remaining) == (300, 299)
    assert limit.reset_at == datetime(2026, 8, 1, 14, 0, 0, 70144, tzinfo=UTC)


def test_reads_bluesky_headers_as_recorded() -> None:
    # The recorded 429 (tests/fixtures/bluesky/errors/): the window spent, its reset 42 s after the Date.
    headers = {
        "ratelimit-limit": "3000",
        "ratelimit-remaining": "0",
        "ratelimit-reset": "1744582868",
        "date": "Sun, 13 Apr 2025 22:20:26 GMT",
    }
    limit = bluesky_rate_limit(headers)
    assert (limit.limit, limit.remaining) == (3000, 0)
    assert seconds_until_reset(limit.reset_at, server_time(headers), NOW, POLICY) == 43


@pytest.mark.parametrize(
    "headers",
    [{}, {"x-rate-limit-reset": "soon"}, {"x-rate-limit-remaining": "-"}, {"x-rate-limit-reset": "0"}],
)
def test_garbage_headers_read_as_unknown(headers: dict[str, str]) -> None:
    limit = x_rate_limit(headers)
    assert limit.reset_at is None or limit.remaining is None


def test_waits_until_the_reset_plus_a_margin() -> None:
    assert seconds_until_reset(NOW + timedelta(seconds=30), None, NOW, POLICY) == 31


def test_a_skewed_local_clock_does_not_change_the_wait_when_the_server_sends_its_date() -> None:
    reset, server_now = NOW + timedelta(seconds=30), NOW
    for skew in (timedelta(hours=-1), timedelta(0), timedelta(minutes=7), timedelta(hours=2)):
        assert seconds_until_reset(reset, server_now, NOW + skew, POLICY) == 31


def test_waits_are_bounded_whatever_the_headers_say() -> None:
    # A reset an hour away (or a local clock an hour behind, without a Date header).
    assert seconds_until_reset(NOW + timedelta(hours=1), None, NOW, POLICY) == 960
    # A reset in the past: just the margin, never a negative sleep.
    assert seconds_until_reset(NOW - timedelta(minutes=5), None, NOW, POLICY) == 1
    # No usable reset at all: the default wait.
    assert seconds_until_reset(None, None, NOW, POLICY) == 61
    assert seconds_until_reset(None, None, NOW, WaitPolicy(max_wait_seconds=5)) == 5


def test_server_time_comes_from_the_date_header() -> None:
    assert server_time({"date": "Sun, 23 Nov 2026 12:00:00 GMT"}) == NOW
    assert server_time({"date": "yesterday"}) is None
    assert server_time({}) is None
