"""The Mastodon source against a fake instance serving Mastodon.py's recorded timelines."""

from __future__ import annotations

import pytest

from tagpulse_collector.sources.errors import AuthenticationFailed, RateLimited
from tagpulse_collector.sources.mastodon import (
    MastodonAccess,
    MastodonSource,
    html_to_text,
    next_max_id,
    parse_status,
)
from tests.support.fake_http import Fault
from tests.support.fake_mastodon import FakeMastodon, recorded_statuses
from tests.support.policies import FAST

TAG = "fgiztsshwiaqqiztpmmjbtvmescsculuvmgjgopwoeidbcrixp"


def test_pages_through_the_link_header_until_the_end(fake_mastodon: FakeMastodon) -> None:
    statuses = recorded_statuses(TAG)
    assert len(statuses) == 30
    pages = list(MastodonSource(MastodonAccess(fake_mastodon.base_url, policy=FAST)).search(TAG, 1000))
    assert [p.id for page in pages for p in page.posts] == [s["id"] for s in statuses]
    requests = fake_mastodon.tag_requests()
    assert requests[0].path == f"/api/v1/timelines/tag/{TAG}"
    assert requests[0].query == {"limit": "40"}
    # Each next request carries the max_id of the Link header's rel="next".
    assert [r.query.get("max_id") for r in requests] == [None, *(p.next_cursor for p in pages[:-1])]
    assert pages[-1].next_cursor is None
    assert "authorization" not in requests[0].headers  # public timelines need no token
    assert pages[0].newest_id == statuses[0]["id"]


def test_statuses_become_posts_with_language_tags_and_followers(fake_mastodon: FakeMastodon) -> None:
    status = recorded_statuses("hoot")[0]
    post, author = parse_status(status)
    assert (post.source, post.id, post.language, post.hashtags) == ("mastodon", status["id"], "ja", ("hoot",))
    assert post.text == html_to_text(status["content"])
    assert "<" not in post.text
    assert "#hoot" in post.text
    assert (author.id, author.followers_count, author.location) == (
        status["account"]["id"],
        status["account"]["followers_count"],
        "",
    )


def test_a_location_in_the_profile_metadata_is_used() -> None:
    status = recorded_statuses("hoot")[0]
    status["account"]["fields"] = [
        {"name": "Pronouns", "value": "she/her"},
        {"name": "Location", "value": "<p>Puebla, México</p>"},
    ]
    assert parse_status(status)[1].location == "Puebla, México"


def test_asks_only_for_newer_posts_and_sends_the_token_when_set(fake_mastodon: FakeMastodon) -> None:
    statuses = recorded_statuses(TAG)
    since = statuses[4]["id"]
    mastodon = MastodonSource(MastodonAccess(fake_mastodon.base_url, "a-token-1234", FAST))
    pages = list(mastodon.search(TAG, 100, since_id=since))
    assert [p.id for page in pages for p in page.posts] == [s["id"] for s in statuses[:4]]
    request = fake_mastodon.tag_requests()[0]
    assert request.query["since_id"] == since
    assert request.headers["authorization"] == "Bearer a-token-1234"


def test_a_429_waits_for_the_iso_reset(fake_mastodon: FakeMastodon) -> None:
    fake_mastodon.add_fault(
        Fault(
            status=429,
            body=b'{"error": "Too many requests"}',
            headers={"x-ratelimit-reset": "2000-01-01T00:00:00Z"},
        )
    )
    pages = list(MastodonSource(MastodonAccess(fake_mastodon.base_url, policy=FAST)).search("hoot", 10))
    # The recorded page links to a next one, which is empty: the end.
    assert [len(p.posts) for p in pages] == [1, 0]
    assert [p.requests for p in pages] == [2, 1]  # the 429 and its retry, then the empty page

    fake_mastodon.add_fault(Fault(status=429, times=None))
    with pytest.raises(RateLimited):
        list(MastodonSource(MastodonAccess(fake_mastodon.base_url, policy=FAST)).search("hoot", 10))


def test_a_refused_token_stops_the_run(fake_mastodon: FakeMastodon) -> None:
    fake_mastodon.add_fault(Fault(status=401, body=b'{"error": "The access token is invalid"}'))
    with pytest.raises(AuthenticationFailed) as error:
        list(MastodonSource(MastodonAccess(fake_mastodon.base_url, "revoked-token", FAST)).search("hoot", 10))
    assert str(error.value).startswith("mastodon refused the credentials (401")


def test_link_headers_and_html() -> None:
    link = (
        '<https://m.example/api/v1/timelines/tag/x?max_id=117020582177108552>; rel="next", '
        '<https://m.example/api/v1/timelines/tag/x?min_id=117020582251615632>; rel="prev"'
    )
    assert next_max_id(link) == "117020582177108552"
    assert next_max_id('<https://m.example/x?min_id=1>; rel="prev"') is None
    assert next_max_id(None) is None
    assert html_to_text("<p>Hi <b>there</b> &amp; #tag</p><p>two</p>") == "Hi there & #tag\ntwo"
