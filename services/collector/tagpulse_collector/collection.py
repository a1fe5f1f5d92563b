"""Collection runs: check a request, record the run, collect every hashtag page by page.

Each page is stored in its own transaction together with the hashtag's figures and resume
position, so the figures of a run always agree with what was stored.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine, select, update

from tagpulse.db.engine import upsert
from tagpulse.db.models import CollectionRun, CollectionRunHashtag, Hashtag
from tagpulse.errors import InvalidArgument
from tagpulse.hashtags import InvalidHashtag, normalize_hashtag
from tagpulse_collector.ingest import ingest_page
from tagpulse_collector.metrics import (
    COLLECTION_RUNS,
    POSTS_DUPLICATE,
    POSTS_FETCHED,
    POSTS_NEW,
    RUN_SECONDS,
)
from tagpulse_collector.sources.base import Source

log = logging.getLogger("tagpulse.collection")

DEFAULT_MAX_POSTS_PER_HASHTAG = 100
MAX_POSTS_PER_HASHTAG = 10_000
# Sources this build can collect from; the others are planned (see the README).
AVAILABLE_SOURCES = ("sample",)
PLANNED_SOURCES = ("x", "mastodon")

RUNNING, SUCCEEDED, PARTIALLY_SUCCEEDED, FAILED = "RUNNING", "SUCCEEDED", "PARTIALLY_SUCCEEDED", "FAILED"


@dataclass(frozen=True)
class CollectionPlan:
    source: str
    hashtags: tuple[str, ...]
    max_posts_per_hashtag: int


def plan_collection(
    hashtags: Sequence[str], max_posts_per_hashtag: int, source: str, tracked: Sequence[str]
) -> CollectionPlan:
    """Check a request; empty hashtags mean the tracked ones, 0 posts means the default."""
    problems: dict[str, str] = {}
    normalized: list[str] = []
    for index, raw in enumerate(hashtags):
        try:
            normalized.append(normalize_hashtag(raw))
        except InvalidHashtag as error:
            problems[f"hashtags[{index}]"] = str(error)
    if len(hashtags) > 100:
        problems["hashtags"] = "at most 100 hashtags per run"
    limit = max_posts_per_hashtag or DEFAULT_MAX_POSTS_PER_HASHTAG
    if not 1 <= limit <= MAX_POSTS_PER_HASHTAG:
        problems["max_posts_per_hashtag"] = f"must be between 1 and {MAX_POSTS_PER_HASHTAG}"
    source = (source or "sample").strip().lower()
    if source in PLANNED_SOURCES:
        problems["source"] = f"source {source!r} is not built yet; available: {', '.join(AVAILABLE_SOURCES)}"
    elif source not in AVAILABLE_SOURCES:
        problems["source"] = f"unknown source {source!r}; available: {', '.join(AVAILABLE_SOURCES)}"
    if problems:
        raise InvalidArgument(problems)
    chosen = tuple(dict.fromkeys(normalized)) or tuple(tracked)
    return CollectionPlan(source=source, hashtags=chosen, max_posts_per_hashtag=limit)


@dataclass(frozen=True)
class HashtagFigures:
    hashtag: str
    state: str
    posts_fetched: int
    posts_new: int
    error_message: str

    @property
    def posts_duplicate(self) -> int:
        return self.posts_fetched - self.posts_new


@dataclass(frozen=True)
class RunRecord:
    id: int
    source: str
    hashtags: tuple[str, ...]
    max_posts_per_hashtag: int
    state: str
    started_at: datetime
    ended_at: datetime | None
    posts_fetched: int
    posts_new: int
    error_message: str
    hashtag_figures: tuple[HashtagFigures, ...]

    @property
    def posts_duplicate(self) -> int:
        return self.posts_fetched - self.posts_new


def start_run(engine: Engine, plan: CollectionPlan, tracked: Sequence[str]) -> int:
    """Record a new RUNNING run and mark the tracked hashtags; return the run id."""
    now = datetime.now(UTC)
    with engine.begin() as connection:
        run_id = connection.execute(
            CollectionRun.table()
            .insert()
            .values(
                source=plan.source,
                hashtags=list(plan.hashtags),
                max_posts_per_hashtag=plan.max_posts_per_hashtag,
                state=RUNNING,
                started_at=now,
                posts_fetched=0,
                posts_new=0,
                error_message="",
            )
            .returning(CollectionRun.table().c.id)
        ).scalar_one()
        connection.execute(
            CollectionRunHashtag.table().insert(),
            [
                {
                    "run_id": run_id,
                    "hashtag": tag,
                    "state": RUNNING,
                    "posts_fetched": 0,
                    "posts_new": 0,
                    "error_message": "",
                }
                for tag in plan.hashtags
            ],
        )
        tracked_rows = [{"name": tag, "tracked": True, "post_count": 0} for tag in sorted(set(tracked))]
        if tracked_rows:
            statement = upsert(connection, Hashtag.table()).values(tracked_rows)
            connection.execute(
                statement.on_conflict_do_update(index_elements=["name"], set_={"tracked": True})
            )
    return int(run_id)


def execute_run(engine: Engine, run_id: int, plan: CollectionPlan, source: Source) -> RunRecord:
    """Collect every hashtag of the run; a failing hashtag does not stop the others."""
    started = datetime.now(UTC)
    log.info(
        "collection started", extra={"run_id": run_id, "source": plan.source, "hashtags": list(plan.hashtags)}
    )
    failures = 0
    for hashtag in plan.hashtags:
        try:
            _collect_hashtag(engine, run_id, plan, source, hashtag)
        except Exception as error:
            failures += 1
            log.exception("hashtag failed", extra={"run_id": run_id, "hashtag": hashtag})
            _finish_hashtag(engine, run_id, hashtag, FAILED, f"{type(error).__name__}: {error}")

    if failures == 0:
        state, message = SUCCEEDED, ""
    elif failures < len(plan.hashtags):
        state, message = PARTIALLY_SUCCEEDED, f"{failures} of {len(plan.hashtags)} hashtags failed"
    else:
        state, message = FAILED, "every hashtag failed"
    ended = datetime.now(UTC)
    table = CollectionRun.table()
    with engine.begin() as connection:
        connection.execute(
            update(table)
            .where(table.c.id == run_id)
            .values(state=state, ended_at=ended, error_message=message)
        )
    COLLECTION_RUNS.labels(source=plan.source, outcome=state.lower()).inc()
    RUN_SECONDS.labels(source=plan.source).observe((ended - started).total_seconds())
    record = get_run(engine, run_id)
    assert record is not None
    log.info(
        "collection finished",
        extra={
            "run_id": run_id,
            "state": state,
            "posts_fetched": record.posts_fetched,
            "posts_new": record.posts_new,
            "posts_duplicate": record.posts_duplicate,
            "seconds": round((ended - started).total_seconds(), 3),
        },
    )
    return record


def _collect_hashtag(engine: Engine, run_id: int, plan: CollectionPlan, source: Source, hashtag: str) -> None:
    runs, progress = CollectionRun.table(), CollectionRunHashtag.table()
    for page in source.search(hashtag, plan.max_posts_per_hashtag):
        with engine.begin() as connection:
            result = ingest_page(connection, page)
            connection.execute(
                update(progress)
                .where(progress.c.run_id == run_id, progress.c.hashtag == hashtag)
                .values(
                    posts_fetched=progress.c.posts_fetched + result.fetched,
                    posts_new=progress.c.posts_new + result.new,
                    next_page_token=page.next_cursor,
                )
            )
            connection.execute(
                update(runs)
                .where(runs.c.id == run_id)
                .values(
                    posts_fetched=runs.c.posts_fetched + result.fetched,
                    posts_new=runs.c.posts_new + result.new,
                )
            )
        POSTS_FETCHED.labels(source=plan.source, hashtag=hashtag).inc(result.fetched)
        POSTS_NEW.labels(source=plan.source, hashtag=hashtag).inc(result.new)
        POSTS_DUPLICATE.labels(source=plan.source, hashtag=hashtag).inc(result.duplicate)
    _finish_hashtag(engine, run_id, hashtag, SUCCEEDED, "")


def _finish_hashtag(engine: Engine, run_id: int, hashtag: str, state: str, error_message: str) -> None:
    progress, hashtags = CollectionRunHashtag.table(), Hashtag.table()
    with engine.begin() as connection:
        connection.execute(
            update(progress)
            .where(progress.c.run_id == run_id, progress.c.hashtag == hashtag)
            .values(state=state, error_message=error_message)
        )
        if state == SUCCEEDED:
            statement = upsert(connection, hashtags).values(
                name=hashtag, tracked=False, post_count=0, last_collected_at=datetime.now(UTC)
            )
            connection.execute(
                statement.on_conflict_do_update(
                    index_elements=["name"], set_={"last_collected_at": statement.excluded.last_collected_at}
                )
            )


def get_run(engine: Engine, run_id: int) -> RunRecord | None:
    runs = list_runs(engine, limit=1, run_id=run_id)
    return runs[0] if runs else None


def list_runs(
    engine: Engine, limit: int, before_id: int | None = None, run_id: int | None = None
) -> list[RunRecord]:
    """Runs newest first (by id), at most `limit`, older than `before_id` when given."""
    runs, progress = CollectionRun.table(), CollectionRunHashtag.table()
    query = select(runs).order_by(runs.c.id.desc()).limit(limit)
    if before_id is not None:
        query = query.where(runs.c.id < before_id)
    if run_id is not None:
        query = query.where(runs.c.id == run_id)
    with engine.connect() as connection:
        rows = connection.execute(query).all()
        ids = [row.id for row in rows]
        figures: dict[int, list[HashtagFigures]] = {run: [] for run in ids}
        if ids:
            for row in connection.execute(select(progress).where(progress.c.run_id.in_(ids))):
                figures[row.run_id].append(
                    HashtagFigures(
                        row.hashtag, row.state, row.posts_fetched, row.posts_new, row.error_message
                    )
                )
    return [
        RunRecord(
            id=row.id,
            source=row.source,
            hashtags=tuple(row.hashtags),
            max_posts_per_hashtag=row.max_posts_per_hashtag,
            state=row.state,
            started_at=row.started_at,
            ended_at=row.ended_at,
            posts_fetched=row.posts_fetched,
            posts_new=row.posts_new,
            error_message=row.error_message,
            hashtag_figures=tuple(sorted(figures[row.id], key=lambda f: row.hashtags.index(f.hashtag))),
        )
        for row in rows
    ]
