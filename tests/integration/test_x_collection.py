"""Collection runs from a fake X API serving recorded pages: exact figures computed from the
files themselves, incremental and resumed runs, faults, and one collector per hashtag."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from tagpulse.db.models import CollectionRunHashtag, Post, PostHashtag, User
from tagpulse_collector import locks
from tagpulse_collector.catalog import SourceCatalog
from tagpulse_collector.metrics import CREDITS_DEPLETED
from tagpulse_collector.runs.execute import execute_run
from tagpulse_collector.runs.plan import plan_collection
from tagpulse_collector.runs.store import RunRecord, interrupted_runs, start_run
from tagpulse_collector.sources.base import Page
from tagpulse_collector.sources.x_api import XAccess, XApiSource
from tests.conftest import FAKE_X_TOKEN
from tests.integration.test_ingest import assert_rollups_match_a_recount
from tests.support.fake_http import Fault
from tests.support.fake_x import (
    RECORDED_SEARCHES,
    FakeXApi,
    credits_depleted,
    is_retweet,
    load_pages,
    usage_capped,
)
from tests.support.policies import FAST

HASHTAGS = ["brexit", "kpop", "blacklivesmatter"]

# Plans only look at which sources are configured.
WITH_X = SourceCatalog(x=XAccess(FAKE_X_TOKEN))


def own_tags(tweet: dict[str, Any]) -> set[str]:
    return {h["tag"].casefold() for h in tweet.get("entities", {}).get("hashtags", [])}


def expected(hashtags: list[str], include_retweets: bool = False) -> dict[str, Any]:
    """What a run must store, read straight from the recorded pages, in the run's order."""
    posts: dict[str, tuple[str, set[str]]] = {}
    followers: dict[str, int] = {}
    for hashtag in hashtags:
        for page in load_pages(RECORDED_SEARCHES[hashtag]):
            included = {t["id"]: t for t in page["includes"].get("tweets", [])}
            users = {u["id"]: u for u in page["includes"]["users"]}
            for tweet in page["data"]:
                if is_retweet(tweet) and not include_retweets:
                    continue
                tags = own_tags(tweet)
                for reference in tweet.get("referenced_tweets", []):
                    if reference["type"] == "retweeted" and reference["id"] in included:
                        tags |= own_tags(included[reference["id"]])
                posts[tweet["id"]] = (tweet["author_id"], tags)
                followers[tweet["author_id"]] = users[tweet["author_id"]]["public_metrics"]["followers_count"]
    return {
        "posts": set(posts),
        "users": set(followers),
        "followers": followers,
        "links": {(post_id, tag) for post_id, (_, tags) in posts.items() for tag in tags},
        "fetched": {
            h: sum(
                1
                for p in load_pages(RECORDED_SEARCHES[h])
                for t in p["data"]
                if include_retweets or not is_retweet(t)
            )
            for h in hashtags
        },
    }


def x_source(fake_x: FakeXApi, **options: Any) -> XApiSource:
    return XApiSource(XAccess(FAKE_X_TOKEN, fake_x.base_url, FAST), **options)


def run_x(
    engine: Engine, fake_x: FakeXApi, hashtags: list[str], max_posts: int = 1000, **options: Any
) -> RunRecord:
    plan = plan_collection(hashtags, max_posts, "x", [], WITH_X)
    run_id = start_run(engine, plan, [])
    record = execute_run(engine, run_id, lambda _name: x_source(fake_x, **options))
    assert record is not None
    return record


def stored(engine: Engine) -> dict[str, Any]:
    with engine.connect() as connection:
        posts = set(connection.execute(select(Post.id)).scalars())
        links = {(r.post_id, r.hashtag) for r in connection.execute(select(PostHashtag.table()))}
        users = {r.id: r.followers_count for r in connection.execute(select(User.table()))}
        top = connection.execute(
            select(User.id, User.followers_count).order_by(User.followers_count.desc(), User.id).limit(5)
        ).all()
    return {"posts": posts, "links": links, "users": users, "top": [tuple(t) for t in top]}


@pytest.mark.parametrize("include_retweets", [False, True])
def test_a_run_stores_exactly_what_the_recorded_pages_hold(
    engine: Engine, fake_x: FakeXApi, include_retweets: bool
) -> None:
    want = expected(HASHTAGS, include_retweets)
    record = run_x(engine, fake_x, HASHTAGS, include_retweets=include_retweets)
    assert record.state == "SUCCEEDED", record
    got = stored(engine)
    assert got["posts"] == want["posts"]
    assert set(got["users"]) == want["users"]
    assert got["users"] == want["followers"]  # each author's latest follower count
    assert got["links"] == want["links"]
    top5 = sorted(want["followers"].items(), key=lambda kv: (-kv[1], kv[0]))[:5]
    assert got["top"] == top5
    assert_rollups_match_a_recount(engine)

    figures = {f.hashtag: f for f in record.hashtag_figures}
    for hashtag in HASHTAGS:
        assert figures[hashtag].posts_fetched == want["fetched"][hashtag]
        assert figures[hashtag].pages == len(load_pages(RECORDED_SEARCHES[hashtag]))
        assert figures[hashtag].api_requests == figures[hashtag].pages
    assert record.posts_new == len(want["posts"])
    assert record.posts_fetched == sum(want["fetched"].values())
    # BLM's recorded page 2 holds four partial errors, kpop's page one: recorded, not fatal.
    assert (figures["kpop"].errors, figures["blacklivesmatter"].errors) == (1, 4)
    if include_retweets:
        # 40 % of the #brexit results are retweets without the tag in their own entities.
        brexit_posts = {p for p, t in got["links"] if t == "brexit"}
        assert len(brexit_posts) == want["fetched"]["brexit"] == 100


def test_the_next_run_asks_only_for_newer_posts_and_stores_nothing_twice(
    engine: Engine, fake_x: FakeXApi
) -> None:
    first = run_x(engine, fake_x, HASHTAGS)
    before = stored(engine)
    fake_x.requests.clear()
    second = run_x(engine, fake_x, HASHTAGS)
    assert second.state == "SUCCEEDED"
    assert (second.posts_fetched, second.posts_new) == (0, 0)
    assert stored(engine) == before
    newest = {f.hashtag: f for f in first.hashtag_figures}
    for hashtag in HASHTAGS:
        [request] = fake_x.search_requests(hashtag)
        originals = [
            t["id"] for p in load_pages(RECORDED_SEARCHES[hashtag]) for t in p["data"] if not is_retweet(t)
        ]
        assert request.query["since_id"] == max(originals, key=int)
        assert newest[hashtag].api_requests >= 1
    assert_rollups_match_a_recount(engine)


def test_a_usage_cap_stops_the_run_without_waiting(engine: Engine, fake_x: FakeXApi) -> None:
    fake_x.add_fault(usage_capped(match=fake_x.on_page(1, "kpop"), times=None))
    record = run_x(engine, fake_x, HASHTAGS)
    states = {f.hashtag: (f.state, f.error_message) for f in record.hashtag_figures}
    assert states["brexit"] == ("SUCCEEDED", "")
    assert states["kpop"][0] == "FAILED"
    assert "usage cap reached" in states["kpop"][1]
    assert states["blacklivesmatter"][0] == "FAILED"
    assert states["blacklivesmatter"][1].startswith("not collected: the run stopped: usage cap reached")
    assert record.state == "PARTIALLY_SUCCEEDED"
    assert record.error_message.startswith("the run stopped: usage cap reached")
    assert fake_x.search_requests("blacklivesmatter") == []


def test_spent_credits_stop_the_run_at_once_and_keep_what_was_paid_for(
    engine: Engine, fake_x: FakeXApi
) -> None:
    """HTTP 402 mid-run: never retried, told apart from rate limits and the usage cap, the pages
    already read stay stored exactly once, the other hashtags are not asked for."""
    before = CREDITS_DEPLETED.labels(source="x")._value.get()
    fake_x.add_fault(credits_depleted(match=fake_x.on_page(3, "blacklivesmatter"), times=None))
    record = run_x(engine, fake_x, ["blacklivesmatter", "kpop"])
    blm, kpop = record.hashtag_figures
    assert (blm.state, blm.pages) == ("FAILED", 2)
    assert blm.error_message.startswith("x credits depleted (402")
    assert "CreditsDepleted" in blm.error_message
    assert kpop.state == "FAILED"
    assert kpop.error_message.startswith("not collected: the run stopped: x credits depleted")
    assert record.state == "FAILED"
    assert len([r for r in fake_x.search_requests("blacklivesmatter") if r.query.get("next_token")]) == 2
    assert fake_x.search_requests("kpop") == []  # nothing asked of an empty account
    assert blm.api_requests == 3  # the 402 was not retried
    first_two = {
        t["id"]
        for page in load_pages("blacklivesmatter.jsonl")[:2]
        for t in page["data"]
        if not is_retweet(t)
    }
    assert stored(engine)["posts"] == first_two
    assert blm.posts_new == blm.posts_fetched == len(first_two)
    assert_rollups_match_a_recount(engine)
    assert CREDITS_DEPLETED.labels(source="x")._value.get() == before + 1


def test_a_truncated_page_fails_its_hashtag_and_keeps_the_pages_before_it(
    engine: Engine, fake_x: FakeXApi
) -> None:
    fake_x.add_fault(Fault(match=fake_x.on_page(3, "blacklivesmatter"), truncate=True))
    record = run_x(engine, fake_x, ["blacklivesmatter", "kpop"])
    blm, kpop = record.hashtag_figures
    assert (blm.state, blm.pages, kpop.state) == ("FAILED", 2, "SUCCEEDED")
    assert blm.posts_fetched == len(expected(["blacklivesmatter"])["posts"] & stored(engine)["posts"])
    assert blm.error_message.startswith("malformed response body")
    assert blm.api_requests == 3
    assert record.state == "PARTIALLY_SUCCEEDED"
    assert_rollups_match_a_recount(engine)


def test_a_hashtag_another_run_is_collecting_is_skipped(engine: Engine, fake_x: FakeXApi) -> None:
    with locks.lease(engine) as other:
        assert other.try_lock(locks.hashtag_key("x", "kpop"))
        record = run_x(engine, fake_x, ["brexit", "kpop"])
    states = {f.hashtag: f.state for f in record.hashtag_figures}
    assert states == {"brexit": "SUCCEEDED", "kpop": "SKIPPED"}
    assert record.state == "SUCCEEDED"
    assert record.error_message == "1 of 2 hashtags skipped: another run was collecting them"
    assert fake_x.search_requests("kpop") == []


def test_a_stopped_run_stays_running_and_resumes_at_its_next_page(engine: Engine, fake_x: FakeXApi) -> None:
    """The shutdown path: stop after two pages, then resume from the saved next_token."""
    stop = threading.Event()

    class StopAfterTwoPages(XApiSource):
        def search(self, *args: Any, **kwargs: Any) -> Iterator[Page]:
            for number, page in enumerate(super().search(*args, **kwargs), 1):
                if number == 2:
                    stop.set()
                yield page

    plan = plan_collection(["blacklivesmatter"], 1000, "x", [], WITH_X)
    run_id = start_run(engine, plan, [])
    source = StopAfterTwoPages(XAccess(FAKE_X_TOKEN, fake_x.base_url, FAST))
    interrupted = execute_run(engine, run_id, lambda _name: source, stop)
    assert interrupted is not None
    assert interrupted.state == "RUNNING"
    [figures] = interrupted.hashtag_figures
    assert (figures.state, figures.pages) == ("RUNNING", 2)
    assert interrupted_runs(engine) == [run_id]

    fake_x.requests.clear()
    resumed = execute_run(engine, run_id, lambda _name: x_source(fake_x), resumed=True)
    assert resumed is not None
    assert (resumed.state, resumed.resume_count, resumed.pages) == ("SUCCEEDED", 1, 5)
    page_two = load_pages("blacklivesmatter.jsonl")[1]
    assert fake_x.search_requests()[0].query["next_token"] == page_two["meta"]["next_token"]
    assert len(fake_x.search_requests()) == 3  # pages 3, 4 and 5: nothing fetched twice
    assert stored(engine)["posts"] == expected(["blacklivesmatter"])["posts"]
    assert resumed.posts_fetched == resumed.posts_new == len(expected(["blacklivesmatter"])["posts"])
    assert interrupted_runs(engine) == []
    with engine.connect() as connection:
        assert (
            connection.execute(select(func.count()).select_from(CollectionRunHashtag.table())).scalar() == 1
        )


def test_a_run_held_by_another_collector_is_left_alone(engine: Engine, fake_x: FakeXApi) -> None:
    plan = plan_collection(["brexit"], 100, "x", [], WITH_X)
    run_id = start_run(engine, plan, [])
    with locks.lease(engine) as other:
        assert other.try_lock(locks.run_key(run_id))
        assert interrupted_runs(engine) == []
        assert execute_run(engine, run_id, lambda _name: x_source(fake_x)) is None
    assert fake_x.requests == []
    assert interrupted_runs(engine) == [run_id]


def test_refused_credentials_fail_the_run_at_once(engine: Engine, fake_x: FakeXApi) -> None:
    plan = plan_collection(HASHTAGS, 100, "x", [], WITH_X)
    run_id = start_run(engine, plan, [])
    wrong = XApiSource(XAccess("not-the-token-0000", fake_x.base_url, FAST))
    record = execute_run(engine, run_id, lambda _name: wrong)
    assert record is not None
    assert record.state == "FAILED"
    assert record.error_message.startswith("the run stopped: x refused the credentials (401 Unauthorized")
    assert len(fake_x.requests) == 1
    assert "not-the-token-0000" not in record.error_message


def test_an_error_body_that_quotes_the_token_is_stored_without_it(engine: Engine, fake_x: FakeXApi) -> None:
    """The run's error message is answered to anyone who asks (GET /v1/collections/{id}); a
    platform that quotes the request it refuses must not leak the token through it."""
    echo = {
        "title": "Invalid Request",
        "detail": f"bad query; got headers Authorization: Bearer {FAKE_X_TOKEN}, token={FAKE_X_TOKEN} "
        + "x" * 5000,
    }
    fake_x.add_fault(Fault(match=fake_x.on_page(1, "kpop"), status=400, body=json.dumps(echo).encode()))
    record = run_x(engine, fake_x, ["kpop"])
    [kpop] = record.hashtag_figures
    assert kpop.state == "FAILED"
    assert kpop.error_message.startswith("request rejected (400 Invalid Request: bad query")
    assert FAKE_X_TOKEN not in kpop.error_message
    assert FAKE_X_TOKEN not in record.error_message
    assert "[REDACTED]" in kpop.error_message
    assert len(kpop.error_message) < 700
