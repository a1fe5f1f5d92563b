"""Ingestion stores each post once and keeps every rollup equal to a recount of the posts."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, func, select

from tagpulse.db.models import (
    Hashtag,
    HashtagLanguageCountryCount,
    HashtagPostCountByBucket,
    Post,
    PostCountByBucket,
    SourceCount,
    User,
    UserHashtagCount,
)
from tagpulse_collector.ingestion.batches import bucket_start, ingest_page
from tagpulse_collector.sources.base import Author, CollectedPost, Page
from tagpulse_collector.sources.sample import SampleSource
from tests.integration.brute_force import stored

ANCHOR = datetime(2026, 11, 23, tzinfo=UTC)


def sample_pages(hashtags: tuple[str, ...] = ("devops", "sre", "observability")) -> list[Page]:
    source = SampleSource(seed=3, anchor=ANCHOR)
    return [page for tag in hashtags for page in source.search(tag, 100)]


def ingest_all(engine: Engine, pages: list[Page]) -> tuple[int, int]:
    fetched = new = 0
    for page in pages:
        with engine.begin() as connection:
            result = ingest_page(connection, page)
        fetched += result.fetched
        new += result.new
    return fetched, new


def rollups(engine: Engine) -> dict[str, set[tuple]]:  # type: ignore[type-arg]
    with engine.connect() as connection:
        return {
            model.__tablename__: set(connection.execute(select(model.table())).all())
            for model in (
                PostCountByBucket,
                HashtagPostCountByBucket,
                HashtagLanguageCountryCount,
                UserHashtagCount,
            )
        }


def assert_rollups_match_a_recount(engine: Engine) -> None:
    posts, tags, users = stored(engine)
    with engine.connect() as connection:
        by_bucket = dict(
            connection.execute(select(PostCountByBucket.bucket_start, PostCountByBucket.post_count)).all()
        )
        by_tag_bucket = {
            (r.hashtag, r.bucket_start): r.post_count
            for r in connection.execute(select(HashtagPostCountByBucket.table()))
        }
        by_tag_lang_country = {
            (r.hashtag, r.language, r.country_code): r.post_count
            for r in connection.execute(select(HashtagLanguageCountryCount.table()))
        }
        by_user_tag = {
            (r.hashtag, r.source, r.user_id): r.post_count
            for r in connection.execute(select(UserHashtagCount.table()))
        }
        hashtag_totals = {
            r.name: r.post_count for r in connection.execute(select(Hashtag.table())) if r.post_count
        }
        # A source whose posts were all deleted keeps its row (posts fetched stays what it was).
        sources = {
            r.source: r.posts_stored
            for r in connection.execute(select(SourceCount.table()))
            if r.posts_stored
        }
    assert by_bucket == Counter(bucket_start(p.created_at) for p in posts)
    assert sum(by_bucket.values()) == len(posts)
    assert by_tag_bucket == Counter(
        (t, bucket_start(p.created_at)) for p in posts for t in tags.get((p.source, p.id), ())
    )
    assert by_tag_lang_country == Counter(
        (t, p.language, p.country_code) for p in posts for t in tags.get((p.source, p.id), ())
    )
    assert by_user_tag == Counter(
        (t, p.source, p.author_id) for p in posts for t in tags.get((p.source, p.id), ())
    )
    assert hashtag_totals == Counter(t for p in posts for t in tags.get((p.source, p.id), ()))
    assert {key: u.post_count for key, u in users.items() if u.post_count} == Counter(
        (p.source, p.author_id) for p in posts
    )
    assert sources == Counter(p.source for p in posts)


def test_a_post_found_twice_is_stored_and_counted_once(engine: Engine) -> None:
    pages = sample_pages()
    fetched, new = ingest_all(engine, pages)
    distinct = {(p.source, p.id) for page in pages for p in page.posts}
    assert fetched == sum(len(page.posts) for page in pages)
    assert new == len(distinct) < fetched  # the hashtags share posts
    assert_rollups_match_a_recount(engine)
    before = rollups(engine)

    fetched_again, new_again = ingest_all(engine, pages)
    assert (fetched_again, new_again) == (fetched, 0)
    assert rollups(engine) == before
    with engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(Post.table())).scalar_one() == len(
            distinct
        )
        source = connection.execute(select(SourceCount.table())).one()
    assert (source.posts_fetched, source.posts_stored) == (2 * fetched, new)


def test_a_page_with_a_repeated_post_counts_it_once(engine: Engine) -> None:
    post = sample_pages(("oauth",))[0].posts[0]
    author = sample_pages(("oauth",))[0].authors[0]
    with engine.begin() as connection:
        result = ingest_page(connection, Page(posts=[post, post], authors=[author]))
    assert (result.fetched, result.new, result.duplicate) == (2, 1, 1)
    assert_rollups_match_a_recount(engine)


def test_country_from_place_else_profile_and_latest_followers(engine: Engine) -> None:
    at = ANCHOR - timedelta(hours=3)
    mx = Author("x", "1", "ana", "Ana", 10, "Puebla, México")
    earth = Author("x", "2", "bo", "Bo", 20, "Earth")
    posts = [
        CollectedPost("x", "100", "1", "hola #devops", "es", at, ("devops",)),
        CollectedPost("x", "101", "2", "hi #devops", "en", at, ("devops",), place_country_code="gb"),
        CollectedPost("x", "102", "2", "again #devops", "en", at, ("devops",)),
        CollectedPost("x", "103", "3", "no author in the page", "en", at, ("devops",)),
        # The same id on another platform is another post.
        CollectedPost("mastodon", "100", "1", "toot #devops", "en", at, ("devops",)),
    ]
    with engine.begin() as connection:
        assert ingest_page(connection, Page(posts=posts, authors=[mx, earth])).new == 5
    with engine.begin() as connection:
        ingest_page(connection, Page(posts=posts[:1], authors=[Author("x", "1", "ana", "Ana", 99, "Earth")]))
    with engine.connect() as connection:
        countries = {r.id + "@" + r.source: r.country_code for r in connection.execute(select(Post.table()))}
        users = {r.id: r for r in connection.execute(select(User.table()).where(User.source == "x"))}
    assert countries == {
        "100@x": "MX",
        "101@x": "GB",
        "102@x": "unknown",
        "103@x": "unknown",
        "100@mastodon": "unknown",
    }
    assert (users["1"].followers_count, users["1"].location, users["1"].country_code) == (
        99,
        "Earth",
        "unknown",
    )
    assert users["3"].username == ""  # kept the post, with a bare author row
    assert_rollups_match_a_recount(engine)


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_concurrent_writers_never_double_count(engine: Engine) -> None:
    pages = sample_pages(("devops", "sre", "metrics", "oauth"))
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def writer(order: list[Page]) -> None:
        try:
            barrier.wait()
            ingest_all(engine, order)
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    orders = [pages, list(reversed(pages)), pages[1:] + pages[:1], pages[::2] + pages[1::2]]
    threads = [threading.Thread(target=writer, args=(order,)) for order in orders]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    distinct = {(p.source, p.id) for page in pages for p in page.posts}
    with engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(Post.table())).scalar_one() == len(
            distinct
        )
    assert_rollups_match_a_recount(engine)
