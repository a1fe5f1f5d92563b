"""The one deletion path: after any mix of collections and deletions (by id, by author, by age, by
X compliance results), every rollup equals a recount from the posts that remain; a deletion racing
a collection of the same posts never leaves a negative or double count."""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from functools import partial

import pytest
from sqlalchemy import Engine, func, select

from tagpulse.db.engine import create_database_engine
from tagpulse.db.models import (
    HashtagLanguageCountryCount,
    HashtagPostCountByBucket,
    Post,
    PostCountByBucket,
    UserHashtagCount,
)
from tagpulse.errors import InvalidArgument
from tagpulse_collector.deletion.posts import delete_posts
from tagpulse_collector.deletion.request import execute_deletion, plan_deletion
from tagpulse_collector.deletion.retention import delete_expired
from tagpulse_collector.deletion.x_compliance import IDLE, ComplianceJobs, CompliancePolicy, run_compliance
from tagpulse_collector.ingestion.batches import in_transaction, ingest_page
from tagpulse_collector.metrics import POSTS_DELETED
from tagpulse_collector.sources.base import Page
from tagpulse_collector.sources.sample import SampleSource
from tagpulse_collector.sources.x_api import XAccess
from tests.conftest import FAKE_X_TOKEN
from tests.integration.brute_force import stored
from tests.integration.test_ingest import ANCHOR, assert_rollups_match_a_recount
from tests.support.fake_x import FakeXApi
from tests.support.fake_x_compliance import result_line
from tests.support.policies import FAST

HASHTAGS = ("devops", "sre", "observability", "microservices", "metrics")


def aware(instant: datetime) -> datetime:
    return instant if instant.tzinfo is not None else instant.replace(tzinfo=UTC)


def pages_of(seed: int, hashtag: str, posts: int = 150) -> list[Page]:
    return list(SampleSource(seed=seed, anchor=ANCHOR).search(hashtag, posts))


def as_x(pages: list[Page]) -> list[Page]:
    """Sample pages as if X had answered them (compliance jobs are for X's posts)."""
    return [
        replace(
            page,
            posts=[replace(post, source="x") for post in page.posts],
            authors=[replace(author, source="x") for author in page.authors],
        )
        for page in pages
    ]


def ingest(engine: Engine, pages: list[Page]) -> None:
    for page in pages:
        in_transaction(engine, partial(ingest_page, page=page))


def post_keys(engine: Engine) -> list[tuple[str, str]]:
    with engine.connect() as connection:
        return sorted((row.source, row.id) for row in connection.execute(select(Post.source, Post.id)))


def assert_exact(engine: Engine) -> None:
    """Every rollup equals a recount, and no author is left without a post."""
    assert_rollups_match_a_recount(engine)
    posts, _tags, users = stored(engine)
    assert set(users) == {(p.source, p.author_id) for p in posts}
    with engine.connect() as connection:
        for model in (
            PostCountByBucket,
            HashtagPostCountByBucket,
            HashtagLanguageCountryCount,
            UserHashtagCount,
        ):
            emptied = select(func.count()).select_from(model.table()).where(model.post_count <= 0)
            assert connection.execute(emptied).scalar_one() == 0, model.__tablename__


def test_random_collections_and_deletions_keep_every_rollup_exact(engine: Engine, fake_x: FakeXApi) -> None:
    rng = random.Random(16)
    ingest(engine, pages_of(1, "devops") + pages_of(1, "sre") + as_x(pages_of(4, "metrics", 120)))
    assert_exact(engine)
    access = XAccess(FAKE_X_TOKEN, base_url=fake_x.base_url, policy=FAST)
    jobs = ComplianceJobs(engine, access.client(), access.storage_client(), CompliancePolicy(ids_per_job=50))
    steps: list[str] = []
    for _ in range(14):
        kind = rng.choice(["ids", "author", "age", "compliance", "collect", "collect"])
        keys = post_keys(engine)
        if kind == "ids" and keys:
            chosen = rng.sample(keys, k=min(len(keys), rng.randint(1, 40)))
            with engine.begin() as connection:
                removed = delete_posts(connection, [*chosen, ("x", "never-stored")])
            assert removed.posts == len(chosen)
        elif kind == "author" and keys:
            with engine.connect() as connection:
                source, author = connection.execute(
                    select(Post.source, Post.author_id)
                    .order_by(Post.id)
                    .offset(rng.randrange(len(keys)))
                    .limit(1)
                ).one()
                theirs = connection.execute(
                    select(func.count()).where(Post.source == source, Post.author_id == author)
                ).scalar_one()
            removed = execute_deletion(engine, plan_deletion(source, [], author, ["sample", "x"]))
            assert removed.posts == theirs
            assert removed.users == 1
        elif kind == "age":
            cutoff_hours = rng.randint(1, 48)
            now = ANCHOR + timedelta(hours=cutoff_hours)
            with engine.connect() as connection:
                older = connection.execute(
                    select(func.count()).where(Post.created_at < now - timedelta(days=1))
                ).scalar_one()
            removed = delete_expired(engine, {"sample": 1, "x": 1}, batch_posts=17, now=now)
            assert removed.posts == older
        elif kind == "compliance":
            fake_x.compliance.results = random_compliance_results(engine, rng)
            assert run_compliance(engine, jobs, start_now=True) == {"tweets": IDLE, "users": IDLE}
            tweets = fake_x.compliance.results["tweets"]
            reported_gone = {i for i, result in tweets.items() if result["reason"] != "scrub_geo"}
            assert not reported_gone & {post_id for source, post_id in post_keys(engine) if source == "x"}
        else:
            pages = pages_of(rng.randint(1, 3), rng.choice(HASHTAGS), rng.randint(20, 150))
            ingest(engine, as_x(pages) if rng.random() < 0.5 else pages)
        steps.append(kind)
        assert_exact(engine)
    jobs.close()
    assert {"collect", "compliance"} < set(steps)


def random_compliance_results(engine: Engine, rng: random.Random) -> dict[str, dict[str, dict[str, str]]]:
    """What X answers about a fifth of the stored X posts and a tenth of their authors."""
    with engine.connect() as connection:
        rows = connection.execute(select(Post.id, Post.author_id).where(Post.source == "x")).all()
    post_ids, authors = sorted(row.id for row in rows), sorted({row.author_id for row in rows})
    reasons = ["deleted", "protected", "suspended", "deactivated", "scrub_geo", "scrub_geo"]
    return {
        "tweets": {
            i: result_line(i, rng.choice(reasons)) for i in rng.sample(post_ids, k=len(post_ids) // 5)
        },
        "users": {a: result_line(a, rng.choice(reasons)) for a in rng.sample(authors, k=len(authors) // 10)},
    }


def at_once(*works: Callable[[], object]) -> None:
    """Run the works in threads released together; re-raise the first failure."""
    start = threading.Barrier(len(works))
    errors: list[BaseException] = []

    def run(work: Callable[[], object]) -> None:
        try:
            start.wait(5)
            work()
        except BaseException as error:  # noqa: BLE001 - re-raised below
            errors.append(error)

    threads = [threading.Thread(target=run, args=(work,)) for work in works]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    if errors:
        raise errors[0]


def test_a_deletion_racing_a_collection_of_the_same_posts_counts_them_once(postgres_url: str) -> None:
    """Many times over: a collection stores pages whose posts a deletion removes at the same
    moment. Whichever wins each row, the rollups equal a recount afterwards."""
    engine = create_database_engine(postgres_url)
    try:
        pages = pages_of(7, "devops", 100)
        ingest(engine, pages)
        keys = post_keys(engine)
        for attempt in range(15):
            half = keys[attempt % 2 :: 2]
            at_once(
                partial(ingest, engine, pages),
                partial(in_transaction, engine, partial(delete_posts, keys=half)),
            )
            assert_exact(engine)
    finally:
        engine.dispose()


def test_retention_deletes_what_is_older_in_batches_and_keeps_other_sources(engine: Engine) -> None:
    ingest(engine, pages_of(2, "devops") + pages_of(2, "sre"))
    with engine.connect() as connection:
        created = sorted(aware(c) for c in connection.execute(select(Post.created_at)).scalars())
    # A day's retention, looked at one day after the middle post's time.
    cutoff = created[len(created) // 2]
    now = cutoff + timedelta(days=1)
    older = sum(1 for c in created if c < cutoff)
    assert 0 < older < len(created)
    before = POSTS_DELETED.labels(source="sample", reason="retention")._value.get()
    assert delete_expired(engine, {"x": 1}, now=now).posts == 0  # no X posts: nothing
    removed = delete_expired(engine, {"sample": 1}, batch_posts=25, now=now)
    assert removed.posts == older
    assert POSTS_DELETED.labels(source="sample", reason="retention")._value.get() == before + older
    with engine.connect() as connection:
        left = list(connection.execute(select(Post.created_at)).scalars())
    assert len(left) == len(created) - older
    assert all(aware(c) >= cutoff for c in left)
    assert_exact(engine)


def test_a_deletion_request_is_checked_field_by_field() -> None:
    with pytest.raises(InvalidArgument) as caught:
        plan_deletion("twitter", ["1", ""], "someone", ["x", "sample"])
    assert set(caught.value.violations) == {"source", "post_ids", "post_ids[1]"}
    with pytest.raises(InvalidArgument) as caught:
        plan_deletion("x", [], "", ["x"])
    assert set(caught.value.violations) == {"post_ids"}
    assert plan_deletion(" X ", ["1", "1", "2"], "", ["x"]).post_ids == ("1", "2")
