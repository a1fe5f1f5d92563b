"""The insights dashboard's SQL, run as Grafana would run it: variables and macros expanded
(tests/support/grafana_sql.py), as the read-only role `tagpulse_insights`, against known posts;
every panel's answer equals the query service's answer to the same question."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from psycopg.errors import InsufficientPrivilege, ReadOnlySqlTransaction
from sqlalchemy import Engine, text
from sqlalchemy.exc import InternalError as SqlInternalError
from sqlalchemy.exc import ProgrammingError

from tagpulse.db.engine import create_database_engine
from tagpulse.db.insights import INSIGHTS_ROLE
from tagpulse_query import listings, stats, summaries
from tagpulse_query.validation import (
    MAX_PAGE_SIZE,
    MAX_TOP_USERS,
    hashtag_count_query,
    hashtags_query,
    hour_count_query,
    top_users_query,
)
from tests.support.grafana_sql import ALL, TimeRange, expand
from tests.support.random_posts import WINDOW_START, random_data

DASHBOARD = Path(__file__).resolve().parents[2] / "charts" / "tagpulse" / "dashboards" / "insights.json"
TRACKED = ("devops", "sre", "भारत")
# Aligned on the rollups' 15-minute buckets (the dashboard counts whole buckets), and wide
# enough to cut the data on both sides and to cross New York's DST change.
RANGE = TimeRange(WINDOW_START + timedelta(hours=7, minutes=45), WINDOW_START + timedelta(days=3, hours=2))
ZONES = ("UTC", "Asia/Kathmandu", "America/New_York")
USER_COLUMNS = ("source", "id", "username", "display_name", "followers_count", "country_code", "post_count")


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    return dict(json.loads(DASHBOARD.read_text()))


@pytest.fixture
def stored(postgres_url: str) -> Iterator[Engine]:
    """Known posts in a fresh database: two sources, several languages and countries, a
    hashtag in Devanagari, duplicates; three hashtags tracked."""
    engine = create_database_engine(postgres_url)
    random_data(seed=1414, posts=1200).ingest(engine)
    with engine.begin() as connection:
        connection.execute(
            text("UPDATE hashtags SET tracked = true WHERE name = ANY(:names)"), {"names": list(TRACKED)}
        )
    yield engine
    engine.dispose()


def as_insights(engine: Engine, sql: str) -> list[tuple[Any, ...]]:
    """Rows of `sql` run as the insights role, as Grafana's connection would run it."""
    with engine.connect() as connection, connection.begin():
        connection.exec_driver_sql(f"SET LOCAL ROLE {INSIGHTS_ROLE}")
        return [tuple(row) for row in connection.exec_driver_sql(sql).all()]


def panel_sql(dashboard: Mapping[str, Any], title: str) -> str:
    (panel,) = [p for p in dashboard["panels"] if p["title"] == title]
    (target,) = panel["targets"]
    return str(target["rawSql"])


def variables(dashboard: Mapping[str, Any]) -> list[dict[str, Any]]:
    return list(dashboard["templating"]["list"])


def options(engine: Engine, dashboard: Mapping[str, Any]) -> dict[str, list[str]]:
    """What each query variable offers, from its own query run as the role."""
    found = {}
    for variable in variables(dashboard):
        if variable["type"] == "query":
            sql = expand(variable["query"], variables(dashboard), {}, {}, RANGE)
            found[variable["name"]] = [row[0] for row in as_insights(engine, sql)]
    return found


def run_panel(
    engine: Engine, dashboard: Mapping[str, Any], title: str, **selection: str | Sequence[str]
) -> list[tuple[Any, ...]]:
    chosen: dict[str, str | Sequence[str]] = {
        "hashtag": ALL,
        "language": [ALL],
        "source": [ALL],
        "timezone": "UTC",
        "limit": "10",
    }
    chosen.update(selection)
    sql = expand(panel_sql(dashboard, title), variables(dashboard), chosen, options(engine, dashboard), RANGE)
    return as_insights(engine, sql)


def rest_hours(engine: Engine, mode: str, zone: str, hashtag: str | None) -> list[summaries.HourRow]:
    query = hour_count_query(mode, zone, hashtag or "", RANGE.start, RANGE.end)
    with engine.connect() as connection:
        return summaries.count_posts_by_hour(connection, query)


def rest_counts(engine: Engine, hashtag: str | None) -> list[summaries.HashtagLanguageCountryRow]:
    with engine.connect() as connection:
        query = hashtag_count_query(hashtag or "", page_size=MAX_PAGE_SIZE)
        page = summaries.count_posts_by_hashtag(connection, query)
        assert page.last is None, "more rows than one page"
        return page.rows


# --- the variables ----------------------------------------------------------------------------


def test_the_variables_offer_what_the_api_lists(stored: Engine, dashboard: dict[str, Any]) -> None:
    offered = options(stored, dashboard)
    with stored.connect() as connection:
        hashtags = listings.list_hashtags(connection, hashtags_query(1000, "")).hashtags
        sources = stats.stats(connection).sources
    assert offered["hashtag"] == [h.name for h in hashtags] == sorted(TRACKED)
    assert offered["language"] == sorted({row.language for row in rest_counts(stored, None)})
    assert offered["source"] == [s.source for s in sources] == ["sample", "x"]
    assert {"UTC", "Asia/Kathmandu", "America/New_York", "Europe/Madrid"} <= set(offered["timezone"])
    assert not [name for name in offered["timezone"] if name.startswith(("posix/", "right/"))]
    (limit,) = [v for v in variables(dashboard) if v["name"] == "limit"]
    assert int(limit["current"]["value"]) <= MAX_TOP_USERS


# --- the panels ---------------------------------------------------------------------------------


@pytest.mark.parametrize("zone", ZONES)
@pytest.mark.parametrize("hashtag", [None, "sre", "भारत"])
def test_posts_per_hour_is_the_timeline(
    stored: Engine, dashboard: dict[str, Any], zone: str, hashtag: str | None
) -> None:
    rows = run_panel(stored, dashboard, "Posts per hour", hashtag=hashtag or ALL, timezone=zone)
    rest = rest_hours(stored, "TIMELINE", zone, hashtag)
    # Grafana draws the rows it gets; the timeline also lists the empty hours of the frame. In
    # UTC: aware datetimes of one zone compare by wall time, which would merge a repeated hour.
    assert dict(rows) == {
        r.local_start.astimezone(UTC): r.post_count
        for r in rest
        if r.post_count and r.local_start is not None
    }
    assert [time for time, _ in rows] == sorted(time for time, _ in rows)
    assert sum(posts for _, posts in rows) > 100


@pytest.mark.parametrize("zone", ZONES)
@pytest.mark.parametrize("hashtag", [None, "devops"])
def test_posts_by_hour_of_day_is_the_profile(
    stored: Engine, dashboard: dict[str, Any], zone: str, hashtag: str | None
) -> None:
    rows = run_panel(stored, dashboard, "Posts by hour of day", hashtag=hashtag or ALL, timezone=zone)
    rest = rest_hours(stored, "HOUR_OF_DAY", zone, hashtag)
    assert rows == [(r.hour_of_day, r.post_count) for r in rest]
    assert len(rows) == 24


def test_the_new_york_timeline_keeps_the_repeated_hour_apart(
    stored: Engine, dashboard: dict[str, Any]
) -> None:
    """1:00 happens twice on 2026-11-01 in New York: two bars, as the API answers."""
    rows = run_panel(stored, dashboard, "Posts per hour", timezone="America/New_York")
    one_am = {datetime(2026, 11, 1, 5, tzinfo=UTC), datetime(2026, 11, 1, 6, tzinfo=UTC)}  # EDT, EST
    assert one_am <= {time for time, _ in rows}


def top_user(row: Any) -> tuple[Any, ...]:
    return tuple(getattr(row, column) for column in USER_COLUMNS)


@pytest.mark.parametrize("hashtag", [None, "sre", "भारत"])
@pytest.mark.parametrize("limit", ["5", "20"])
def test_top_users_are_the_api_top_users(
    stored: Engine, dashboard: dict[str, Any], hashtag: str | None, limit: str
) -> None:
    rows = run_panel(stored, dashboard, "Top users by followers", hashtag=hashtag or ALL, limit=limit)
    with stored.connect() as connection:
        rest = summaries.top_users(connection, top_users_query(int(limit), hashtag or ""))
    # user, name, followers, posts, country, source, id
    got = [(r[5], r[6], r[0], r[1], r[2], r[4], r[3]) for r in rows]
    assert got == [top_user(u) for u in rest]
    assert len(got) == int(limit)


@pytest.mark.parametrize("hashtag", [None, "devops"])
def test_top_users_of_one_source_are_the_api_top_users_of_that_source(
    stored: Engine, dashboard: dict[str, Any], hashtag: str | None
) -> None:
    """The API has no source filter: its whole ranking, filtered, must give the same users."""
    rows = run_panel(
        stored, dashboard, "Top users by followers", hashtag=hashtag or ALL, source=["x"], limit="10"
    )
    with stored.connect() as connection:
        everyone = summaries.top_users(connection, top_users_query(MAX_TOP_USERS, hashtag or ""))
    assert len(everyone) < MAX_TOP_USERS, "the whole ranking fits in one answer"
    assert [(r[5], r[6]) for r in rows] == [(u.source, u.id) for u in everyone if u.source == "x"][:10]
    both = run_panel(
        stored, dashboard, "Top users by followers", hashtag=hashtag or ALL, source=["sample", "x"]
    )
    assert both == run_panel(stored, dashboard, "Top users by followers", hashtag=hashtag or ALL)


LANGUAGE_CHOICES: list[list[str]] = [[ALL], ["en"], ["en", "hi"]]


def counted(
    rows: list[summaries.HashtagLanguageCountryRow], languages: list[str], key: str, known_only: bool = False
) -> Counter[str]:
    totals: Counter[str] = Counter()
    for row in rows:
        if languages != [ALL] and row.language not in languages:
            continue
        if known_only and row.country_code == "unknown":
            continue
        totals[getattr(row, key)] += row.post_count
    return totals


@pytest.mark.parametrize("hashtag", [None, "sre"])
@pytest.mark.parametrize("languages", LANGUAGE_CHOICES, ids=["all", "en", "en+hi"])
def test_posts_per_language_and_country_are_the_api_counts(
    stored: Engine, dashboard: dict[str, Any], hashtag: str | None, languages: list[str]
) -> None:
    rest = rest_counts(stored, hashtag)
    choice = {"hashtag": hashtag or ALL, "language": languages}
    by_language = run_panel(stored, dashboard, "Posts per language", **choice)
    by_country = run_panel(stored, dashboard, "Posts per country", **choice)
    on_map = run_panel(stored, dashboard, "Posts per country (map)", **choice)
    assert dict(by_language) == counted(rest, languages, "language")
    assert dict(by_country) == counted(rest, languages, "country_code")
    assert dict(on_map) == counted(rest, languages, "country_code", known_only=True)
    # Geomap's lookup mode reads ISO 3166 alpha-2 codes.
    assert on_map
    assert all(len(code) == 2 and code.isupper() for code, _ in on_map)
    assert "unknown" in dict(by_country)
    for rows in (by_language, by_country, on_map):
        assert [posts for _, posts in rows] == sorted((posts for _, posts in rows), reverse=True)


TESTED_PANELS = {
    "Posts per hour",
    "Posts by hour of day",
    "Top users by followers",
    "Posts per language",
    "Posts per country (map)",
    "Posts per country",
}


def test_every_panel_is_tested_here(dashboard: dict[str, Any]) -> None:
    assert {panel["title"] for panel in dashboard["panels"]} == TESTED_PANELS


# --- the role -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT text FROM posts",
        "SELECT count(*) FROM posts",
        "SELECT * FROM post_hashtags",
        "SELECT * FROM collection_runs",
        "SELECT * FROM collection_run_hashtags",
        "SELECT * FROM streams",
        "SELECT * FROM stream_posts",
        "SELECT * FROM stream_dead_letters",
        "SELECT location FROM users",
        "SELECT * FROM users",
        "SELECT * FROM alembic_version",
    ],
)
def test_the_role_reads_nothing_else(stored: Engine, sql: str) -> None:
    with pytest.raises(ProgrammingError) as raised:
        as_insights(stored, sql)
    assert isinstance(raised.value.orig, InsufficientPrivilege), raised.value


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE hashtag_post_counts_by_bucket SET post_count = 0",
        "DELETE FROM users",
        "INSERT INTO hashtags (name, tracked, post_count) VALUES ('x', false, 0)",
        "CREATE TABLE public.mine (id int)",
    ],
)
def test_the_role_changes_nothing(stored: Engine, sql: str) -> None:
    with pytest.raises((ProgrammingError, SqlInternalError)) as raised:
        as_insights(stored, sql)
    assert isinstance(raised.value.orig, (InsufficientPrivilege, ReadOnlySqlTransaction)), raised.value
