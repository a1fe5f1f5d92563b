"""Collection runs record what they found, and a failing hashtag does not sink the others."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

from sqlalchemy import Engine, func, select

from tagpulse.db.models import Hashtag, Post
from tagpulse_collector.catalog import SourceCatalog
from tagpulse_collector.runs.execute import execute_run
from tagpulse_collector.runs.plan import plan_collection
from tagpulse_collector.runs.store import RunRecord, get_run, list_runs, start_run
from tagpulse_collector.sources.base import BeforePage, Page, no_budget
from tagpulse_collector.sources.sample import SampleSource

ANCHOR = datetime(2026, 11, 23, tzinfo=UTC)
TRACKED = ["devops", "sre", "metrics"]

SAMPLE_ONLY = SourceCatalog()


def run(engine: Engine, source: object, hashtags: list[str] | None = None, max_posts: int = 0) -> RunRecord:
    plan = plan_collection(hashtags or [], max_posts, "sample", TRACKED, SAMPLE_ONLY)
    run_id = start_run(engine, plan, TRACKED)
    record = execute_run(engine, run_id, lambda _name: source)  # type: ignore[arg-type,return-value]
    assert record is not None
    return record


def test_runs_record_fetched_new_and_duplicate(engine: Engine) -> None:
    first = run(engine, SampleSource(anchor=ANCHOR))
    assert first.state == "SUCCEEDED"
    assert first.hashtags == tuple(TRACKED)
    assert [f.hashtag for f in first.hashtag_figures] == TRACKED
    assert first.posts_fetched == sum(f.posts_fetched for f in first.hashtag_figures)
    assert first.posts_new == sum(f.posts_new for f in first.hashtag_figures)
    with engine.connect() as connection:
        stored = connection.execute(select(func.count()).select_from(Post.table())).scalar_one()
        tracked = set(connection.execute(select(Hashtag.name).where(Hashtag.tracked)).scalars())
        last_collected = connection.execute(
            select(func.min(Hashtag.last_collected_at)).where(Hashtag.tracked)
        ).scalar_one()
    assert first.posts_new == stored
    assert 0 < first.posts_duplicate < first.posts_fetched  # hashtags share posts
    assert tracked == set(TRACKED)
    assert last_collected is not None

    second = run(engine, SampleSource(anchor=ANCHOR))
    assert (second.posts_fetched, second.posts_new, second.posts_duplicate) == (
        first.posts_fetched,
        0,
        first.posts_fetched,
    )
    assert [r.id for r in list_runs(engine, limit=10)] == [second.id, first.id]
    assert get_run(engine, first.id) == first
    assert list_runs(engine, limit=10, before_id=second.id) == [first]


class BrokenForOneHashtag:
    """Fails after its first page for one hashtag, like a truncated response."""

    name = "sample"

    def __init__(self, broken: str) -> None:
        self.broken = broken
        self.inner = SampleSource(anchor=ANCHOR)

    def search(
        self,
        hashtag: str,
        max_posts: int,
        cursor: str | None = None,
        since_id: str | None = None,
        before_page: BeforePage = no_budget,
    ) -> Iterator[Page]:
        for number, page in enumerate(self.inner.search(hashtag, max_posts, cursor)):
            if hashtag == self.broken and number == 1:
                raise ValueError("truncated body")
            yield page


def test_a_failing_hashtag_keeps_its_stored_pages_and_the_others_go_on(engine: Engine) -> None:
    record = run(engine, BrokenForOneHashtag("sre"), max_posts=150)
    assert record.state == "PARTIALLY_SUCCEEDED"
    assert record.error_message == "1 of 3 hashtags failed"
    figures = {f.hashtag: f for f in record.hashtag_figures}
    assert figures["sre"].state == "FAILED"
    assert figures["sre"].error_message == "ValueError: truncated body"
    assert figures["sre"].posts_fetched == 100  # the first page was stored
    assert figures["devops"].state == figures["metrics"].state == "SUCCEEDED"
    assert figures["devops"].posts_fetched > 100


def test_every_hashtag_failing_fails_the_run(engine: Engine) -> None:
    class Down:
        name = "sample"

        def search(
            self,
            hashtag: str,
            max_posts: int,
            cursor: str | None = None,
            since_id: str | None = None,
            before_page: BeforePage = no_budget,
        ) -> Iterator[Page]:
            raise ConnectionError("source unreachable")

    record = run(engine, Down(), hashtags=["devops"])
    assert (record.state, record.posts_fetched, record.error_message) == ("FAILED", 0, "every hashtag failed")
