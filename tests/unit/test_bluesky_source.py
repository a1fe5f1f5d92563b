"""The Bluesky source on the recorded responses: what a post's hashtags, language and time are,
profiles in calls of 25 and reused, the session, and the catalog's word when it is not set."""

from __future__ import annotations

from datetime import UTC, datetime

from tagpulse_collector.catalog import SourceCatalog
from tagpulse_collector.sources.bluesky import (
    BlueskyAccess,
    BlueskySource,
    ProfileCache,
    format_time,
    hashtags_of,
    parse_search,
    parse_time,
)
from tests.support.fake_bluesky import APP_PASSWORD, HANDLE, FakeBluesky, load
from tests.support.policies import FAST

WORD_PAGE = "atrrr/searchPosts_rstats_limit100_2025-07-04.json"
HASHTAG_PAGE = "atrrr/searchPosts_hashtag-rstats_limit100_2025-07-04.json"


def test_rstats_typed_without_a_facet_is_no_hashtag() -> None:
    """SOURCES.md: 22 posts of two bots write #rstats as plain text (link facets only), and the
    `#rstats` search does not find them although they fall in its time window."""
    posts = load(WORD_PAGE)["posts"]
    found = {p["uri"] for p in load(HASHTAG_PAGE)["posts"]}
    plain = [
        p
        for p in posts
        if "#rstats" in p["record"]["text"].casefold() and "rstats" not in hashtags_of(p["record"])
    ]
    assert len(plain) == 22
    assert {p["author"]["handle"] for p in plain} == {"bitwacker.com", "teeeeeeeee.bsky.social"}
    assert not found & {p["uri"] for p in plain}


def test_outline_tags_count_as_hashtags() -> None:
    """Four posts of the #rstats search carry no rstats facet: they match through record.tags."""
    posts = load(HASHTAG_PAGE)["posts"]
    by_tags_only = [
        p
        for p in posts
        if "rstats" in {t.casefold() for t in p["record"].get("tags", [])}
        and not any(
            f.get("tag", "").casefold() == "rstats"
            for facet in p["record"].get("facets", [])
            for f in facet["features"]
        )
    ]
    assert len(by_tags_only) == 4
    assert all("rstats" in hashtags_of(p["record"]) for p in by_tags_only)


def test_times_with_offsets_and_microseconds() -> None:
    assert parse_time("2025-07-02T17:02:16-05:00") == datetime(2025, 7, 2, 22, 2, 16, tzinfo=UTC)
    assert parse_time("2025-05-19T17:30:09.561858Z").microsecond == 561858
    assert parse_time("2025-05-19T17:30:09.561858123Z").microsecond == 561858
    assert format_time(parse_time("2025-07-02T17:02:16-05:00")) == "2025-07-02T22:02:16.000000Z"


def test_a_page_gives_uri_ids_first_languages_and_the_newest_sort_time() -> None:
    body = load(HASHTAG_PAGE)
    page = parse_search(body)
    assert [p.id for p in page.posts] == [p["uri"] for p in body["posts"]]
    assert page.cursor == "100"
    assert page.newest == parse_time(body["posts"][0]["record"]["createdAt"])
    assert {p.language for p in page.posts} == {"en", "es", "pt", "und"}
    redistricting = parse_search(load("bskyr/searchPosts_redistricting_2025-05-19.json"))
    assert len(redistricting.posts) == 25
    last = parse_search(load("atrrr/searchPosts_atrrr_sort-top_since-until-author-domain_2025-07-04.json"))
    assert (len(last.posts), last.cursor) == (1, None)


def test_profiles_are_read_25_at_a_time_and_reused_until_their_time_is_up() -> None:
    now = [0.0]
    fake = FakeBluesky().start()
    try:
        access = BlueskyAccess(HANDLE, APP_PASSWORD, fake.base_url, FAST, profile_ttl_seconds=60)
        object.__setattr__(access, "profiles", ProfileCache(60, clock=lambda: now[0]))
        [first] = list(BlueskySource(access).search("rstats", 100))
        assert [len([n for n, _ in r.params if n == "actors"]) for r in fake.profile_requests()] == [
            25,
            25,
            3,
        ]
        assert {a.id: a.followers_count for a in first.authors} == {
            a.id: fake.followers(a.id) for a in first.authors
        }
        fake.requests.clear()
        list(BlueskySource(access).search("rstats", 100))
        assert fake.profile_requests() == []
        assert [r.path.rsplit(".", 1)[-1] for r in fake.requests] == ["searchPosts"]  # the session is kept
        now[0] = 61.0
        gone = first.authors[0].id
        fake.gone.add(gone)
        [again] = list(BlueskySource(access).search("rstats", 100))
        assert len(fake.profile_requests()) == 3
        kept = next(a for a in again.authors if a.id == gone)
        assert (kept.username, kept.followers_count) == (first.authors[0].username, 0)
        assert any(gone in error for error in again.errors)
    finally:
        fake.close()


def test_a_spent_refresh_token_makes_a_new_session() -> None:
    fake = FakeBluesky().start()
    try:
        access = BlueskyAccess(HANDLE, APP_PASSWORD, fake.base_url, FAST)
        list(BlueskySource(access).search("rstats", 10))
        fake.expire_access_tokens()
        fake.refresh_tokens.clear()
        fake.requests.clear()
        [page] = list(BlueskySource(access).search("rstats", 10))
        assert len(page.posts) == 10
        methods = [r.path.rsplit(".", 1)[-1] for r in fake.requests if r.path.endswith(("Session", "Posts"))]
        assert methods == ["searchPosts", "refreshSession", "createSession", "searchPosts"]
        # The expired search and the refused refresh: two errors, recovered from.
        assert len(page.errors) == 2
        assert all("ExpiredToken" in error for error in page.errors)
    finally:
        fake.close()


def test_the_session_and_the_access_never_show_a_secret() -> None:
    access = BlueskyAccess(HANDLE, APP_PASSWORD)
    assert APP_PASSWORD not in repr(access)
    assert APP_PASSWORD not in repr(access.session)


def test_without_a_handle_and_app_password_bluesky_is_not_configured() -> None:
    source, problem = SourceCatalog().choose("bluesky")
    assert source == "bluesky"
    assert problem == (
        "source 'bluesky' is not configured on this collector (set TAGPULSE_BLUESKY_HANDLE and "
        "TAGPULSE_BLUESKY_APP_PASSWORD); configured: sample"
    )
    configured = SourceCatalog(bluesky=BlueskyAccess(HANDLE, APP_PASSWORD))
    assert configured.choose("")[0] == "bluesky"
