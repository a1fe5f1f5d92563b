"""The benchmark's bulk loader writes exactly the rows and rollups ingestion writes."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Engine, select

from bench.dataset import bulk_load, generate
from tagpulse.db.engine import create_database_engine
from tagpulse.db.models import (
    Hashtag,
    HashtagLanguageCountryCount,
    HashtagPostCountByBucket,
    Post,
    PostCountByBucket,
    PostHashtag,
    SourceCount,
    User,
    UserHashtagCount,
)
from tagpulse_collector.ingestion.batches import ingest_page

IGNORED = {"updated_at", "collected_at", "tracked", "last_collected_at", "posts_fetched"}


def tables(engine: Engine) -> dict[str, set[tuple[object, ...]]]:
    found = {}
    with engine.connect() as connection:
        for model in (
            User, Post, PostHashtag, PostCountByBucket, HashtagPostCountByBucket,
            HashtagLanguageCountryCount, UserHashtagCount, Hashtag, SourceCount,
        ):  # fmt: skip
            table = model.table()
            columns = [c for c in table.c if c.name not in IGNORED]
            found[table.name] = set(map(tuple, connection.execute(select(*columns)).all()))
    return found


def test_bulk_load_equals_ingestion(make_postgres_database: Callable[[], str]) -> None:
    data = generate(3000, seed=11)
    ingested_url, loaded_url = make_postgres_database(), make_postgres_database()
    ingested = create_database_engine(ingested_url)
    for page in data.pages():
        with ingested.begin() as connection:
            ingest_page(connection, page)
    bulk_load(loaded_url, data)
    loaded = create_database_engine(loaded_url)
    expected, got = tables(ingested), tables(loaded)
    assert len(expected["posts"]) == 3000
    assert len(expected["hashtags"]) == 10
    assert len({row[2] for row in expected["posts"]}) > 50  # authors
    for name in expected:
        assert got[name] == expected[name], name
    with loaded.connect() as connection:
        fetched = connection.execute(select(SourceCount.table().c.posts_fetched)).scalar_one()
        tracked = connection.execute(select(Hashtag.table()).where(Hashtag.table().c.tracked)).all()
    assert fetched == data.fetched > 3000
    assert len(tracked) == 10
    assert all(t.last_collected_at is not None for t in tracked)
    ingested.dispose()
    loaded.dispose()
