"""`python -m tagpulse_collector retention` (what the chart's retention CronJob runs),
`python -m tagpulse_collector mastodon-recheck` and `python -m tagpulse_collector compliance`."""

from __future__ import annotations

import json
import sys
import time
from datetime import timedelta
from functools import partial

from tagpulse.db.engine import database_engine
from tagpulse_collector.catalog import catalog_from_settings
from tagpulse_collector.deletion.mastodon_rechecks import pass_budget, recheck_mastodon
from tagpulse_collector.deletion.retention import enforce_retention
from tagpulse_collector.deletion.x_compliance import (
    IDLE,
    JOB_TYPES,
    ComplianceJobs,
    compliance_policy,
    newest_job,
    run_compliance,
)
from tagpulse_collector.ingestion.batches import in_transaction
from tagpulse_collector.query_client import invalidate_once
from tagpulse_collector.settings import CollectorSettings

# How long the query service may take to answer the invalidation (a rollout replacing it).
INVALIDATION_RETRY_SECONDS = 60.0
EXIT_NOT_INVALIDATED = 2
EXIT_NOT_DONE = 3


def run_retention(settings: CollectorSettings) -> int:
    """Delete the posts past their retention, print what went as JSON, retire the cached answers.
    Exit status 0, also when another collector was doing it (nothing deleted here); 2 when posts
    were deleted but the query service did not take the invalidation."""
    if not settings.retention_days:
        print("no retention set (TAGPULSE_RETENTION_DAYS): every post is kept", file=sys.stderr)
        print(json.dumps({"posts_deleted": 0, "users_deleted": 0}))
        return 0
    engine = database_engine(settings)
    try:
        removed = enforce_retention(engine, settings.retention_days, settings.retention_batch_posts)
    finally:
        engine.dispose()
    if removed is None:
        print("another collector is enforcing the retention right now", file=sys.stderr)
        print(json.dumps({"posts_deleted": 0, "users_deleted": 0}))
        return 0
    print(json.dumps({"posts_deleted": removed.posts, "users_deleted": removed.users}))
    return _retire_cached_answers(settings, removed.posts, "retention")


def run_mastodon_recheck(settings: CollectorSettings, budget: int | None = None) -> int:
    """One pass of Mastodon re-checks (`budget` requests, default one pass's share of
    TAGPULSE_MASTODON_RECHECKS_PER_HOUR); prints its figures as JSON and retires the cached answers
    when posts were deleted. Exit status as `run_retention`'s, and 1 without a Mastodon instance."""
    catalog = catalog_from_settings(settings)
    if catalog.mastodon is None:
        print("no Mastodon instance (TAGPULSE_MASTODON_BASE_URL): nothing to re-check", file=sys.stderr)
        return 1
    if budget is None:
        budget = pass_budget(settings.mastodon_rechecks_per_hour, settings.mastodon_recheck_interval_minutes)
    engine = database_engine(settings)
    try:
        figures = recheck_mastodon(
            engine, catalog.mastodon, budget, timedelta(hours=settings.mastodon_recheck_after_hours)
        )
    finally:
        engine.dispose()
    if figures is None:
        print("another collector is re-checking Mastodon statuses right now", file=sys.stderr)
        print(json.dumps({"requests": 0, "posts_deleted": 0}))
        return 0
    print(json.dumps(figures.as_dict()))
    return _retire_cached_answers(settings, figures.removed.posts, "mastodon re-checks")


def run_x_compliance(settings: CollectorSettings, timeout_seconds: float) -> int:
    """A pass of X batch compliance jobs now (or the rest of the pass in progress), waiting up to
    `timeout_seconds` for X to process them; prints each job type's newest job as JSON and retires
    the cached answers when posts changed. Exit status as `run_retention`'s, 1 without X, and 3
    when the pass is not over by the timeout (the collector, or the next run, goes on with it)."""
    catalog = catalog_from_settings(settings)
    if catalog.x is None:
        print("no X API (TAGPULSE_X_BEARER_TOKEN): nothing to check", file=sys.stderr)
        return 1
    policy = compliance_policy(settings)
    engine = database_engine(settings)
    jobs = ComplianceJobs.for_access(engine, catalog.x, policy)
    deadline = time.monotonic() + timeout_seconds
    try:
        outcomes = run_compliance(engine, jobs, start_now=True)
        while (
            outcomes is not None and any(o != IDLE for o in outcomes.values()) and time.monotonic() < deadline
        ):
            time.sleep(min(policy.poll_seconds, max(deadline - time.monotonic(), 0)))
            outcomes = run_compliance(engine, jobs)
        newest = {t: in_transaction(engine, partial(newest_job, job_type=t)) for t in JOB_TYPES}
    finally:
        jobs.close()
        engine.dispose()
    if outcomes is None:
        print("another collector is running the X compliance jobs right now", file=sys.stderr)
        return 0
    print(json.dumps({t: job.figures() if job else None for t, job in newest.items()}))
    status = _retire_cached_answers(settings, jobs.take_changes()[0], "x compliance jobs")
    if status == 0 and any(o != IDLE for o in outcomes.values()):
        print(
            f"the compliance jobs were not done after {timeout_seconds:.0f} s; they go on later",
            file=sys.stderr,
        )
        return EXIT_NOT_DONE
    return status


def _retire_cached_answers(settings: CollectorSettings, posts_deleted: int, deleted_by: str) -> int:
    """After a command deleted posts: the query service retires its cached answers, or the
    command's exit status says it would not (0 or EXIT_NOT_INVALIDATED)."""
    if not posts_deleted:
        return 0
    api_token = settings.api_token.get_secret_value() if settings.api_token else None
    reason = f"{deleted_by} deleted {posts_deleted} posts"
    if invalidate_once(settings.query_address, api_token, reason, INVALIDATION_RETRY_SECONDS):
        return 0
    # Deleted posts must not stay in answers: fail the Job so someone looks.
    print(
        f"the posts are deleted, but the query service at {settings.query_address} did not "
        "take the invalidation: its cached answers can show them until they expire",
        file=sys.stderr,
    )
    return EXIT_NOT_INVALIDATED
