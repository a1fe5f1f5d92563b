"""Planner statistics after bulk writes: an import analyzes what it wrote, a collection page or a
stream batch analyzes the tables it grew past autovacuum's threshold (autovacuum is off on the
test server, so nobody else does)."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import Engine, text

from tagpulse_collector.archive.importer import import_archives
from tagpulse_collector.ingestion.batches import in_transaction, ingest_page
from tagpulse_collector.ingestion.statistics import INGESTION_TABLES, analyze_grown
from tests.integration.test_archive_import import ARCHIVES
from tests.support.fake_x import FIXTURES
from tests.support.random_posts import random_data

pytestmark = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


def analyzed(engine: Engine) -> dict[str, int]:
    """Rows the planner believes each ingestion table holds (-1: never analyzed)."""
    with engine.connect() as connection:
        rows = connection.execute(
            text("SELECT relname, reltuples FROM pg_class WHERE relname = ANY(:names) AND relkind = 'r'"),
            {"names": list(INGESTION_TABLES)},
        )
        return {name: int(tuples) for name, tuples in rows}


def counted(engine: Engine, table: str) -> int:
    with engine.connect() as connection:
        return int(connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())  # noqa: S608


def test_an_import_leaves_statistics_of_everything_it_wrote(engine: Engine) -> None:
    assert set(analyzed(engine).values()) == {-1}
    import_archives(engine, [FIXTURES / name for name in ARCHIVES])
    believed = analyzed(engine)
    written = ("posts", "post_hashtags", "users", "user_hashtag_counts", "hashtag_language_country_counts")
    for table in written:
        assert believed[table] == counted(engine, table) > 0, table


def test_only_tables_grown_past_the_threshold_are_analyzed(engine: Engine) -> None:
    page = random_data(seed=7, posts=400, page_size=400).pages[0]
    in_transaction(engine, lambda connection: ingest_page(connection, page))
    # The server's statistics counters reach the shared view within a second or so.
    grown = _until_grown(engine)
    assert {"posts", "post_hashtags", "users"} <= set(grown)
    assert analyzed(engine)["posts"] == counted(engine, "posts")
    assert analyze_grown(engine) == ()  # nothing changed since


def _until_grown(engine: Engine) -> tuple[str, ...]:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        grown = analyze_grown(engine)
        if grown:
            return grown
        time.sleep(0.2)
    return ()
