"""Runs never stay RUNNING with nobody working on them.

- A lease whose database session is terminated (as a PostgreSQL restart does) never raises:
  it reports its locks lost, and those locks are free for others at once.
- A run whose lock session breaks between two hashtags pauses (still RUNNING, unlocked) and a
  resumed execution finishes it with the same figures as a run that was never interrupted.
- A run resumed `max_resumes` times is given up: FAILED with the reason on every hashtag.
- The executor's supervisor finds an orphaned run and resumes it without any new request, and
  the invalidation after it is retried until delivered.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator

from sqlalchemy import Engine, create_engine, func, select, text, update

from tagpulse.db.models import CollectionRun, Post
from tagpulse_collector import locks
from tagpulse_collector.catalog import SourceCatalog
from tagpulse_collector.query_client import Invalidations
from tagpulse_collector.runs.execute import execute_run
from tagpulse_collector.runs.executor import RunExecutor, SupervisionPolicy
from tagpulse_collector.runs.plan import plan_collection
from tagpulse_collector.runs.store import get_run, interrupted_runs, start_run
from tagpulse_collector.sources.base import BeforePage, Page, no_budget
from tagpulse_collector.sources.sample import SampleSource
from tests.integration.test_collection import ANCHOR
from tests.unit.test_invalidations import QueryServiceDownFor, until_delivered

HASHTAGS = ["devops", "sre", "metrics"]
CATALOG = SourceCatalog()


def new_run(engine: Engine, max_posts: int = 300) -> int:
    return start_run(engine, plan_collection(HASHTAGS, max_posts, "sample", [], CATALOG), [])


def terminate_other_sessions(engine: Engine) -> int:
    """What a PostgreSQL restart does to every connection of this database but one."""
    with engine.connect() as connection:
        ended = connection.execute(
            text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        ).scalar_one()
        connection.commit()
    return int(ended)


def test_a_lease_whose_session_is_terminated_never_raises(postgres_url: str) -> None:
    engine = create_engine(postgres_url, pool_pre_ping=True)
    admin = create_engine(postgres_url)
    lease = locks.lease(engine)
    run_lock, hashtag_lock = locks.run_key(1), locks.hashtag_key("x", "devops")
    assert lease.try_lock(run_lock)
    assert lease.try_lock(hashtag_lock)
    assert lease.alive()
    assert not locks.is_free(engine, run_lock)

    assert terminate_other_sessions(admin) >= 1

    lease.unlock(hashtag_lock)  # used to raise, and the run was left RUNNING for ever
    assert not lease.alive()
    assert not lease.try_lock(locks.run_key(2))  # spent: the caller takes a new lease
    lease.close()
    assert locks.is_free(engine, run_lock)  # the session ended, so did its locks
    engine.dispose()
    admin.dispose()


class BreaksTheLockSession:
    """A sample source that terminates the other database sessions after the first hashtag's
    first page, once: the run's lock connection breaks, the pool reconnects."""

    name = "sample"

    def __init__(self, admin: Engine) -> None:
        self.admin = admin
        self.inner = SampleSource(anchor=ANCHOR)
        self.broke = False

    def search(
        self,
        hashtag: str,
        max_posts: int,
        cursor: str | None = None,
        since_id: str | None = None,
        before_page: BeforePage = no_budget,
    ) -> Iterator[Page]:
        for number, page in enumerate(self.inner.search(hashtag, max_posts, cursor, since_id)):
            if number == 1 and not self.broke:
                self.broke = True
                terminate_other_sessions(self.admin)
            yield page


def figures(engine: Engine, run_id: int) -> tuple[object, ...]:
    record = get_run(engine, run_id)
    assert record is not None
    per_hashtag = tuple((f.hashtag, f.state, f.posts_fetched, f.posts_new) for f in record.hashtag_figures)
    return record.state, record.posts_fetched, record.posts_new, per_hashtag


def stored_posts(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(Post.table())).scalar_one())


def test_a_run_that_loses_its_lock_session_pauses_and_resumes_exactly(
    make_postgres_database: Callable[[], str],
) -> None:
    uninterrupted = create_engine(make_postgres_database(), pool_pre_ping=True)
    expected_run = new_run(uninterrupted)
    execute_run(uninterrupted, expected_run, lambda _name: SampleSource(anchor=ANCHOR))  # type: ignore[arg-type,return-value]

    url = make_postgres_database()
    engine, admin = create_engine(url, pool_pre_ping=True), create_engine(url)
    run_id = new_run(engine)
    source = BreaksTheLockSession(admin)
    paused = execute_run(engine, run_id, lambda _name: source)  # type: ignore[arg-type,return-value]

    assert source.broke
    assert paused is None
    record = get_run(engine, run_id)
    assert record is not None
    assert record.state == "RUNNING"
    assert [f.state for f in record.hashtag_figures] == ["SUCCEEDED", "PENDING", "PENDING"]
    assert interrupted_runs(engine) == [run_id]  # nobody holds it: the supervisor may take it

    done = execute_run(engine, run_id, lambda _name: source, resumed=True)  # type: ignore[arg-type,return-value]
    assert done is not None
    assert done.resume_count == 1
    assert figures(engine, run_id) == figures(uninterrupted, expected_run)
    assert stored_posts(engine) == stored_posts(uninterrupted) == done.posts_new
    for each in (engine, admin, uninterrupted):
        each.dispose()


def test_a_run_resumed_too_often_is_given_up(postgres_url: str) -> None:
    engine = create_engine(postgres_url)
    run_id = new_run(engine)
    with engine.begin() as connection:
        connection.execute(update(CollectionRun.table()).values(resume_count=3))

    given_up = execute_run(
        engine, run_id, lambda _name: SampleSource(anchor=ANCHOR), resumed=True, max_resumes=3
    )  # type: ignore[arg-type,return-value]

    assert given_up is not None
    assert given_up.state == "FAILED"
    assert given_up.error_message.startswith("given up after 3 resumes")
    assert {f.state for f in given_up.hashtag_figures} == {"FAILED"}
    assert all(f.error_message.startswith("not collected: given up") for f in given_up.hashtag_figures)
    assert stored_posts(engine) == 0
    engine.dispose()


def test_the_supervisor_resumes_an_orphaned_run_and_the_invalidation_is_retried(postgres_url: str) -> None:
    engine = create_engine(postgres_url)
    orphan = new_run(engine, max_posts=50)  # RUNNING, and no collector executes it

    async def supervise() -> QueryServiceDownFor:
        client = QueryServiceDownFor(failures=2)
        invalidations = Invalidations(client, asyncio.get_running_loop(), retry_initial_seconds=0.01)
        executor = RunExecutor(
            engine, CATALOG, [], invalidations, SupervisionPolicy(every_seconds=0.1, max_resumes=10)
        )
        executor.supervise()
        for _ in range(600):
            record = await asyncio.to_thread(get_run, engine, orphan)
            if record is not None and record.state != "RUNNING":
                break
            await asyncio.sleep(0.05)
        await until_delivered(invalidations)
        await executor.shutdown()
        await invalidations.close()
        return client

    client = asyncio.run(supervise())
    record = get_run(engine, orphan)
    assert record is not None
    assert (record.state, record.resume_count) == ("SUCCEEDED", 1)
    assert record.posts_new == stored_posts(engine) > 0
    assert client.delivered == [f"collection {orphan} stored {record.posts_new} new posts"]
    assert len(client.attempts) == 3
    engine.dispose()
