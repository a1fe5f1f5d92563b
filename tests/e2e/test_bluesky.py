"""Bluesky end to end: REST through Envoy to a collector signed in to a fake Bluesky PDS (the
recorded #rstats searches) and following a fake Jetstream (the recorded capture); the summaries
and lists answer with Bluesky's posts; the tokens never reach a log or an answer; and a collector
without a Bluesky account says so."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from urllib.parse import quote

import httpx
import pytest

from tests.support.collections import start_and_wait
from tests.support.fake_bluesky import APP_PASSWORD, HANDLE, FakeBluesky, hashtag_posts
from tests.support.fake_jetstream import FakeJetstream
from tests.support.policies import FAST_ENV
from tests.support.polling import wait_until
from tests.support.processes import Stack


@pytest.fixture
def fake_jetstream() -> Iterator[FakeJetstream]:
    jetstream = FakeJetstream().start()
    yield jetstream
    jetstream.close()


@pytest.fixture
def stack(
    start_stack: Callable[..., Stack], fake_bluesky: FakeBluesky, fake_jetstream: FakeJetstream
) -> Stack:
    return start_stack(
        TAGPULSE_BLUESKY_HANDLE=HANDLE,
        TAGPULSE_BLUESKY_APP_PASSWORD=APP_PASSWORD,
        TAGPULSE_BLUESKY_BASE_URL=fake_bluesky.base_url,
        TAGPULSE_BLUESKY_JETSTREAM_URL=fake_jetstream.url,
        **FAST_ENV,
    )


def test_a_bluesky_collection_and_stream_through_rest(stack: Stack, fake_bluesky: FakeBluesky) -> None:
    started, run = start_and_wait(
        stack.rest_url, stack.api_token, {"hashtags": ["#rstats"], "maxPostsPerHashtag": 1000}
    )
    assert started["source"] == "bluesky"  # the default: no X or Mastodon settings
    assert run["state"] == "SUCCEEDED", run
    assert (run["figures"]["postsFetched"], run["figures"]["postsNew"]) == ("200", "200")

    top = httpx.get(f"{stack.rest_url}/v1/users:top?hashtag=rstats&limit=5", timeout=30).json()["users"]
    followers = {p["author"]["did"]: fake_bluesky.followers(p["author"]["did"]) for p in hashtag_posts()}
    ranked = sorted(followers.items(), key=lambda item: (-item[1], item[0]))[:5]
    assert [(u["id"], int(u["followersCount"])) for u in top] == ranked

    by_hashtag = httpx.get(f"{stack.rest_url}/v1/posts:countByHashtag?hashtag=rstats", timeout=30).json()
    assert sum(int(c["postCount"]) for c in by_hashtag["counts"]) == 200

    listed = httpx.get(f"{stack.rest_url}/v1/posts?hashtag=rstats&pageSize=5", timeout=30).json()["posts"]
    assert {p["source"] for p in listed} == {"bluesky"}
    newest = hashtag_posts()[0]
    assert listed[0]["id"] == newest["uri"]
    # The id is an at:// URI: one path segment once percent-encoded.
    one = httpx.get(f"{stack.rest_url}/v1/posts/{quote(newest['uri'], safe='')}", timeout=30)
    assert one.status_code == 200, one.text
    assert one.json()["text"] == newest["record"]["text"]

    created = httpx.post(
        f"{stack.rest_url}/v1/streams",
        json={"rules": [{"value": "#indierebellion"}, {"value": "boring"}], "source": "bluesky"},
        headers={"Authorization": f"Bearer {stack.api_token}"},
        timeout=30,
    )
    assert created.status_code == 200, created.text
    stream_url = f"{stack.rest_url}/v1/streams/{created.json()['id']}"
    wait_until(
        lambda: httpx.get(stream_url, timeout=30).json().get("postsReceived") == "17",
        message="the recorded posts",
        timeout=60,
    )
    stream = httpx.get(stream_url, timeout=30).json()
    wait_until(
        lambda: httpx.get(stream_url, timeout=30).json().get("postsUnique") == "2", message="the matches"
    )

    logs = "\n".join(process.log() for process in stack.processes())
    answers = str(run) + str(stream)
    assert fake_bluesky.issued
    for token in [*fake_bluesky.issued, APP_PASSWORD]:
        assert token not in logs
        assert token not in answers


def test_without_a_bluesky_account_the_source_says_it_is_not_configured(
    start_stack: Callable[..., Stack],
) -> None:
    stack = start_stack(**FAST_ENV)
    response = httpx.post(
        f"{stack.rest_url}/v1/collections",
        json={"hashtags": ["rstats"], "source": "bluesky"},
        headers={"Authorization": f"Bearer {stack.api_token}"},
        timeout=30,
    )
    assert response.status_code == 400
    assert (
        "source 'bluesky' is not configured on this collector (set TAGPULSE_BLUESKY_HANDLE and "
        in response.text
    )
