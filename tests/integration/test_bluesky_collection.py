"""Collection runs from a fake Bluesky serving the recorded #rstats searches: exact figures read
straight from the recordings, a 429 waited out, an access token that expires mid-run, a run
stopped and resumed, an incremental run, refused credentials, and tokens kept out of logs and
answers."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, select

from tagpulse.db.models import Post, PostHashtag, User
from tagpulse.hashtags import InvalidHashtag, normalize_hashtag
from tagpulse_collector.catalog import SourceCatalog
from tagpulse_collector.runs.execute import execute_run
from tagpulse_collector.runs.plan import plan_collection
from tagpulse_collector.runs.store import RunRecord, start_run
from tagpulse_collector.sources.base import Page
from tagpulse_collector.sources.bluesky import BlueskyAccess, BlueskySource
from tagpulse_query.summaries import count_posts_by_hashtag, top_users
from tagpulse_query.validation import TopUsersQuery, hashtag_count_query
from tests.integration.test_ingest import assert_rollups_match_a_recount
from tests.support.fake_bluesky import APP_PASSWORD, HANDLE, FakeBluesky, hashtag_posts, load
from tests.support.fake_http import Fault
from tests.support.policies import FAST

# Plans only look at which sources are configured.
WITH_BLUESKY = SourceCatalog(bluesky=BlueskyAccess(HANDLE, APP_PASSWORD))


def tags_of(record: dict[str, Any]) -> set[str]:
    """Tag facets and outline tags, read here without the collector's code; tags that are no
    hashtag tagpulse can store ("bsvars.org") are left out, as for every platform."""
    facets = {
        feature["tag"]
        for facet in record.get("facets", [])
        for feature in facet["features"]
        if feature["$type"] == "app.bsky.richtext.facet#tag"
    }
    tags = set()
    for tag in facets | set(record.get("tags", [])):
        try:
            tags.add(normalize_hashtag(tag))
        except InvalidHashtag:
            continue
    return tags


def expected(fake: FakeBluesky) -> dict[str, Any]:
    posts = hashtag_posts()
    return {
        "posts": {p["uri"] for p in posts},
        "links": {(p["uri"], tag) for p in posts for tag in tags_of(p["record"])},
        "languages": Counter(
            p["record"]["langs"][0].split("-")[0] if p["record"].get("langs") else "und" for p in posts
        ),
        "followers": {p["author"]["did"]: fake.followers(p["author"]["did"]) for p in posts},
    }


def source(fake: FakeBluesky, password: str = APP_PASSWORD) -> BlueskySource:
    return BlueskySource(BlueskyAccess(HANDLE, password, fake.base_url, FAST))


def run(engine: Engine, fake: FakeBluesky, bluesky: BlueskySource | None = None) -> RunRecord:
    plan = plan_collection(["rstats"], 1000, "bluesky", [], WITH_BLUESKY)
    run_id = start_run(engine, plan, [])
    chosen = bluesky or source(fake)
    record = execute_run(engine, run_id, lambda _name: chosen)
    assert record is not None
    return record


def stored(engine: Engine) -> dict[str, Any]:
    with engine.connect() as connection:
        posts = {r.id: r for r in connection.execute(select(Post.table()))}
        links = {(r.post_id, r.hashtag) for r in connection.execute(select(PostHashtag.table()))}
        users = {r.id: r for r in connection.execute(select(User.table()))}
        top = top_users(connection, TopUsersQuery(limit=5, hashtag=None))
        by_hashtag = count_posts_by_hashtag(
            connection, hashtag_count_query(hashtag="rstats", page_size=1000)
        ).rows
    return {"posts": posts, "links": links, "users": users, "top": top, "by_hashtag": by_hashtag}


def test_a_run_stores_exactly_what_the_recorded_searches_hold(
    engine: Engine, fake_bluesky: FakeBluesky
) -> None:
    want = expected(fake_bluesky)
    record = run(engine, fake_bluesky)
    assert record.state == "SUCCEEDED", record.error_message
    [figures] = record.hashtag_figures
    # Two recorded pages of 100: createSession, two searches, 53 + 45 authors' profiles in calls of 25
    # (the second page's authors who were on the first are not read again).
    assert (figures.posts_fetched, figures.posts_new, figures.pages) == (200, 200, 2)
    assert [r.query.get("cursor") for r in fake_bluesky.search_requests()] == [None, "100"]
    assert all(
        r.query["q"] == "#rstats" and r.query["sort"] == "latest" for r in fake_bluesky.search_requests()
    )
    assert len(fake_bluesky.session_requests()) == 1
    asked = [did for r in fake_bluesky.profile_requests() for name, did in r.params if name == "actors"]
    assert len(asked) == len(set(asked)) == len(want["followers"])
    assert figures.api_requests == 1 + 2 + len(fake_bluesky.profile_requests())

    got = stored(engine)
    assert set(got["posts"]) == want["posts"]
    assert got["links"] == want["links"]
    assert Counter(p.language for p in got["posts"].values()) == want["languages"]
    # The recordings' own figures (SOURCES.md): on the 2025 page 55 posts in English, 42 without
    # `langs` and one with an empty list.
    page_2025 = {p["uri"] for p in load("atrrr/searchPosts_hashtag-rstats_limit100_2025-07-04.json")["posts"]}
    assert Counter(got["posts"][uri].language for uri in page_2025)["en"] == 55
    assert Counter(got["posts"][uri].language for uri in page_2025)["und"] == 43
    assert {u: got["users"][u].followers_count for u in got["users"]} == want["followers"]
    assert all(u.country_code == "unknown" and u.location == "" for u in got["users"].values())
    ranked = sorted(want["followers"].items(), key=lambda item: (-item[1], item[0]))[:5]
    assert [(u.id, u.followers_count) for u in got["top"]] == ranked
    assert sum(row.post_count for row in got["by_hashtag"]) == 200
    assert {row.country_code for row in got["by_hashtag"]} == {"unknown"}
    assert_rollups_match_a_recount(engine)


def test_the_next_run_asks_only_since_the_newest_stored_post(
    engine: Engine, fake_bluesky: FakeBluesky
) -> None:
    run(engine, fake_bluesky)
    newest = load("atrrr/searchPosts_hashtag-rstats_limit100_2025-07-04.json")["posts"][0]
    fake_bluesky.requests.clear()
    again = run(engine, fake_bluesky)
    assert again.state == "SUCCEEDED"
    [search] = fake_bluesky.search_requests()
    assert (
        search.query["since"]
        == "2025-07-04T08:28:35.629000Z"
        == newest["record"]["createdAt"].replace("Z", "000Z")
    )
    # `since` is inclusive: the newest stored post comes back, and only it.
    assert (again.posts_fetched, again.posts_new) == (1, 0)


def test_a_run_stopped_after_its_first_page_resumes_at_the_second(
    engine: Engine, fake_bluesky: FakeBluesky
) -> None:
    stop = threading.Event()

    class StopAfterOnePage(BlueskySource):
        def search(self, *args: Any, **kwargs: Any) -> Iterator[Page]:
            for page in super().search(*args, **kwargs):
                stop.set()
                yield page

    plan = plan_collection(["rstats"], 1000, "bluesky", [], WITH_BLUESKY)
    run_id = start_run(engine, plan, [])
    stopping = StopAfterOnePage(BlueskyAccess(HANDLE, APP_PASSWORD, fake_bluesky.base_url, FAST))
    interrupted = execute_run(engine, run_id, lambda _name: stopping, stop)
    assert interrupted is not None
    assert interrupted.state == "RUNNING"
    assert interrupted.hashtag_figures[0].pages == 1

    fake_bluesky.requests.clear()
    resumed = execute_run(engine, run_id, lambda _name: source(fake_bluesky), resumed=True)
    assert resumed is not None
    assert (resumed.state, resumed.pages, resumed.posts_fetched, resumed.posts_new) == (
        "SUCCEEDED",
        2,
        200,
        200,
    )
    [search] = fake_bluesky.search_requests()  # nothing read twice
    assert search.query["cursor"] == "100"
    assert set(stored(engine)["posts"]) == expected(fake_bluesky)["posts"]


def rate_limited() -> dict[str, str]:
    """The recorded 429's headers, its reset moved to a second from now."""
    recorded = load("errors/429_RateLimitExceeded_skeeter-deleter-issue5.json")
    headers = {k: v for k, v in recorded["headers"].items() if k.startswith("ratelimit")}
    return headers | {"ratelimit-reset": str(int(time.time()) + 1)}


def test_a_429_waits_for_the_reset_and_goes_on(engine: Engine, fake_bluesky: FakeBluesky) -> None:
    recorded = load("errors/429_RateLimitExceeded_skeeter-deleter-issue5.json")
    fault = fake_bluesky.add_fault(
        Fault(
            match=lambda r: r.path.endswith("searchPosts") and r.query.get("cursor") == "100",
            status=429,
            body=json.dumps(recorded["body"]).encode(),
            headers=rate_limited(),
        )
    )
    record = run(engine, fake_bluesky)
    assert fault.hits == 1
    assert (record.state, record.posts_fetched, record.posts_new) == ("SUCCEEDED", 200, 200)
    assert [r.query.get("cursor") for r in fake_bluesky.search_requests()] == [None, "100", "100"]


def test_an_access_token_that_expires_mid_run_is_refreshed(
    engine: Engine, fake_bluesky: FakeBluesky, caplog: pytest.LogCaptureFixture
) -> None:
    expired = threading.Event()

    def expire_before_page_two(request: Any) -> bool:
        if (
            request.path.endswith("searchPosts")
            and request.query.get("cursor") == "100"
            and not expired.is_set()
        ):
            expired.set()
            fake_bluesky.expire_access_tokens()
        return False

    fake_bluesky.add_fault(Fault(match=expire_before_page_two, times=None))
    with caplog.at_level(logging.DEBUG):
        record = run(engine, fake_bluesky)
    assert (record.state, record.posts_fetched, record.posts_new) == ("SUCCEEDED", 200, 200)
    methods = [r.path.rsplit(".", 1)[-1] for r in fake_bluesky.session_requests()]
    assert methods == ["createSession", "refreshSession"]
    # Page two: the expired search, the refresh, the search again.
    assert [r.query.get("cursor") for r in fake_bluesky.search_requests()] == [None, "100", "100"]
    [figures] = record.hashtag_figures
    assert figures.errors == 1  # the ExpiredToken answer
    assert len(fake_bluesky.issued) == 4
    answered = json.dumps([record.error_message, [f.error_message for f in record.hashtag_figures]])
    for token in fake_bluesky.issued:
        assert token not in caplog.text
        assert token not in answered


def test_a_wrong_app_password_fails_the_run_clearly(
    engine: Engine, fake_bluesky: FakeBluesky, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        record = run(engine, fake_bluesky, source(fake_bluesky, "wrong-pass-word"))
    assert record.state == "FAILED"
    assert record.error_message == (
        "the run stopped: bluesky refused the credentials "
        "(401 AuthenticationRequired: Invalid identifier or password)"
    )
    assert fake_bluesky.search_requests() == []
    assert "wrong-pass-word" not in caplog.text
