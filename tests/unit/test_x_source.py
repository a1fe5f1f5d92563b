"""The X source against a fake X API on loopback: paging, incremental queries and every fault."""

from __future__ import annotations

import dataclasses
import json
import logging
import threading
import time

import pytest

from tagpulse_collector.sources.errors import (
    AuthenticationFailed,
    Interrupted,
    MalformedResponse,
    RateLimited,
    RequestRejected,
    SourceUnavailable,
    UsageCapReached,
)
from tagpulse_collector.sources.x_api import XAccess, XApiSource
from tests.conftest import FAKE_X_TOKEN
from tests.support.fake_http import Fault
from tests.support.fake_x import FakeXApi, is_retweet, load_pages, rate_limited, usage_capped
from tests.support.policies import FAST

BLM = load_pages("blacklivesmatter.jsonl")


def source(api: FakeXApi, **options: object) -> XApiSource:
    return XApiSource(XAccess(FAKE_X_TOKEN, api.base_url, FAST), **options)  # type: ignore[arg-type]


def originals(page: dict) -> list[dict]:  # type: ignore[type-arg]
    return [t for t in page["data"] if not is_retweet(t)]


def test_follows_next_token_through_every_page_with_the_documented_request(fake_x: FakeXApi) -> None:
    pages = list(source(fake_x).search("blacklivesmatter", 10_000))
    assert [[p.id for p in page.posts] for page in pages] == [[t["id"] for t in originals(p)] for p in BLM]
    assert [p.next_cursor for p in pages] == [p["meta"]["next_token"] for p in BLM[:4]] + [None]
    requests = fake_x.search_requests()
    tokens = [p["meta"]["next_token"] for p in BLM[:4]]
    assert [r.query.get("next_token") for r in requests] == [None, *tokens]
    first = requests[0]
    assert first.headers["authorization"] == f"Bearer {FAKE_X_TOKEN}"
    assert first.query == {
        "query": "#blacklivesmatter -is:retweet",
        "max_results": "100",
        "tweet.fields": "created_at,lang,author_id,entities,geo,public_metrics,referenced_tweets",
        # Without retweets, no referenced posts: X bills every post it returns.
        "expansions": "author_id,geo.place_id",
        "user.fields": "username,name,public_metrics,location,verified",
        "place.fields": "country_code,full_name",
    }
    assert [p.requests for p in pages] == [1] * 5
    # Page 2 of the recording carries four partial errors: recorded, not fatal.
    assert [len(p.errors) for p in pages] == [len(p.get("errors", [])) for p in BLM] == [0, 4, 0, 0, 0]
    assert pages[0].newest_id == max((t["id"] for t in originals(BLM[0])), key=int)


def test_retweets_on_request_and_stops_at_max_posts(fake_x: FakeXApi) -> None:
    pages = list(source(fake_x, include_retweets=True).search("blacklivesmatter", 150))
    assert [len(p.posts) for p in pages] == [100, 50]
    assert pages[-1].next_cursor is None
    assert fake_x.search_requests()[0].query["query"] == "#blacklivesmatter"
    assert fake_x.search_requests()[1].query["max_results"] == "50"
    assert any(is_retweet(t) for t in BLM[0]["data"])


def test_resumes_from_a_cursor_and_asks_only_for_newer_posts(fake_x: FakeXApi) -> None:
    token = BLM[1]["meta"]["next_token"]  # page 3
    pages = list(source(fake_x).search("blacklivesmatter", 10_000, cursor=token))
    assert len(pages) == 3
    assert fake_x.search_requests()[0].query["next_token"] == token

    newest = max((t["id"] for t in originals(BLM[0])), key=int)
    fake_x.requests.clear()
    assert [p.posts for p in source(fake_x).search("blacklivesmatter", 100, since_id=newest)] == [[]]
    assert fake_x.search_requests()[0].query["since_id"] == newest


def test_waits_out_a_429_then_continues(fake_x: FakeXApi) -> None:
    fake_x.add_fault(rate_limited(reset_in=0, times=1))
    pages = list(source(fake_x).search("brexit", 100))
    assert len(pages[0].posts) == len(originals(load_pages("brexit.jsonl")[0]))
    assert pages[0].requests == 2  # the 429 and the retry
    assert pages[0].errors == ()  # a rate limit is not an error


def test_a_reset_far_away_is_waited_for_only_up_to_the_bound(fake_x: FakeXApi) -> None:
    # The window claims to reset in an hour: wait the bounded time (0.2 s here), then retry.
    fake_x.add_fault(rate_limited(reset_in=3600, times=1))
    assert len(list(source(fake_x).search("brexit", 100))) == 1
    assert len(fake_x.search_requests()) == 2


def test_stops_when_still_rate_limited_after_the_allowed_waits(fake_x: FakeXApi) -> None:
    fault = fake_x.add_fault(rate_limited(reset_in=0, times=None))
    with pytest.raises(RateLimited) as error:
        list(source(fake_x).search("brexit", 100))
    assert error.value.stops_run
    assert fault.hits == FAST.max_rate_limit_waits + 1
    assert error.value.requests == FAST.max_rate_limit_waits + 1


def test_a_usage_cap_is_not_a_rate_limit_the_run_stops_without_waiting(fake_x: FakeXApi) -> None:
    fake_x.add_fault(usage_capped(times=None))
    with pytest.raises(UsageCapReached) as error:
        list(source(fake_x).search("brexit", 100))
    assert error.value.stops_run
    assert "Usage cap exceeded: Monthly product cap" in str(error.value)
    assert len(fake_x.search_requests()) == 1  # no retry, no wait


def test_server_errors_are_retried_with_backoff_then_give_up(fake_x: FakeXApi) -> None:
    fake_x.add_fault(Fault(status=503, body=b'{"title": "Service Unavailable"}', times=2))
    pages = list(source(fake_x).search("brexit", 100))
    assert (pages[0].requests, len(pages[0].errors)) == (3, 2)
    assert pages[0].errors[0].startswith("503")

    fake_x.requests.clear()
    fake_x.add_fault(Fault(status=502, times=None))
    with pytest.raises(SourceUnavailable) as error:
        list(source(fake_x).search("kpop", 100))
    assert not error.value.stops_run
    assert len(fake_x.search_requests()) == error.value.requests == FAST.attempts


def test_a_slow_answer_times_out_and_is_retried(fake_x: FakeXApi) -> None:
    # Wide margins: on a busy machine the retry must still answer within the timeout.
    policy = dataclasses.replace(FAST, timeout_seconds=1.0)
    fake_x.add_fault(Fault(delay=3.0, times=1))
    pages = list(XApiSource(XAccess(FAKE_X_TOKEN, fake_x.base_url, policy)).search("brexit", 100))
    assert pages[0].requests == 2
    assert pages[0].errors == ("timed out",)


def test_a_truncated_body_fails_the_hashtag_after_the_pages_before_it(fake_x: FakeXApi) -> None:
    fake_x.add_fault(Fault(match=fake_x.on_page(3, "blacklivesmatter"), truncate=True))
    pages = source(fake_x).search("blacklivesmatter", 10_000)
    assert len([next(pages), next(pages)]) == 2
    with pytest.raises(MalformedResponse) as error:
        next(pages)
    assert not error.value.stops_run
    assert error.value.requests == 1


@pytest.mark.parametrize("status", [401, 403])
def test_refused_credentials_stop_the_run_at_once(fake_x: FakeXApi, status: int) -> None:
    fake_x.add_fault(Fault(status=status, body=b'{"title": "Unauthorized", "detail": "Unauthorized"}'))
    with pytest.raises(AuthenticationFailed) as error:
        list(source(fake_x).search("brexit", 100))
    assert error.value.stops_run
    assert str(status) in str(error.value)
    assert len(fake_x.search_requests()) == 1


def test_a_wrong_token_is_refused_and_never_appears_in_the_error(fake_x: FakeXApi) -> None:
    with pytest.raises(AuthenticationFailed) as error:
        list(XApiSource(XAccess("wrong-token-123456", fake_x.base_url, FAST)).search("brexit", 100))
    assert "wrong-token-123456" not in str(error.value)
    assert "401 Unauthorized" in str(error.value)


def test_a_bad_request_fails_the_hashtag_only(fake_x: FakeXApi) -> None:
    fake_x.add_fault(
        Fault(
            status=400, body=b'{"title": "Invalid Request", "detail": "One or more parameters was invalid."}'
        )
    )
    with pytest.raises(RequestRejected) as error:
        list(source(fake_x).search("brexit", 100))
    assert not error.value.stops_run
    assert "One or more parameters was invalid." in str(error.value)


def test_a_spent_window_is_waited_for_before_the_next_request(
    fake_x: FakeXApi, caplog: pytest.LogCaptureFixture
) -> None:
    reset = str(int(time.time()))
    fake_x.add_fault(Fault(headers={"x-rate-limit-remaining": "0", "x-rate-limit-reset": reset}, times=1))
    with caplog.at_level(logging.INFO, logger="tagpulse.sources"):
        pages = list(source(fake_x, include_retweets=True).search("blacklivesmatter", 200))
    assert len(pages) == 2
    assert len(fake_x.search_requests()) == 2  # waited, instead of earning a 429
    assert [r.message for r in caplog.records] == ["rate-limit window spent; waiting for its reset"]


def test_shutdown_interrupts_a_rate_limit_wait(fake_x: FakeXApi) -> None:
    stop = threading.Event()
    stop.set()
    fake_x.add_fault(rate_limited(reset_in=0, times=1))
    with pytest.raises(Interrupted):
        list(XApiSource(XAccess(FAKE_X_TOKEN, fake_x.base_url, FAST), stop=stop).search("brexit", 100))


def test_a_since_id_older_than_the_search_window_is_dropped_when_x_rejects_it(fake_x: FakeXApi) -> None:
    # X's answer when the last collection is more than 7 days old.
    too_old = {
        "errors": [
            {
                "parameters": {"since_id": ["1440716895355764743"]},
                "message": "Invalid 'since_id':'1440716895355764743'. 'since_id' must be a tweet ID created "
                "after 2026-11-16T00:00Z.",
            }
        ],
        "title": "Invalid Request",
        "detail": "One or more parameters to your request was invalid.",
        "type": "https://api.twitter.com/2/problems/invalid-request",
    }
    fake_x.add_fault(
        Fault(match=lambda r: "since_id" in r.query, status=400, body=json.dumps(too_old).encode())
    )
    [page] = list(source(fake_x).search("brexit", 100, since_id="1440716895355764743"))
    assert len(page.posts) == len(originals(load_pages("brexit.jsonl")[0]))
    assert ["since_id" in r.query for r in fake_x.search_requests()] == [True, False]
    assert (page.requests, len(page.errors)) == (2, 1)
