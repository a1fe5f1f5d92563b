"""Collection runs as stored: states, figures in total and per hashtag, recording a new run,
reading runs back, and finding the ones their collector left behind."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine, select

from tagpulse.db.engine import upsert
from tagpulse.db.models import CollectionRun, CollectionRunHashtag, Hashtag
from tagpulse.db.records import from_row
from tagpulse.pagination import IdCursor, PageRequest, page_of
from tagpulse_collector import locks
from tagpulse_collector.runs.plan import CollectionPlan

# Run states.
RUNNING, SUCCEEDED, PARTIALLY_SUCCEEDED, FAILED = "RUNNING", "SUCCEEDED", "PARTIALLY_SUCCEEDED", "FAILED"
# A budget (daily or the run's own) stopped the run, or a hashtag, before a page that could pass
# it; the next run resumes at that page.
STOPPED_BY_BUDGET = "STOPPED_BY_BUDGET"
# Hashtag states: RUNNING, SUCCEEDED, FAILED and STOPPED_BY_BUDGET, plus these two.
PENDING, SKIPPED = "PENDING", "SKIPPED"
RUN_STATES = (RUNNING, SUCCEEDED, PARTIALLY_SUCCEEDED, FAILED, STOPPED_BY_BUDGET)
FINISHED_RUN_STATES = (SUCCEEDED, PARTIALLY_SUCCEEDED, FAILED, STOPPED_BY_BUDGET)
HASHTAG_STATES = (PENDING, RUNNING, SUCCEEDED, FAILED, SKIPPED, STOPPED_BY_BUDGET)
FINISHED_HASHTAG_STATES = frozenset({SUCCEEDED, FAILED, SKIPPED, STOPPED_BY_BUDGET})


@dataclass(frozen=True)
class HashtagFigures:
    hashtag: str
    state: str
    posts_fetched: int
    posts_new: int
    error_message: str
    api_requests: int = 0
    errors: int = 0
    pages: int = 0
    started_at: datetime | None = None
    ended_at: datetime | None = None
    # What the platform billed (`spending`), money in millionths of a US dollar.
    posts_billed: int = 0
    users_billed: int = 0
    counts_requests: int = 0
    cost_micros: int = 0

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
    resume_count: int = 0
    max_cost_micros: int | None = None

    @property
    def posts_duplicate(self) -> int:
        return self.posts_fetched - self.posts_new

    @property
    def api_requests(self) -> int:
        return sum(f.api_requests for f in self.hashtag_figures)

    @property
    def errors(self) -> int:
        return sum(f.errors for f in self.hashtag_figures)

    @property
    def pages(self) -> int:
        return sum(f.pages for f in self.hashtag_figures)

    @property
    def posts_billed(self) -> int:
        return sum(f.posts_billed for f in self.hashtag_figures)

    @property
    def users_billed(self) -> int:
        return sum(f.users_billed for f in self.hashtag_figures)

    @property
    def counts_requests(self) -> int:
        return sum(f.counts_requests for f in self.hashtag_figures)

    @property
    def cost_micros(self) -> int:
        return sum(f.cost_micros for f in self.hashtag_figures)


def get_run(engine: Engine, run_id: int) -> RunRecord | None:
    runs = list_runs(engine, limit=1, run_id=run_id)
    return runs[0] if runs else None


def list_runs_page(engine: Engine, page: PageRequest[IdCursor]) -> tuple[list[RunRecord], IdCursor | None]:
    """One page of runs, newest first, and the cursor of the next page (None on the last)."""
    before = page.after.before_id if page.after else None
    return page_of(list_runs(engine, page.size + 1, before), page.size, lambda run: IdCursor(run.id))


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
                figures[row.run_id].append(from_row(HashtagFigures, row, errors=row.error_count))
    return [
        from_row(
            RunRecord,
            row,
            hashtags=tuple(row.hashtags),
            hashtag_figures=tuple(sorted(figures[row.id], key=lambda f: row.hashtags.index(f.hashtag))),
        )
        for row in rows
    ]


def start_run(engine: Engine, plan: CollectionPlan, tracked: Sequence[str]) -> int:
    """Record a new RUNNING run with every hashtag PENDING, mark the tracked hashtags; return its id."""
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
                resume_count=0,
                max_cost_micros=plan.max_cost_micros,
            )
            .returning(CollectionRun.table().c.id)
        ).scalar_one()
        connection.execute(
            CollectionRunHashtag.table().insert(),
            [
                {
                    "run_id": run_id,
                    "hashtag": tag,
                    "state": PENDING,
                    "posts_fetched": 0,
                    "posts_new": 0,
                    "error_message": "",
                    "api_requests": 0,
                    "error_count": 0,
                    "pages": 0,
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


def interrupted_runs(engine: Engine, exclude: Collection[int] = ()) -> list[int]:
    """RUNNING runs that no collector is executing: their collector was killed or stopped."""
    runs = CollectionRun.table()
    with engine.connect() as connection:
        ids = connection.execute(
            select(runs.c.id).where(runs.c.state == RUNNING).order_by(runs.c.id)
        ).scalars()
        candidates = [int(i) for i in ids if i not in exclude]
    return [run_id for run_id in candidates if locks.is_free(engine, locks.run_key(run_id))]
