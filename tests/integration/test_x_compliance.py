"""X batch compliance jobs against the fake X API: every result kind is applied and the rollups
stay exact, a job X fails or lets expire is made again, and a collector that restarts in the
middle of a job goes on with it instead of making another."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import deque
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from functools import partial

import pytest
from sqlalchemy import Engine, insert, select

from tagpulse.db.models import Post, User, XComplianceJob
from tagpulse_collector.deletion.command import run_x_compliance
from tagpulse_collector.deletion.x_compliance import (
    IDLE,
    MAX_ATTEMPTS,
    WAIT,
    ComplianceJobs,
    CompliancePolicy,
    compliance_loop,
    job_name,
    newest_job,
    run_compliance,
)
from tagpulse_collector.ingestion.batches import in_transaction
from tagpulse_collector.metrics import X_COMPLIANCE_JOBS, X_COMPLIANCE_RESULTS
from tagpulse_collector.settings import CollectorSettings
from tagpulse_collector.sources.x_api import XAccess
from tests.conftest import FAKE_X_TOKEN
from tests.integration.test_deletion import as_x, assert_exact, ingest, pages_of
from tests.support.fake_x import FakeXApi
from tests.support.fake_x_compliance import result_line
from tests.support.policies import FAST
from tests.support.polling import wait_until_async

POLICY = CompliancePolicy(interval=timedelta(hours=24), ids_per_job=70, poll_seconds=0.01)


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def compliance_jobs(
    fake: FakeXApi, engine: Engine, clock: Clock, policy: CompliancePolicy = POLICY
) -> ComplianceJobs:
    access = XAccess(FAKE_X_TOKEN, base_url=fake.base_url, policy=FAST)
    return ComplianceJobs(engine, access.client(), access.storage_client(), policy, clock)


@pytest.fixture
def jobs(fake_x: FakeXApi, engine: Engine, clock: Clock) -> Iterator[ComplianceJobs]:
    made = compliance_jobs(fake_x, engine, clock)
    yield made
    made.close()


def x_posts(engine: Engine) -> dict[str, object]:
    with engine.connect() as connection:
        return {row.id: row for row in connection.execute(select(Post.table()).where(Post.source == "x"))}


def x_authors(engine: Engine) -> list[str]:
    with engine.connect() as connection:
        return sorted(set(connection.execute(select(Post.author_id).where(Post.source == "x")).scalars()))


def job_rows(engine: Engine) -> list[dict[str, object]]:
    with engine.connect() as connection:
        rows = connection.execute(select(XComplianceJob.table()).order_by(XComplianceJob.id))
        return [dict(row._mapping) for row in rows]


def run_pass(jobs: ComplianceJobs, start_now: bool = False) -> dict[str, str]:
    outcomes = run_compliance(jobs.engine, jobs, start_now)
    assert outcomes is not None
    return outcomes


def test_every_result_kind_is_applied_and_every_rollup_stays_exact(
    engine: Engine, fake_x: FakeXApi, jobs: ComplianceJobs, clock: Clock
) -> None:
    ingest(engine, as_x(pages_of(1, "devops", 150) + pages_of(2, "sre", 100)))
    ingest(engine, pages_of(3, "devops", 50))  # sample posts: never sent to X
    posts = x_posts(engine)
    ids = sorted(posts)
    placed = [i for i in ids if posts[i].place_country_code]  # type: ignore[attr-defined]
    unplaced = [i for i in ids if i not in placed]
    assert len(placed) >= 2
    assert len(unplaced) >= 4
    reported = {
        unplaced[0]: "deleted",
        unplaced[1]: "deactivated",
        unplaced[2]: "protected",
        unplaced[3]: "suspended",
        placed[0]: "scrub_geo",
    }
    fake_x.compliance.results["tweets"] = {i: result_line(i, reason) for i, reason in reported.items()}
    # Users: one deleted (all their posts go), one who scrubbed their geo (their posts lose places).
    by_author: dict[str, list[str]] = {}
    for post_id, post in posts.items():
        by_author.setdefault(post.author_id, []).append(post_id)  # type: ignore[attr-defined]
    untouched = [a for a, theirs in by_author.items() if not set(theirs) & set(reported)]
    gone_author = untouched[0]
    geo_author = next(
        a
        for a in untouched[1:]
        if any(posts[i].place_country_code for i in by_author[a])  # type: ignore[attr-defined]
    )
    fake_x.compliance.results["users"] = {
        gone_author: result_line(gone_author, "suspended"),
        geo_author: result_line(geo_author, "scrub_geo"),
    }
    # The users' job comes after the tweets' job: the authors it sends are those left by it.
    tweets_deleted = {i for i, reason in reported.items() if reason != "scrub_geo"}
    authors = sorted({posts[i].author_id for i in ids if i not in tweets_deleted})  # type: ignore[attr-defined]
    before = {
        (k, r): X_COMPLIANCE_RESULTS.labels(job_type=k, reason=r)._value.get()
        for k in ("tweets", "users")
        for r in ("deleted", "suspended", "scrub_geo")
    }

    assert run_pass(jobs) == {"tweets": IDLE, "users": IDLE}

    # Every stored X id went to X once, in jobs of at most ids_per_job ids; no bearer token to storage.
    tweet_uploads = fake_x.compliance.uploads("tweets")
    assert sorted(i for upload in tweet_uploads for i in upload) == ids
    assert max(len(u) for u in tweet_uploads) <= POLICY.ids_per_job
    assert len(tweet_uploads) > 1
    assert sorted(i for upload in fake_x.compliance.uploads("users") for i in upload) == authors
    assert fake_x.compliance.tokens_sent_to_storage == 0
    assert {r["state"] for r in job_rows(engine)} == {"done"}

    remaining = x_posts(engine)
    deleted = tweets_deleted | set(by_author[gone_author])
    assert set(remaining) == set(ids) - deleted
    with engine.connect() as connection:
        rows = connection.execute(select(User.id, User.country_code).where(User.source == "x"))
        profile = {row.id: row.country_code for row in rows}
    for post_id in [placed[0], *by_author[geo_author]]:
        post = remaining[post_id]
        assert post.place_country_code is None  # type: ignore[attr-defined]
        assert post.country_code == profile.get(post.author_id, "unknown")  # type: ignore[attr-defined]
    assert gone_author not in profile
    assert_exact(engine)
    assert (
        X_COMPLIANCE_RESULTS.labels(job_type="tweets", reason="deleted")._value.get()
        == before[("tweets", "deleted")] + 1
    )
    assert (
        X_COMPLIANCE_RESULTS.labels(job_type="users", reason="scrub_geo")._value.get()
        == before[("users", "scrub_geo")] + 1
    )
    assert jobs.take_changes()[0] >= len(deleted)

    # Nothing due until a day after the pass began; then a new pass sends what is stored now.
    jobs_made = len(fake_x.compliance.jobs)
    assert run_pass(jobs) == {"tweets": IDLE, "users": IDLE}
    assert len(fake_x.compliance.jobs) == jobs_made
    clock.now += timedelta(hours=25)
    assert run_pass(jobs) == {"tweets": IDLE, "users": IDLE}
    assert sorted(
        i for upload in fake_x.compliance.uploads("tweets")[len(tweet_uploads) :] for i in upload
    ) == sorted(remaining)


def test_a_job_that_fails_or_expires_is_made_again_for_the_same_ids(
    engine: Engine, fake_x: FakeXApi, jobs: ComplianceJobs
) -> None:
    ingest(engine, as_x(pages_of(1, "devops", 40)))
    ids = sorted(x_posts(engine))
    fake_x.compliance.results["tweets"] = {ids[0]: result_line(ids[0], "deleted")}
    fake_x.compliance.outcomes = deque(["failed", "expired"])
    failed_before = X_COMPLIANCE_JOBS.labels(job_type="tweets", outcome="failed")._value.get()

    assert run_pass(jobs) == {"tweets": IDLE, "users": IDLE}

    tweets = [r for r in job_rows(engine) if r["job_type"] == "tweets"]
    assert [(r["state"], r["attempt"], r["after_id"]) for r in tweets] == [
        ("failed", 1, ""),
        ("expired", 2, ""),
        ("done", 3, ""),
    ]
    assert "failed" in str(tweets[0]["error_message"])
    assert fake_x.compliance.uploads("tweets") == [ids, ids, ids]
    assert ids[0] not in x_posts(engine)
    assert X_COMPLIANCE_JOBS.labels(job_type="tweets", outcome="failed")._value.get() == failed_before + 1
    assert_exact(engine)


def test_a_range_that_keeps_failing_ends_the_pass_until_the_next_one(
    engine: Engine, fake_x: FakeXApi, jobs: ComplianceJobs, clock: Clock
) -> None:
    ingest(engine, as_x(pages_of(1, "devops", 20)))
    fake_x.compliance.outcomes = deque(["failed"] * (MAX_ATTEMPTS + 1))
    assert run_pass(jobs)["tweets"] == IDLE
    tweets = [r for r in job_rows(engine) if r["job_type"] == "tweets"]
    assert [r["state"] for r in tweets] == ["failed"] * MAX_ATTEMPTS
    assert run_pass(jobs)["tweets"] == IDLE
    assert len([r for r in job_rows(engine) if r["job_type"] == "tweets"]) == MAX_ATTEMPTS
    clock.now += timedelta(hours=25)
    run_pass(jobs)
    assert [r["state"] for r in job_rows(engine) if r["job_type"] == "tweets"][-1] == "done"


def test_a_restart_while_x_processes_the_job_goes_on_with_the_same_job(
    engine: Engine, fake_x: FakeXApi, jobs: ComplianceJobs, clock: Clock
) -> None:
    ingest(engine, as_x(pages_of(1, "devops", 40)))
    ids = sorted(x_posts(engine))
    fake_x.compliance.results["tweets"] = {ids[1]: result_line(ids[1], "protected")}
    fake_x.compliance.polls_until_complete = 3
    assert run_pass(jobs)["tweets"] == WAIT
    waiting = newest_job_of(engine, "tweets")
    assert waiting.state == "waiting"
    assert waiting.x_job_id is not None
    jobs.close()

    restarted = compliance_jobs(fake_x, engine, clock)
    try:
        outcomes = run_pass(restarted)
        while outcomes["tweets"] == WAIT:
            outcomes = run_pass(restarted)
    finally:
        restarted.close()
    done = newest_job_of(engine, "tweets")
    assert (done.state, done.x_job_id) == ("done", waiting.x_job_id)
    assert len([j for j in fake_x.compliance.jobs.values() if j.type == "tweets"]) == 1
    assert ids[1] not in x_posts(engine)
    assert_exact(engine)


def test_a_job_x_created_just_before_a_crash_is_found_by_its_name(
    engine: Engine, fake_x: FakeXApi, jobs: ComplianceJobs, clock: Clock
) -> None:
    ingest(engine, as_x(pages_of(1, "devops", 30)))
    ids = sorted(x_posts(engine))
    # The row says "creating" (ids chosen), and X has the job: the crash came before the answer was stored.
    now = clock()
    row = in_transaction(
        engine,
        lambda c: c.execute(
            insert(XComplianceJob.table()).values(
                job_type="tweets",
                state="creating",
                pass_started_at=now,
                after_id="",
                last_id=ids[-1],
                ids_uploaded=len(ids),
                attempt=1,
                results=0,
                posts_deleted=0,
                posts_geo_scrubbed=0,
                error_message="",
                created_at=now,
                updated_at=now,
            )
        ).inserted_primary_key[0],
    )
    with XAccess(FAKE_X_TOKEN, base_url=fake_x.base_url, policy=FAST).client() as api:
        created = api.request(
            "POST", "/2/compliance/jobs", json={"type": "tweets", "name": job_name(row)}
        ).json()
    restarted = compliance_jobs(fake_x, engine, clock)
    try:
        assert run_pass(restarted)["tweets"] == IDLE
    finally:
        restarted.close()
    assert newest_job_of(engine, "tweets").x_job_id == created["data"]["id"]
    assert [j.type for j in fake_x.compliance.jobs.values()].count("tweets") == 1
    assert fake_x.compliance.uploads("tweets") == [ids]


def test_an_upload_url_that_expired_while_the_collector_was_down_makes_a_new_job(
    engine: Engine, fake_x: FakeXApi, clock: Clock
) -> None:
    ingest(engine, as_x(pages_of(1, "devops", 30)))
    ids = sorted(x_posts(engine))
    fake_x.compliance.upload_seconds = 0.5
    first = compliance_jobs(fake_x, engine, clock)
    try:
        # Create the job, then "crash" before the upload.
        assert first.advance("tweets", start_now=True) == "go_on"  # the row
        assert first.advance("tweets") == "go_on"  # the job at X
        assert newest_job_of(engine, "tweets").state == "uploading"
    finally:
        first.close()
    time.sleep(0.6)
    clock.now += timedelta(hours=1)
    restarted = compliance_jobs(fake_x, engine, clock)
    try:
        run_pass(restarted)
    finally:
        restarted.close()
    tweets = [r for r in job_rows(engine) if r["job_type"] == "tweets"]
    assert [(r["state"], r["attempt"]) for r in tweets] == [("expired", 1), ("done", 2)]
    assert fake_x.compliance.uploads("tweets") == [ids]


def test_x_errors_leave_the_job_where_it_was(engine: Engine, fake_x: FakeXApi, jobs: ComplianceJobs) -> None:
    from tests.support.fake_http import Fault

    ingest(engine, as_x(pages_of(1, "devops", 20)))
    fake_x.add_fault(Fault(match=lambda r: r.path.startswith("/2/compliance/jobs/"), status=503, times=None))
    assert run_pass(jobs)["tweets"] == WAIT
    job = newest_job_of(engine, "tweets")
    assert job.state == "waiting"
    assert "503" in job.error_message
    # The URLs of X's storage are credentials: never in the error kept (nor logged).
    assert "storage" not in job.error_message
    fake_x.faults.clear()
    assert run_pass(jobs)["tweets"] == IDLE
    assert newest_job_of(engine, "tweets").state == "done"


def test_the_command_runs_a_pass_and_prints_each_types_newest_job(
    engine: Engine, database_url: str, fake_x: FakeXApi, capsys: pytest.CaptureFixture[str]
) -> None:
    ingest(engine, as_x(pages_of(1, "devops", 20)))
    settings = CollectorSettings(
        database_url=database_url,
        x_bearer_token=FAKE_X_TOKEN,
        x_api_base_url=fake_x.base_url,
        x_compliance_poll_seconds=0.01,
    )
    assert run_x_compliance(settings, timeout_seconds=30) == 0
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert printed["tweets"]["state"] == "done"
    assert printed["tweets"]["ids_uploaded"] == 20
    assert printed["users"]["state"] == "done"
    assert "upload_url" not in json.dumps(printed)
    assert fake_x.base_url not in json.dumps(printed)


def test_the_collectors_loop_asks_for_the_invalidation_after_deleting(
    engine: Engine, fake_x: FakeXApi, jobs: ComplianceJobs
) -> None:
    ingest(engine, as_x(pages_of(1, "devops", 20)))
    first = sorted(x_posts(engine))[0]
    fake_x.compliance.results["tweets"] = {first: result_line(first, "deleted")}
    stop = threading.Event()
    changed: list[str] = []

    async def loop() -> None:
        task = asyncio.create_task(compliance_loop(engine, jobs, stop, changed.append))
        await wait_until_async(lambda: "deleted" in " ".join(changed), message="a step that deleted")
        stop.set()
        task.cancel()

    asyncio.run(loop())
    assert "x compliance jobs deleted or geo-scrubbed 1 posts" in changed
    assert first not in x_posts(engine)


def newest_job_of(engine: Engine, job_type: str):  # type: ignore[no-untyped-def]
    job = in_transaction(engine, partial(newest_job, job_type=job_type))
    assert job is not None
    return job
