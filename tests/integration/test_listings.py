"""Lists, lookups and figures equal a brute-force computation over the raw rows of the test."""

from __future__ import annotations

import json
import random
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, insert

from tagpulse import pagination
from tagpulse.db.models import CollectionRun, CollectionRunHashtag, Hashtag
from tagpulse.errors import InvalidArgument, NotFound
from tagpulse_query import listings, stats
from tagpulse_query.validation import hashtags_query, post_query, posts_query, users_query
from tests.integration.brute_force import stored
from tests.support.random_posts import WINDOW, WINDOW_START, RandomData, random_data


@pytest.fixture
def data(engine: Engine) -> RandomData:
    made = random_data(seed=4, posts=700)
    made.ingest(engine)
    return made


def all_posts(engine: Engine, page_size: int, **filters: Any) -> list[listings.PostRow]:
    """Every page of ListPosts, following the tokens as a client would."""
    arguments = {
        "hashtag": "",
        "language": "",
        "author_id": "",
        "country_code": "",
        "start": None,
        "end": None,
        **filters,
    }
    found: list[listings.PostRow] = []
    token = ""
    for _ in range(10_000):
        query = posts_query(**arguments, page_size=page_size, page_token=token)
        with engine.connect() as connection:
            page = listings.list_posts(connection, query)
        assert len(page.posts) <= page_size
        found.extend(page.posts)
        if page.last is None:
            return found
        token = pagination.POSTS.encode(page.last, query.filter)
    raise AssertionError("pagination does not end")


def expected_posts(engine: Engine, **filters: Any) -> list[tuple[str, str]]:
    posts, tags, _ = stored(engine)
    start, end = filters.get("start"), filters.get("end")
    kept = [
        p
        for p in posts
        if (
            "hashtag" not in filters
            or filters["hashtag"].lstrip("#").casefold() in tags.get((p.source, p.id), ())
        )
        and ("language" not in filters or p.language == filters["language"])
        and ("author_id" not in filters or p.author_id == filters["author_id"])
        and (
            "country_code" not in filters
            or p.country_code in (filters["country_code"].upper(), filters["country_code"])
        )
        and (start is None or p.created_at >= start)
        and (end is None or p.created_at < end)
    ]
    kept.sort(key=lambda p: (-p.created_at.timestamp(), p.source, p.id))
    return [(p.source, p.id) for p in kept]


START = WINDOW_START + timedelta(hours=20, minutes=3, microseconds=7)
END = START + timedelta(days=1, hours=5)


@pytest.mark.parametrize(
    "filters",
    [
        {},
        {"hashtag": "#SRE"},
        {"hashtag": "भारत", "language": "hi"},
        {"language": "es"},
        {"author_id": "x7"},
        {"country_code": "np"},
        {"country_code": "unknown", "start": START},
        {"start": START, "end": END},
        {"hashtag": "devops", "country_code": "US", "start": START, "end": END},
    ],
)
def test_list_posts_pages_equal_a_filtered_recount(data: RandomData, engine: Engine, filters: Any) -> None:
    expected = expected_posts(engine, **filters)
    assert expected, "the filter should match something"
    got = all_posts(engine, 13, **filters)
    assert [(p.source, p.id) for p in got] == expected


def test_listed_posts_carry_their_fields(data: RandomData, engine: Engine) -> None:
    posts, tags, users = stored(engine)
    by_key = {(p.source, p.id): p for p in posts}
    got = all_posts(engine, 1000)
    assert len(got) == len(posts) == 700
    for row in got:
        post = by_key[(row.source, row.id)]
        assert (row.author_id, row.text, row.language, row.created_at, row.country_code) == (
            post.author_id,
            post.text,
            post.language,
            post.created_at,
            post.country_code,
        )
        assert row.author_username == users[(row.source, row.author_id)].username
        assert row.hashtags == tuple(sorted(tags.get((row.source, row.id), ())))


def test_pages_return_every_post_once_while_new_posts_arrive(data: RandomData, engine: Engine) -> None:
    before = set(expected_posts(engine))
    seen: list[tuple[str, str]] = []
    token = ""
    arrivals = 0
    while True:
        query = posts_query("", "", "", "", None, None, 37, token)
        with engine.connect() as connection:
            page = listings.list_posts(connection, query)
        seen.extend((p.source, p.id) for p in page.posts)
        if page.last is None:
            break
        token = pagination.POSTS.encode(page.last, query.filter)
        # Between pages: new posts, newer than everything, older than the page, and at the
        # very instant of the page's last post.
        arrivals += 1
        batch = random_data(seed=100 + arrivals, posts=20, first_id=10_000 * arrivals, span=WINDOW * 2)
        tied = batch.pages[0].posts[0]
        batch.pages[0] = type(batch.pages[0])(
            posts=[
                *batch.pages[0].posts[1:],
                type(tied)(**{**vars(tied), "created_at": page.last.created_at}),
            ],
            authors=batch.pages[0].authors,
        )
        batch.ingest(engine)
    assert arrivals > 10
    assert len(seen) == len(set(seen)), "a post was listed twice"
    assert before <= set(seen), "a post stored before the first page was never listed"
    assert len(set(expected_posts(engine))) > len(before)


def test_get_post(data: RandomData, engine: Engine) -> None:
    posts, tags, _ = stored(engine)
    ids = Counter(p.id for p in posts)
    shared = next(i for i, n in ids.items() if n == 2)
    single = next(p for p in posts if ids[p.id] == 1)
    with engine.connect() as connection:
        found = listings.get_post(connection, post_query(single.id, ""))
        assert (found.source, found.id, found.text) == (single.source, single.id, single.text)
        assert found.hashtags == tuple(sorted(tags.get((single.source, single.id), ())))
        for source in ("sample", "x"):
            assert listings.get_post(connection, post_query(shared, source.upper())).source == source
        with pytest.raises(InvalidArgument) as ambiguous:
            listings.get_post(connection, post_query(shared, ""))
        assert ambiguous.value.violations.keys() == {"source"}
        for missing in (post_query("999999999", ""), post_query(single.id, "mastodon")):
            with pytest.raises(NotFound):
                listings.get_post(connection, missing)
        with pytest.raises(NotFound):
            listings.get_post(connection, post_query("'; DROP TABLE posts; --", ""))
    assert len(stored(engine)[0]) == len(posts)


@pytest.mark.parametrize("order_by", ["", "followers_count desc", "id"])
def test_list_users_pages_equal_a_recount(data: RandomData, engine: Engine, order_by: str) -> None:
    _, _, users = stored(engine)
    got = []
    token = ""
    while True:
        query = users_query(order_by, 9, token)
        with engine.connect() as connection:
            page = listings.list_users(connection, query)
        got.extend(page.users)
        if page.last is None:
            break
        token = pagination.USERS.encode(page.last, query.order_by)
    if order_by == "id":
        expected = sorted(users)
    else:
        expected = sorted(users, key=lambda key: (-data.latest_followers[key], key))
    assert [(u.source, u.id) for u in got] == expected
    assert {(u.source, u.id): u.followers_count for u in got} == data.latest_followers
    posts, _, _ = stored(engine)
    assert {(u.source, u.id): u.post_count for u in got} == Counter((p.source, p.author_id) for p in posts)


def test_list_hashtags_lists_collected_ones_with_distinct_post_counts(
    data: RandomData, engine: Engine
) -> None:
    collected = datetime(2026, 11, 5, 12, tzinfo=UTC)
    with engine.begin() as connection:
        hashtags = Hashtag.table()
        # Tracked but never collected; collected once; and the rest only seen beside them.
        connection.execute(hashtags.update().where(hashtags.c.name == "sre").values(tracked=True))
        connection.execute(
            hashtags.update().where(hashtags.c.name == "भारत").values(last_collected_at=collected)
        )
        connection.execute(insert(hashtags).values(name="opentracing", tracked=True, post_count=0))
    _, tags, _ = stored(engine)
    distinct = Counter(t for key in tags for t in tags[key])
    pages = []
    token = ""
    while True:
        with engine.connect() as connection:
            page = listings.list_hashtags(connection, hashtags_query(1, token))
        pages.append(page.hashtags)
        if page.last is None:
            break
        token = pagination.HASHTAGS.encode(page.last)
    assert [len(p) for p in pages] == [1, 1, 1]
    got = {h.name: (h.tracked, h.post_count, h.last_collected_at) for page in pages for h in page}
    assert got == {
        "opentracing": (True, 0, None),
        "sre": (True, distinct["sre"], None),
        "भारत": (False, distinct["भारत"], collected),
    }


def test_stats_equal_a_recount(data: RandomData, engine: Engine) -> None:
    posts, _, users = stored(engine)
    ended = datetime(2026, 11, 6, tzinfo=UTC)
    runs, progress = CollectionRun.table(), CollectionRunHashtag.table()
    run = {"source": "sample", "max_posts_per_hashtag": 10, "posts_fetched": 0, "posts_new": 0}
    with engine.begin() as connection:
        both, one = ["sre", "oauth"], ["sre"]
        connection.execute(
            insert(runs),
            [
                {**run, "id": 1, "hashtags": both, "state": "SUCCEEDED", "started_at": ended,
                 "ended_at": ended},
                {**run, "id": 2, "hashtags": both, "state": "PARTIALLY_SUCCEEDED", "started_at": ended,
                 "ended_at": ended + timedelta(hours=1)},
                {**run, "id": 3, "hashtags": one, "state": "RUNNING", "started_at": ended, "ended_at": None},
                {**run, "id": 4, "hashtags": one, "state": "RUNNING", "started_at": ended, "ended_at": None},
            ],
        )  # fmt: skip
        figures = {"posts_fetched": 0, "posts_new": 0, "error_message": ""}
        connection.execute(
            insert(progress),
            [
                {**figures, "run_id": 1, "hashtag": "sre", "state": "SUCCEEDED"},
                {**figures, "run_id": 1, "hashtag": "oauth", "state": "SUCCEEDED"},
                {**figures, "run_id": 2, "hashtag": "sre", "state": "SUCCEEDED"},
                {**figures, "run_id": 2, "hashtag": "oauth", "state": "FAILED"},
                {**figures, "run_id": 3, "hashtag": "sre", "state": "SUCCEEDED"},
                {**figures, "run_id": 4, "hashtag": "sre", "state": "RUNNING"},
            ],
        )
    with engine.connect() as connection:
        figures_now = stats.stats(connection)
    fetched = Counter(p.source for page in data.pages for p in page.posts)
    stored_by_source = Counter(p.source for p in posts)
    assert {(s.source, s.posts_fetched, s.posts_stored) for s in figures_now.sources} == {
        (source, fetched[source], stored_by_source[source]) for source in fetched
    }
    assert figures_now.posts == len(posts) == 700
    assert figures_now.users == len(users)
    assert [(r.hashtag, r.run_id, r.ended_at) for r in figures_now.last_successful_runs] == [
        ("oauth", 1, ended),
        ("sre", 3, None),
    ]


def test_filters_that_match_nothing_are_just_values(data: RandomData, engine: Engine) -> None:
    for filters in (
        {"language": "'; DROP TABLE posts; --"},
        {"author_id": "1 OR 1=1"},
        {"country_code": "ZZ"},
        {"hashtag": "nosuchtag"},
    ):
        assert all_posts(engine, 50, **filters) == []
    assert len(all_posts(engine, 1000)) == 700


def test_random_page_sizes_never_lose_or_repeat_a_post(data: RandomData, engine: Engine) -> None:
    rng = random.Random(7)
    expected = expected_posts(engine)
    for _ in range(3):
        assert [(p.source, p.id) for p in all_posts(engine, rng.randint(1, 150))] == expected


def test_a_page_of_long_posts_stops_before_it_outgrows_a_rest_answer(engine: Engine) -> None:
    """700 posts of 4,000 CJK characters (12 kB of UTF-8 each) once made an answer too big for
    Envoy. A page now stops at its byte budget; the pages still hold every post once."""
    long_posts = random_data(seed=9, posts=700)
    for page in long_posts.pages:
        page.posts[:] = [replace(post, text="漢字かな" * 1000) for post in page.posts]
    long_posts.ingest(engine)
    expected = expected_posts(engine)
    query = posts_query("", "", "", "", None, None, 700, "")
    with engine.connect() as connection:
        first = listings.list_posts(connection, query)
    assert 1 < len(first.posts) < 700
    assert first.last is not None
    assert sum(len(json.dumps(p.text, ensure_ascii=False).encode()) for p in first.posts) <= 1024 * 1024
    assert [(p.source, p.id) for p in all_posts(engine, 700)] == expected
