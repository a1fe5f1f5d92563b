"""X batch compliance: the stored X post ids and their authors' ids are sent to X's batch
compliance jobs, and what X answers must not be kept leaves tagpulse through the one deletion path.

A job goes through these states, each stored before the step that follows it, so a collector
that stops anywhere goes on from the last stored state (X allows one job of a type at a time):

- `creating`: the ids are chosen (the next `ids_per_job` stored ids after the previous job's last,
  in the database's order) and the job is created at X (POST /2/compliance/jobs, named after its
  row, so a job created just before a crash is found again by its name instead of made twice);
- `uploading`: the ids are uploaded, one per line, to the job's pre-signed upload URL (a PUT to
  X's storage, without the bearer token); an upload URL X's storage refuses (past its 15
  minutes) makes the job `expired`;
- `waiting`: the job is polled (GET /2/compliance/jobs/:id) until X says `complete`, `failed` or
  `expired`;
- `applying`: the results (JSON lines at the download URL) are applied in batches: a post X
  reports deleted, deactivated, protected or suspended (or any other reason with the `delete`
  action) is deleted; a user reported so has all their X posts deleted; `scrub_geo` forgets the
  geo information of the post, or of all the user's posts. Applying twice changes nothing more,
  so a restart simply applies the results again;
- `done`; or `failed`/`expired`, after which a new job is made for the same ids (up to
  MAX_ATTEMPTS jobs per range; then the pass ends and the next one tries again).

A pass covers every stored id once, in jobs of at most `ids_per_job` ids: it ends with a job that
had fewer. A new pass starts `interval` after the previous one started. Posts stored while a pass
runs are in the next one.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import httpx
from sqlalchemy import Engine, insert, select, update
from sqlalchemy.engine import Connection

from tagpulse.db.models import Post, XComplianceJob
from tagpulse_collector import locks
from tagpulse_collector.deletion.posts import (
    UPSTREAM,
    Removed,
    delete_author_posts,
    delete_posts,
    scrub_geo,
)
from tagpulse_collector.ingestion.batches import in_transaction
from tagpulse_collector.metrics import POSTS_DELETED, X_COMPLIANCE_JOBS, X_COMPLIANCE_RESULTS
from tagpulse_collector.settings import CollectorSettings
from tagpulse_collector.sources.api_client import ApiClient
from tagpulse_collector.sources.errors import Interrupted, SourceError
from tagpulse_collector.sources.x_api import XAccess
from tagpulse_collector.sources.x_payloads import SOURCE_NAME

log = logging.getLogger("tagpulse.deletion")

JOB = "x-compliance"
JOBS_PATH = "/2/compliance/jobs"
TWEETS, USERS = "tweets", "users"
JOB_TYPES = (TWEETS, USERS)
CREATING, UPLOADING, WAITING, APPLYING = "creating", "uploading", "waiting", "applying"
DONE, FAILED, EXPIRED = "done", "failed", "expired"
UNFINISHED = (CREATING, UPLOADING, WAITING, APPLYING)
JOB_OUTCOMES = (DONE, FAILED, EXPIRED)
# The reasons X gives in a job's results; any other is counted as "other".
DELETE_REASONS = ("deleted", "deactivated", "protected", "suspended")
SCRUB_GEO = "scrub_geo"
RESULT_REASONS = (*DELETE_REASONS, SCRUB_GEO, "other")
# Jobs made for one range of ids before the pass gives it up.
MAX_ATTEMPTS = 3
# Result lines applied per transaction.
RESULT_BATCH = 500
# Posts of the reported users deleted per transaction.
AUTHOR_BATCH = 1000


@dataclass(frozen=True)
class CompliancePolicy:
    # How often a pass starts (its start to the next one's).
    interval: timedelta = timedelta(hours=24)
    # Ids per job (X accepts up to 100,000 per upload file).
    ids_per_job: int = 100_000
    # How long the collector waits between polls of a job X is processing.
    poll_seconds: float = 60.0


def compliance_policy(settings: CollectorSettings) -> CompliancePolicy:
    return CompliancePolicy(
        interval=timedelta(hours=settings.x_compliance_interval_hours),
        ids_per_job=settings.x_compliance_ids_per_job,
        poll_seconds=settings.x_compliance_poll_seconds,
    )


@dataclass(frozen=True)
class JobRow:
    id: int
    job_type: str
    state: str
    x_job_id: str | None
    pass_started_at: datetime
    after_id: str
    last_id: str | None
    ids_uploaded: int
    attempt: int
    # Pre-signed URLs of X's storage: credentials, never in a log line or an answer.
    upload_url: str | None = field(repr=False)
    download_url: str | None = field(repr=False)
    results: int
    posts_deleted: int
    posts_geo_scrubbed: int
    error_message: str
    updated_at: datetime

    def figures(self) -> dict[str, object]:
        """What a person may see of the job (the command's JSON): everything but the URLs."""
        return {
            "x_job_id": self.x_job_id,
            "state": self.state,
            "pass_started_at": self.pass_started_at.isoformat(),
            "attempt": self.attempt,
            "ids_uploaded": self.ids_uploaded,
            "results": self.results,
            "posts_deleted": self.posts_deleted,
            "posts_geo_scrubbed": self.posts_geo_scrubbed,
            "error_message": self.error_message,
            "updated_at": self.updated_at.isoformat(),
        }


# What `advance` found: keep going now, wait for X (poll later), or nothing due.
GO_ON, WAIT, IDLE = "go_on", "wait", "idle"


class ComplianceJobs:
    """The compliance jobs of one collector (or command): X's API client for the jobs, a plain
    client for X's storage (the pre-signed URLs carry their own credentials: the bearer token must
    not go there), and the database."""

    def __init__(
        self,
        engine: Engine,
        api: ApiClient,
        storage: httpx.Client,
        policy: CompliancePolicy,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.engine = engine
        self.api = api
        self.storage = storage
        self.policy = policy
        self.clock = clock
        # Posts deleted or scrubbed, and jobs whose state changed, since `take_changes`.
        self._posts_changed = 0
        self._states_changed = 0

    @classmethod
    def for_access(
        cls, engine: Engine, access: XAccess, policy: CompliancePolicy, stop: threading.Event | None = None
    ) -> ComplianceJobs:
        """Jobs with X's clients from `access`; `close` them after."""
        return cls(engine, access.client(stop), access.storage_client(), policy)

    def close(self) -> None:
        self.api.close()
        self.storage.close()

    def take_changes(self) -> tuple[int, int]:
        """Posts deleted or geo-scrubbed, and job states changed, since the last call: either
        changes answers (the summaries, or GetStats), so the cached answers must go."""
        changes = (self._posts_changed, self._states_changed)
        self._posts_changed = self._states_changed = 0
        return changes

    def run_due(self, job_type: str, start_now: bool = False) -> str:
        """Advance the job of `job_type` until it has to wait for X or nothing is due (WAIT or
        IDLE). `start_now` starts a pass even when the last one began less than `interval` ago."""
        while True:
            outcome = self.advance(job_type, start_now)
            if outcome != GO_ON:
                return outcome
            # Only the first step may start a pass out of turn: the pass it started then ends.
            start_now = False

    def advance(self, job_type: str, start_now: bool = False) -> str:
        """One step of the newest job of `job_type` (see the module's docstring)."""
        # The client's request figures are for collection pages; a long-lived client must not
        # keep collecting the descriptions of the errors it retried.
        self.api.take_figures()
        job = in_transaction(self.engine, partial(newest_job, job_type=job_type))
        if job is None or job.state not in UNFINISHED:
            return self._next_job(job_type, job, start_now)
        try:
            if job.state == CREATING:
                return self._create(job)
            if job.state == UPLOADING:
                return self._upload(job)
            if job.state == WAITING:
                return self._poll(job)
            return self._apply(job)
        except Interrupted:
            return WAIT
        except (SourceError, httpx.HTTPError) as error:
            # X or its storage did not answer as it should: the same step is tried at the next poll.
            log.warning(
                "x compliance job step failed; tried again at the next poll",
                extra={"job_type": job_type, "state": job.state, "reason": _safe(error)},
            )
            self._update(job, error_message=_safe(error))
            return WAIT

    def _next_job(self, job_type: str, last: JobRow | None, start_now: bool) -> str:
        now = self.clock()
        if last is not None and last.state == DONE and last.ids_uploaded >= self.policy.ids_per_job:
            # The pass goes on after the last job's ids.
            return self._insert(job_type, last.pass_started_at, after_id=last.last_id or "", attempt=1)
        if last is not None and last.state in (FAILED, EXPIRED) and last.attempt < MAX_ATTEMPTS:
            return self._insert(
                job_type, last.pass_started_at, after_id=last.after_id, attempt=last.attempt + 1
            )
        if last is not None and not start_now and now - last.pass_started_at < self.policy.interval:
            return IDLE
        return self._insert(job_type, now, after_id="", attempt=1)

    def _insert(self, job_type: str, pass_started_at: datetime, after_id: str, attempt: int) -> str:
        now = self.clock()
        row = {
            "job_type": job_type,
            "state": CREATING,
            "pass_started_at": pass_started_at,
            "after_id": after_id,
            "attempt": attempt,
            "ids_uploaded": 0,
            "results": 0,
            "posts_deleted": 0,
            "posts_geo_scrubbed": 0,
            "error_message": "",
            "created_at": now,
            "updated_at": now,
        }
        in_transaction(self.engine, lambda c: c.execute(insert(XComplianceJob.table()).values(row)))
        return GO_ON

    def _create(self, job: JobRow) -> str:
        if job.last_id is None:
            ids = in_transaction(
                self.engine,
                partial(
                    stored_ids, job_type=job.job_type, after_id=job.after_id, limit=self.policy.ids_per_job
                ),
            )
            if not ids:
                self._finish(job, DONE, ids_uploaded=0)
                return GO_ON
            self._update(job, last_id=ids[-1], ids_uploaded=len(ids))
        name = job_name(job.id)
        found = self._find_by_name(job.job_type, name)
        created = (
            found
            or self.api.request("POST", JOBS_PATH, json={"type": job.job_type, "name": name}).json()["data"]
        )
        self._update(
            job,
            state=UPLOADING,
            x_job_id=str(created["id"]),
            upload_url=created["upload_url"],
            download_url=created["download_url"],
            error_message="",
        )
        return GO_ON

    def _find_by_name(self, job_type: str, name: str) -> dict[str, Any] | None:
        """The job of ours X already has (created just before a restart), if it can still take the upload."""
        answer = self.api.get(JOBS_PATH, {"type": job_type, "status": "created"}).json()
        return next((j for j in answer.get("data", ()) if j.get("name") == name), None)

    def _upload(self, job: JobRow) -> str:
        ids = in_transaction(
            self.engine,
            partial(
                stored_ids, job_type=job.job_type, after_id=job.after_id, limit=None, last_id=job.last_id
            ),
        )
        body = "".join(f"{i}\n" for i in ids).encode()
        response = self.storage.put(
            job.upload_url or "", content=body, headers={"Content-Type": "text/plain"}
        )
        if response.status_code in (400, 403, 404, 410):
            # A pre-signed URL X's storage refuses (expired, or the job is gone): a new job.
            return self._give_up(
                job, EXPIRED, f"X's storage refused the upload (HTTP {response.status_code})"
            )
        response.raise_for_status()
        self._update(job, state=WAITING, ids_uploaded=len(ids), error_message="")
        return GO_ON

    def _poll(self, job: JobRow) -> str:
        status = self.api.get(f"{JOBS_PATH}/{job.x_job_id}").json()["data"]["status"]
        if status == "complete":
            self._update(job, state=APPLYING, error_message="")
            return GO_ON
        if status in (FAILED, EXPIRED):
            return self._give_up(job, status, f"X reported the job {status}")
        return WAIT

    def _apply(self, job: JobRow) -> str:
        figures = _Applied()
        with self.storage.stream("GET", job.download_url or "") as response:
            if response.status_code in (400, 403, 404, 410):
                return self._give_up(
                    job, EXPIRED, f"X's storage refused the download (HTTP {response.status_code})"
                )
            response.raise_for_status()
            for batch in _batches(_results(response.iter_lines()), RESULT_BATCH):
                figures = figures + self._apply_batch(job.job_type, batch)
        self._finish(
            job,
            DONE,
            results=figures.results,
            # Added: an application cut short by a restart deleted some posts already, and the
            # one that completes it finds them gone.
            posts_deleted=job.posts_deleted + figures.removed.posts,
            posts_geo_scrubbed=job.posts_geo_scrubbed + figures.scrubbed,
        )
        log.info(
            "x compliance job applied",
            extra={
                "job_type": job.job_type,
                "x_job_id": job.x_job_id,
                "ids_uploaded": job.ids_uploaded,
                "results": figures.results,
                "posts_deleted": figures.removed.posts,
                "users_deleted": figures.removed.users,
                "posts_geo_scrubbed": figures.scrubbed,
            },
        )
        return GO_ON

    def _apply_batch(self, job_type: str, results: Sequence[tuple[str, str]]) -> _Applied:
        """Delete or scrub what one batch of (id, reason) results names."""
        delete = sorted({i for i, reason in results if reason != SCRUB_GEO})
        scrub = sorted({i for i, reason in results if reason == SCRUB_GEO} - set(delete))
        for _, reason in results:
            X_COMPLIANCE_RESULTS.labels(
                job_type=job_type, reason=reason if reason in RESULT_REASONS else "other"
            ).inc()
        if job_type == TWEETS:
            removed, scrubbed = in_transaction(self.engine, partial(_apply_posts, delete=delete, scrub=scrub))
        else:
            removed, scrubbed = self._apply_users(delete, scrub)
        POSTS_DELETED.labels(source=SOURCE_NAME, reason=UPSTREAM).inc(removed.posts)
        self._posts_changed += removed.posts + scrubbed
        return _Applied(len(results), removed, scrubbed)

    def _apply_users(self, delete: Sequence[str], scrub: Sequence[str]) -> tuple[Removed, int]:
        """All the X posts of the users in `delete` deleted, and those of `scrub` scrubbed, in
        transactions of at most AUTHOR_BATCH posts (a user can have many)."""
        removed, scrubbed = Removed(), 0
        while delete:
            batch = in_transaction(
                self.engine,
                partial(delete_author_posts, source=SOURCE_NAME, authors=delete, limit=AUTHOR_BATCH),
            )
            removed = removed + batch
            if batch.posts < AUTHOR_BATCH:
                break
        while scrub:
            changed = in_transaction(self.engine, partial(_scrub_author_posts, authors=scrub))
            scrubbed += changed
            if changed < AUTHOR_BATCH:
                break
        return removed, scrubbed

    def _give_up(self, job: JobRow, outcome: str, why: str) -> str:
        log.warning(
            "x compliance job ended without results; its ids go into a new job",
            extra={
                "job_type": job.job_type,
                "x_job_id": job.x_job_id,
                "outcome": outcome,
                "reason": why,
                "attempt": job.attempt,
            },
        )
        self._finish(job, outcome, error_message=why)
        return GO_ON

    def _finish(self, job: JobRow, outcome: str, **values: Any) -> None:
        X_COMPLIANCE_JOBS.labels(job_type=job.job_type, outcome=outcome).inc()
        self._update(job, state=outcome, **values)

    def _update(self, job: JobRow, **values: Any) -> None:
        if "state" in values:
            self._states_changed += 1
        table = XComplianceJob.table()
        statement = update(table).where(table.c.id == job.id).values(updated_at=self.clock(), **values)
        in_transaction(self.engine, lambda c: c.execute(statement))


@dataclass(frozen=True)
class _Applied:
    results: int = 0
    removed: Removed = field(default_factory=Removed)
    scrubbed: int = 0

    def __add__(self, other: _Applied) -> _Applied:
        return _Applied(
            self.results + other.results, self.removed + other.removed, self.scrubbed + other.scrubbed
        )


def job_name(row_id: int) -> str:
    return f"tagpulse-{row_id}"


def newest_job(connection: Connection, job_type: str) -> JobRow | None:
    table = XComplianceJob.table()
    row = connection.execute(
        select(*(table.c[name] for name in JobRow.__dataclass_fields__))
        .where(table.c.job_type == job_type)
        .order_by(table.c.id.desc())
        .limit(1)
    ).first()
    return JobRow(**row._mapping) if row is not None else None


def stored_ids(
    connection: Connection, job_type: str, after_id: str, limit: int | None, last_id: str | None = None
) -> list[str]:
    """The stored X post ids (TWEETS) or their authors' ids (USERS) after `after_id`, in the
    database's order: the first `limit`, or those up to `last_id`."""
    posts = Post.table()
    column = posts.c.id if job_type == TWEETS else posts.c.author_id
    query = select(column).where(posts.c.source == SOURCE_NAME, column > after_id)
    if last_id is not None:
        query = query.where(column <= last_id)
    query = query.group_by(column).order_by(column) if job_type == USERS else query.order_by(column)
    if limit is not None:
        query = query.limit(limit)
    return [row[0] for row in connection.execute(query)]


def _apply_posts(connection: Connection, delete: Sequence[str], scrub: Sequence[str]) -> tuple[Removed, int]:
    removed = delete_posts(connection, [(SOURCE_NAME, i) for i in delete])
    return removed, scrub_geo(connection, [(SOURCE_NAME, i) for i in scrub])


def _scrub_author_posts(connection: Connection, authors: Sequence[str]) -> int:
    """`scrub_geo` for at most AUTHOR_BATCH of the authors' stored X posts that have a place."""
    posts = Post.table()
    keys = connection.execute(
        select(posts.c.source, posts.c.id)
        .where(
            posts.c.source == SOURCE_NAME,
            posts.c.author_id.in_(authors),
            posts.c.place_country_code.is_not(None),
        )
        .limit(AUTHOR_BATCH)
    )
    return scrub_geo(connection, [(row.source, row.id) for row in keys])


def _results(lines: Iterator[str]) -> Iterator[tuple[str, str]]:
    """(id, reason) of each result line; `reason` is SCRUB_GEO for the geo scrubs and what X says
    otherwise (every other action deletes). Lines that are not results are logged and skipped."""
    for line in lines:
        if not line.strip():
            continue
        try:
            result = json.loads(line)
            result_id = str(result["id"])
        except (ValueError, KeyError, TypeError):
            log.warning("x compliance result line is not a result; skipped", extra={"line": line[:200]})
            continue
        action, reason = str(result.get("action", "")), str(result.get("reason", ""))
        yield result_id, SCRUB_GEO if SCRUB_GEO in (action, reason) else reason or "other"


def _batches(items: Iterator[tuple[str, str]], size: int) -> Iterator[list[tuple[str, str]]]:
    batch: list[tuple[str, str]] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _safe(error: Exception) -> str:
    """An error's text without the pre-signed URLs httpx puts in it (they are credentials)."""
    if isinstance(error, httpx.HTTPStatusError):
        return f"X's storage answered HTTP {error.response.status_code}"
    if isinstance(error, httpx.HTTPError):
        return f"X's storage could not be reached ({type(error).__name__})"
    return str(error)


def run_compliance(engine: Engine, jobs: ComplianceJobs, start_now: bool = False) -> dict[str, str] | None:
    """`ComplianceJobs.run_due` for each job type, by one collector at a time; None when another
    one is doing it. Returns each type's outcome (WAIT: X is processing a job; IDLE: nothing due)."""
    with locks.lease(engine) as lease:
        if not lease.try_lock(locks.job_key(JOB)):
            return None
        return {job_type: jobs.run_due(job_type, start_now) for job_type in JOB_TYPES}


async def compliance_loop(
    engine: Engine,
    jobs: ComplianceJobs,
    stop: threading.Event,
    on_changed: Callable[[str], None],
) -> None:
    """In a collector: advance the compliance jobs every poll until `stop`; `on_changed` with the
    reason after a step that changed posts or a job's state."""
    while not stop.is_set():
        try:
            await asyncio.to_thread(run_compliance, engine, jobs)
        except Exception:
            log.exception("x compliance step failed; tried again at the next poll")
        posts, states = jobs.take_changes()
        if posts:
            on_changed(f"x compliance jobs deleted or geo-scrubbed {posts} posts")
        elif states:
            on_changed("x compliance jobs changed state")
        await asyncio.sleep(jobs.policy.poll_seconds)
