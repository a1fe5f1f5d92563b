"""Executing a collection run: collect every hashtag of it, page by page.

Each page is stored in its own transaction together with the hashtag's figures and its resume
position (the source's cursor for the next page), so the figures of a run always agree with
what was stored, and a run whose collector died resumes at the page after the last stored one.

A run executes while holding its run lock, and collects a hashtag while holding that hashtag's
lock (`locks.py`): a hashtag that another run is collecting from the same source is skipped,
and a RUNNING run that nobody holds was interrupted and may be resumed by any collector.

When the database fails under a run (PostgreSQL restarting, the connection dropped) the page in
flight was rolled back with its position, so the run stops where it is and stays RUNNING; its
lock went with the database session, and the executor's supervisor resumes it from the last
stored page. Only the source's errors and the run's own failures mark hashtags FAILED.

Incremental: once a hashtag was collected successfully, the next run asks the source only for
posts newer than the newest one it reported (`since_id`), so no known post is paid for twice.

Budgets (`spending.budget`): before each request the source asks whether the most its answer
can cost fits under the daily budget and the run's own; when it does not, the hashtag and the
run end STOPPED_BY_BUDGET with the page position stored. The next run of that hashtag starts at
that page (same since_id), then catches up with the posts newer than the stopped run's newest.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any

from sqlalchemy import Engine, func, select, update
from sqlalchemy.engine import Connection, Row

from tagpulse.db.engine import DATABASE_OUTAGES, upsert
from tagpulse.db.models import CollectionRun, CollectionRunHashtag, Hashtag
from tagpulse.money import to_usd
from tagpulse_collector import locks
from tagpulse_collector.catalog import SourceNotConfigured
from tagpulse_collector.counts import refresh_x_counts
from tagpulse_collector.ingestion.batches import IngestResult, in_transaction, ingest_page
from tagpulse_collector.ingestion.statistics import analyze_grown
from tagpulse_collector.metrics import (
    COLLECTION_RUNS,
    POSTS_DUPLICATE,
    POSTS_FETCHED,
    POSTS_NEW,
    RUN_SECONDS,
    run_outcome,
)
from tagpulse_collector.runs.store import (
    FAILED,
    FINISHED_HASHTAG_STATES,
    PARTIALLY_SUCCEEDED,
    RUNNING,
    SKIPPED,
    STOPPED_BY_BUDGET,
    SUCCEEDED,
    RunRecord,
    get_run,
)
from tagpulse_collector.sources.base import BillableReads, Page, Source
from tagpulse_collector.sources.errors import Interrupted, SourceError
from tagpulse_collector.spending.budget import BudgetReached, RunBudget
from tagpulse_collector.spending.ledger import record_spend
from tagpulse_collector.spending.prices import FREE_OF_CHARGE, SpendPolicy, UnitPrices

log = logging.getLogger("tagpulse.collection")


@dataclass(frozen=True)
class StartPosition:
    """Where a new collection of a hashtag starts."""

    # A page to start at (a budget stopped an earlier run before it), with the since_id it
    # belongs to; None: the newest posts.
    cursor: str | None = None
    since_id: str | None = None
    # The newest post the stopped run had seen, and what to search after the stretch at
    # `cursor`: posts newer than it, which arrived after the stopped run began.
    newest_id: str | None = None
    catch_up_since_id: str | None = None


# Earlier runs of a hashtag looked at for its start position.
POSITION_HISTORY = 20


def start_position(connection: Connection, source: str, hashtag: str) -> StartPosition:
    """At the page where a budget stopped the last collection of (source, hashtag), then catching
    up; else after the newest post of the last complete collection; else the newest posts. So no
    post already paid for is asked for again."""
    runs, progress = CollectionRun.table(), CollectionRunHashtag.table()
    rows = connection.execute(
        select(progress)
        .join(runs, runs.c.id == progress.c.run_id)
        .where(
            progress.c.hashtag == hashtag,
            runs.c.source == source,
            progress.c.state.in_((SUCCEEDED, STOPPED_BY_BUDGET)),
        )
        .order_by(progress.c.run_id.desc())
        .limit(POSITION_HISTORY)
    )
    for row in rows:
        if row.state == SUCCEEDED and row.newest_id is not None:
            return StartPosition(since_id=row.newest_id)
        if row.state == STOPPED_BY_BUDGET and row.next_page_token is not None:
            return StartPosition(
                cursor=row.next_page_token,
                since_id=row.since_id,
                newest_id=row.newest_id,
                catch_up_since_id=row.catch_up_since_id or row.newest_id,
            )
        if row.state == STOPPED_BY_BUDGET and row.catch_up_since_id is not None:
            return StartPosition(since_id=row.catch_up_since_id)
    return StartPosition()


class _RunStopped(Exception):
    """Marks the remaining hashtags when an earlier one stopped the run."""


def execute_run(
    engine: Engine,
    run_id: int,
    source_for: Callable[[str], Source],
    stop: threading.Event | None = None,
    resumed: bool = False,
    max_resumes: int | None = None,
    spend: SpendPolicy = FREE_OF_CHARGE,
) -> RunRecord | None:
    """Collect every unfinished hashtag of a run; None when another collector is executing it
    or the database failed under it (it stays RUNNING, to be resumed).

    A failing hashtag does not stop the others, unless its error says the rest would fail
    the same way (credentials, usage cap, spent credits). A budget stops the run before a page
    that could pass it: that hashtag and the rest end STOPPED_BY_BUDGET. When `stop` is set
    (shutdown) the run stops after the page in flight and stays RUNNING, to be resumed. A run
    resumed more than `max_resumes` times is given up: its unfinished hashtags fail.
    """
    try:
        return _execute_run(
            engine, run_id, source_for, stop or threading.Event(), resumed, max_resumes, spend
        )
    except DATABASE_OUTAGES as error:
        log.warning(
            "collection paused: the database failed under it; it stays RUNNING and is resumed",
            extra={"run_id": run_id, "reason": f"{type(error).__name__}: {error}"},
        )
        return None


def _execute_run(
    engine: Engine,
    run_id: int,
    source_for: Callable[[str], Source],
    stop: threading.Event,
    resumed: bool,
    max_resumes: int | None,
    spend: SpendPolicy,
) -> RunRecord | None:
    with locks.lease(engine) as lease:
        if not lease.try_lock(locks.run_key(run_id)):
            return None
        run = _load_run(engine, run_id)
        if run is None or run.state != RUNNING:
            return get_run(engine, run_id)
        started = time.monotonic()
        if resumed and max_resumes is not None and run.resume_count >= max_resumes:
            return _give_up(engine, run, time.monotonic() - started)
        if resumed:
            _count_resume(engine, run_id)
        log.info(
            "collection resumed" if resumed else "collection started",
            extra={"run_id": run_id, "source": run.source, "hashtags": list(run.hashtags)},
        )
        # Once set, the remaining hashtags end in `stop_state` with this reason.
        stop_state, stop_reason = FAILED, ""
        try:
            source: Source | None = source_for(run.source)
        except SourceNotConfigured as error:
            source, stop_reason = None, str(error)
        for row in _hashtag_rows(engine, run_id, run.hashtags):
            if row.state in FINISHED_HASHTAG_STATES:
                continue
            if stop.is_set():
                return _interrupted(engine, run_id)
            if not lease.alive():
                log.warning(
                    "collection paused: its database session broke and its locks with it; "
                    "it stays RUNNING and is resumed",
                    extra={"run_id": run_id},
                )
                return None
            if source is None or stop_reason:
                _finish_hashtag(engine, run_id, row.hashtag, stop_state, f"not collected: {stop_reason}")
                continue
            key = locks.hashtag_key(run.source, row.hashtag)
            if not lease.try_lock(key):
                _finish_hashtag(
                    engine, run_id, row.hashtag, SKIPPED, "another run is collecting this hashtag right now"
                )
                continue
            budget = RunBudget(engine, spend, run.source, run.id, row.hashtag, run.max_cost_micros)
            try:
                _collect_hashtag(engine, run, row, source, stop, spend.prices_of(run.source), budget)
            except Interrupted:
                return _interrupted(engine, run_id)
            except BudgetReached as error:
                log.warning(
                    "hashtag stopped by the budget",
                    extra={"run_id": run_id, "hashtag": row.hashtag, "reason": str(error)},
                )
                _finish_hashtag(engine, run_id, row.hashtag, STOPPED_BY_BUDGET, str(error), error.requests, 0)
                stop_state, stop_reason = STOPPED_BY_BUDGET, f"the run stopped: {error}"
            except SourceError as error:
                log.warning(
                    "hashtag failed",
                    extra={"run_id": run_id, "hashtag": row.hashtag, "reason": str(error)},
                )
                _finish_hashtag(engine, run_id, row.hashtag, FAILED, str(error), error.requests, error.errors)
                if error.stops_run:
                    stop_reason = f"the run stopped: {error}"
            except DATABASE_OUTAGES:
                raise
            except Exception as error:
                log.exception("hashtag failed", extra={"run_id": run_id, "hashtag": row.hashtag})
                _finish_hashtag(engine, run_id, row.hashtag, FAILED, f"{type(error).__name__}: {error}", 0, 1)
            finally:
                lease.unlock(key)
        return _finish_run(engine, run_id, run.source, stop_reason, time.monotonic() - started)


def _load_run(engine: Engine, run_id: int) -> Row[Any] | None:
    with engine.connect() as connection:
        return connection.execute(select(CollectionRun.table()).where(CollectionRun.id == run_id)).first()


def _hashtag_rows(engine: Engine, run_id: int, order: Sequence[str]) -> list[Row[Any]]:
    progress = CollectionRunHashtag.table()
    with engine.connect() as connection:
        rows = connection.execute(select(progress).where(progress.c.run_id == run_id)).all()
    return sorted(rows, key=lambda r: order.index(r.hashtag) if r.hashtag in order else len(order))


def _count_resume(engine: Engine, run_id: int) -> None:
    runs = CollectionRun.table()
    with engine.begin() as connection:
        connection.execute(
            update(runs).where(runs.c.id == run_id).values(resume_count=runs.c.resume_count + 1)
        )


def _give_up(engine: Engine, run: Row[Any], seconds: float) -> RunRecord:
    reason = (
        f"given up after {run.resume_count} resumes: the run was interrupted every time "
        "(the collector's log says why)"
    )
    for row in _hashtag_rows(engine, run.id, run.hashtags):
        if row.state not in FINISHED_HASHTAG_STATES:
            _finish_hashtag(engine, run.id, row.hashtag, FAILED, f"not collected: {reason}")
    log.error("collection given up", extra={"run_id": run.id, "resume_count": run.resume_count})
    return _finish_run(engine, run.id, run.source, reason, seconds)


def _interrupted(engine: Engine, run_id: int) -> RunRecord | None:
    log.info("collection interrupted; it resumes on the next start", extra={"run_id": run_id})
    return get_run(engine, run_id)


def _collect_hashtag(
    engine: Engine,
    run: Row[Any],
    row: Row[Any],
    source: Source,
    stop: threading.Event,
    prices: UnitPrices,
    budget: RunBudget,
) -> None:
    progress = CollectionRunHashtag.table()
    where = (progress.c.run_id == run.id, progress.c.hashtag == row.hashtag)
    if row.state == RUNNING and row.pages > 0:
        # Killed after storing `pages` pages: go on from the position saved with the last one.
        cursor, since_id, catch_up = row.next_page_token, row.since_id, row.catch_up_since_id
        if (cursor is None and catch_up is None) or row.posts_fetched >= run.max_posts_per_hashtag:
            _finish_hashtag(engine, run.id, row.hashtag, SUCCEEDED, "")
            return
        log.info(
            "hashtag resumed",
            extra={
                "run_id": run.id,
                "hashtag": row.hashtag,
                "pages_stored": row.pages,
                "page": row.pages + 1,
            },
        )
    else:
        with engine.begin() as connection:
            position = start_position(connection, run.source, row.hashtag)
            connection.execute(
                update(progress)
                .where(*where)
                .values(
                    state=RUNNING,
                    next_page_token=position.cursor,
                    since_id=position.since_id,
                    newest_id=position.newest_id,
                    catch_up_since_id=position.catch_up_since_id,
                    started_at=func.coalesce(progress.c.started_at, _now()),
                )
            )
        cursor, since_id, catch_up = position.cursor, position.since_id, position.catch_up_since_id
        if cursor is not None:
            log.info(
                "hashtag goes on where a budget stopped an earlier run",
                extra={"run_id": run.id, "hashtag": row.hashtag},
            )
    refresh_x_counts(engine, source, run.id, row.hashtag, prices, budget.before_page)
    # The stretch at the saved position (or the newest posts), then the catch-up, if any.
    stretches = []
    if cursor is not None or catch_up is None:
        stretches.append((cursor, since_id, False))
    if catch_up is not None:
        stretches.append((None, catch_up, True))
    fetched, number = row.posts_fetched, row.pages
    for cursor, since_id, catching_up in stretches:
        left = run.max_posts_per_hashtag - fetched
        if left <= 0:
            break
        first = catching_up
        for page in source.search(row.hashtag, left, cursor, since_id, budget.before_page):
            number += 1
            began = time.monotonic()
            result = in_transaction(
                engine,
                partial(
                    _store_page,
                    run_id=run.id,
                    source=run.source,
                    hashtag=row.hashtag,
                    page=page,
                    billed=prices.billed(page.billed),
                    cost_micros=prices.cost(page.billed),
                    catch_up_begins=first,
                ),
            )
            first = False
            if result.new:
                analyze_grown(engine)
            fetched += result.fetched
            _page_stored(run, row.hashtag, number, page, result, time.monotonic() - began)
            if stop.is_set():
                raise Interrupted("the collector is shutting down")
    _finish_hashtag(engine, run.id, row.hashtag, SUCCEEDED, "")


def _page_stored(
    run: Row[Any], hashtag: str, number: int, page: Page, result: IngestResult, seconds: float
) -> None:
    POSTS_FETCHED.labels(source=run.source, hashtag=hashtag).inc(result.fetched)
    POSTS_NEW.labels(source=run.source, hashtag=hashtag).inc(result.new)
    POSTS_DUPLICATE.labels(source=run.source, hashtag=hashtag).inc(result.duplicate)
    log.info(
        "page stored",
        extra={
            "run_id": run.id,
            "source": run.source,
            "hashtag": hashtag,
            "page": number,
            "posts_fetched": result.fetched,
            "posts_new": result.new,
            "posts_duplicate": result.duplicate,
            "api_requests": page.requests,
            "errors": len(page.errors),
            "error_examples": list(page.errors[:3]),
            "has_next_page": page.next_cursor is not None,
            "posts_billed": page.billed.posts,
            "users_billed": page.billed.users,
            "seconds": round(seconds, 3),
        },
    )


def _now() -> datetime:
    return datetime.now(UTC)


def _store_page(
    connection: Connection,
    run_id: int,
    source: str,
    hashtag: str,
    page: Page,
    billed: BillableReads,
    cost_micros: int,
    catch_up_begins: bool,
) -> IngestResult:
    """The page, the hashtag's figures, its spend and its resume position, in one transaction.
    The first page of a catch-up makes it the hashtag's stretch: its since_id, and the newest
    post it reports as the hashtag's newest."""
    runs, progress = CollectionRun.table(), CollectionRunHashtag.table()
    result = ingest_page(connection, page)
    position: dict[str, Any] = {"next_page_token": page.next_cursor}
    if catch_up_begins:
        position |= {
            "since_id": progress.c.catch_up_since_id,
            "catch_up_since_id": None,
            "newest_id": func.coalesce(page.newest_id, progress.c.newest_id),
        }
    else:
        position["newest_id"] = func.coalesce(progress.c.newest_id, page.newest_id)
    connection.execute(
        update(progress)
        .where(progress.c.run_id == run_id, progress.c.hashtag == hashtag)
        .values(
            posts_fetched=progress.c.posts_fetched + result.fetched,
            posts_new=progress.c.posts_new + result.new,
            api_requests=progress.c.api_requests + page.requests,
            error_count=progress.c.error_count + len(page.errors),
            pages=progress.c.pages + 1,
            posts_billed=progress.c.posts_billed + billed.posts,
            users_billed=progress.c.users_billed + billed.users,
            cost_micros=progress.c.cost_micros + cost_micros,
            reserved_micros=0,
            **position,
        )
    )
    record_spend(connection, source, billed, cost_micros)
    connection.execute(
        update(runs)
        .where(runs.c.id == run_id)
        .values(
            posts_fetched=runs.c.posts_fetched + result.fetched,
            posts_new=runs.c.posts_new + result.new,
        )
    )
    return result


def _finish_hashtag(
    engine: Engine,
    run_id: int,
    hashtag: str,
    state: str,
    error_message: str,
    requests: int = 0,
    errors: int = 0,
) -> None:
    progress, hashtags = CollectionRunHashtag.table(), Hashtag.table()
    now = _now()
    with engine.begin() as connection:
        connection.execute(
            update(progress)
            .where(progress.c.run_id == run_id, progress.c.hashtag == hashtag)
            .values(
                state=state,
                error_message=error_message,
                api_requests=progress.c.api_requests + requests,
                error_count=progress.c.error_count + errors,
                started_at=func.coalesce(progress.c.started_at, now),
                ended_at=now,
                reserved_micros=0,
                # A complete collection leaves the next one its since_id even when it found nothing.
                newest_id=func.coalesce(progress.c.newest_id, progress.c.since_id)
                if state == SUCCEEDED
                else progress.c.newest_id,
            )
        )
        if state == SUCCEEDED:
            statement = upsert(connection, hashtags).values(
                name=hashtag, tracked=False, post_count=0, last_collected_at=now
            )
            connection.execute(
                statement.on_conflict_do_update(
                    index_elements=["name"], set_={"last_collected_at": statement.excluded.last_collected_at}
                )
            )


def _finish_run(engine: Engine, run_id: int, source: str, stop_reason: str, seconds: float) -> RunRecord:
    record = get_run(engine, run_id)
    assert record is not None
    states = [f.state for f in record.hashtag_figures]
    failed, total = states.count(FAILED), len(states)
    skipped = states.count(SKIPPED)
    if STOPPED_BY_BUDGET in states:
        state = STOPPED_BY_BUDGET
        message = stop_reason + (f" ({failed} of {total} hashtags failed before)" if failed else "")
    elif failed == 0:
        state = SUCCEEDED
        message = f"{skipped} of {total} hashtags skipped: another run was collecting them" if skipped else ""
    else:
        state = PARTIALLY_SUCCEEDED if failed < total else FAILED
        if stop_reason:
            message = stop_reason
        elif state == FAILED:
            message = "every hashtag failed"
        else:
            message = f"{failed} of {total} hashtags failed"
    runs = CollectionRun.table()
    with engine.begin() as connection:
        connection.execute(
            update(runs)
            .where(runs.c.id == run_id)
            .values(state=state, ended_at=_now(), error_message=message)
        )
    COLLECTION_RUNS.labels(source=source, outcome=run_outcome(state)).inc()
    RUN_SECONDS.labels(source=source).observe(seconds)
    record = get_run(engine, run_id)
    assert record is not None
    log.info(
        "collection finished",
        extra={
            "run_id": run_id,
            "source": source,
            "state": state,
            "reason": message,
            "posts_fetched": record.posts_fetched,
            "posts_new": record.posts_new,
            "posts_duplicate": record.posts_duplicate,
            "api_requests": record.api_requests,
            "errors": record.errors,
            "pages": record.pages,
            "posts_billed": record.posts_billed,
            "users_billed": record.users_billed,
            "cost_usd": to_usd(record.cost_micros),
            "hashtags_failed": failed,
            "hashtags_skipped": skipped,
            "resume_count": record.resume_count,
            "seconds": round(seconds, 3),
        },
    )
    return record
