"""X's hourly counts refreshed by the runs that collect a hashtag (`tagpulse_collector/counts.py`),
against the fake X API serving the recorded counts: stored exactly, at most every N minutes, and a
failure never costs the hashtag its posts (but spent credits stop the run)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, select, update

from tagpulse.db.models import Post, XHourlyPostCount, XPostCountFetch
from tests.integration.test_x_collection import run_x
from tests.support.fake_http import Fault
from tests.support.fake_x import COUNTS_PATH, FakeXApi, bucket_instant, credits_depleted, load_counts

REFRESH = {"counts_refresh_minutes": 60}


def is_counts(request: object) -> bool:
    return getattr(request, "path", None) == COUNTS_PATH


def recorded_buckets() -> list[tuple[datetime, datetime, int]]:
    """The twarc-csv recording, served as #brexit's counts."""
    data = load_counts("counts.jsonl")["data"]
    return [(bucket_instant(d["start"]), bucket_instant(d["end"]), d["tweet_count"]) for d in data]


def stored_counts(
    engine: Engine, hashtag: str
) -> tuple[str | None, datetime | None, list[tuple[datetime, datetime, int]]]:
    fetches, buckets = XPostCountFetch.table(), XHourlyPostCount.table()
    with engine.connect() as connection:
        fetch = connection.execute(select(fetches).where(fetches.c.hashtag == hashtag)).first()
        rows = connection.execute(
            select(buckets.c.bucket_start, buckets.c.bucket_end, buckets.c.post_count)
            .where(buckets.c.hashtag == hashtag)
            .order_by(buckets.c.bucket_start)
        ).all()
    return (fetch.query if fetch else None, fetch.fetched_at if fetch else None, [tuple(r) for r in rows])


def test_a_run_from_x_stores_the_recorded_counts_with_the_time_they_were_fetched(
    engine: Engine, fake_x: FakeXApi
) -> None:
    before = datetime.now(UTC)
    record = run_x(engine, fake_x, ["brexit", "blacklivesmatter"], **REFRESH)
    assert record.state == "SUCCEEDED", record
    query, fetched_at, buckets = stored_counts(engine, "brexit")
    assert query == "#brexit -is:retweet"
    assert fetched_at is not None
    assert before <= fetched_at <= datetime.now(UTC)
    assert buckets == recorded_buckets()
    assert sum(count for _, _, count in buckets) == 771665
    # A hashtag X counts nothing for is counted all the same: a fetch with no buckets.
    assert stored_counts(engine, "blacklivesmatter")[:1] == ("#blacklivesmatter -is:retweet",)
    assert stored_counts(engine, "blacklivesmatter")[2] == []
    assert [r.query["query"] for r in fake_x.counts_requests()] == [
        "#brexit -is:retweet",
        "#blacklivesmatter -is:retweet",
    ]
    # The counts request comes before the hashtag's first search page.
    paths = [r.path for r in fake_x.requests]
    assert paths.index(COUNTS_PATH) < paths.index("/2/tweets/search/recent")
    assert {f.hashtag: f.errors for f in record.hashtag_figures} == {"brexit": 0, "blacklivesmatter": 4}


def test_counts_are_fetched_at_most_every_n_minutes(engine: Engine, fake_x: FakeXApi) -> None:
    run_x(engine, fake_x, ["brexit"], **REFRESH)
    _, first_fetch, _ = stored_counts(engine, "brexit")
    assert len(fake_x.counts_requests()) == 1
    # Within the 60 minutes: no counts request, the stored counts stay as they are.
    again = run_x(engine, fake_x, ["brexit"], **REFRESH)
    assert again.state == "SUCCEEDED"
    assert len(fake_x.counts_requests()) == 1
    assert stored_counts(engine, "brexit")[1] == first_fetch
    # Once they are older than that, the next run fetches them again and replaces them.
    fetches = XPostCountFetch.table()
    with engine.begin() as connection:
        connection.execute(update(fetches).values(fetched_at=datetime.now(UTC) - timedelta(minutes=61)))
    run_x(engine, fake_x, ["brexit"], **REFRESH)
    assert len(fake_x.counts_requests()) == 2
    _, refetched, buckets = stored_counts(engine, "brexit")
    assert refetched is not None
    assert first_fetch is not None
    assert refetched > first_fetch
    assert buckets == recorded_buckets()
    # 0 minutes: never.
    run_x(engine, fake_x, ["kpop"], counts_refresh_minutes=0)
    assert fake_x.counts_requests("kpop") == []


def test_failing_counts_never_cost_the_hashtag_its_posts(engine: Engine, fake_x: FakeXApi) -> None:
    fake_x.add_fault(Fault(match=is_counts, status=503, body=b'{"title": "Service Unavailable"}', times=None))
    record = run_x(engine, fake_x, ["brexit"], **REFRESH)
    assert record.state == "SUCCEEDED", record
    [figures] = record.hashtag_figures
    # Three failed attempts (the FAST policy) and the final error.
    assert figures.errors == 4
    assert figures.posts_new > 0
    assert stored_counts(engine, "brexit") == (None, None, [])


def test_spent_credits_on_the_counts_stop_the_run_before_any_search(engine: Engine, fake_x: FakeXApi) -> None:
    fake_x.add_fault(credits_depleted(match=is_counts, times=None))
    record = run_x(engine, fake_x, ["brexit", "kpop"], **REFRESH)
    assert record.state == "FAILED"
    assert "credits depleted" in record.error_message
    assert fake_x.search_requests() == []
    assert len(fake_x.counts_requests()) == 1  # never retried, and kpop is not tried
    with engine.connect() as connection:
        assert connection.execute(select(Post.id)).first() is None
