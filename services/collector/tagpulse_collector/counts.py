"""X's hourly counts of a hashtag, kept fresh by the collections that read it.

When a collection from X starts on a hashtag whose stored counts are older than
`TAGPULSE_X_COUNTS_REFRESH_MINUTES`, the collector (which holds the token) fetches the last 7 days
of counts (`sources/x_counts.py`) and replaces the stored ones; the query service's coverage route
reads them beside the posts stored. One counts request is billed (about $0.005), so refreshing at
most every N minutes bounds what the counts cost however often runs start.

Counts are an extra: a failure is logged and counted in the hashtag's errors, and the hashtag is
collected all the same. Only spent credits (HTTP 402) and the budgets stop the run, as they would
on the first search page, and a shutdown interrupts it as usual.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from functools import partial

from sqlalchemy import Engine, delete, select, update
from sqlalchemy.engine import Connection

from tagpulse.db.engine import upsert
from tagpulse.db.models import CollectionRunHashtag, XHourlyPostCount, XPostCountFetch
from tagpulse_collector.ingestion.batches import in_transaction
from tagpulse_collector.sources.base import BeforePage, BillableReads, Source, no_budget
from tagpulse_collector.sources.errors import CreditsDepleted, Interrupted, SourceError
from tagpulse_collector.sources.x_api import XApiSource
from tagpulse_collector.sources.x_counts import RecentCounts, count_recent
from tagpulse_collector.sources.x_payloads import SOURCE_NAME
from tagpulse_collector.spending.ledger import record_spend
from tagpulse_collector.spending.prices import FREE, UnitPrices

log = logging.getLogger("tagpulse.collection")


def refresh_x_counts(
    engine: Engine,
    source: Source,
    run_id: int,
    hashtag: str,
    prices: UnitPrices = FREE,
    before_request: BeforePage = no_budget,
) -> int:
    """Fetch and store X's hourly counts of `hashtag` when `source` is X's search and the stored
    ones are older than its refresh interval. Returns the counts requests made; 0 when nothing
    was fetched. The request passes the budgets first (`before_request`, which raises when it
    cannot), and is billed to the hashtag and the day with the stored counts."""
    if not isinstance(source, XApiSource) or source.counts_refresh_minutes <= 0:
        return 0
    now = datetime.now(UTC)
    with engine.connect() as connection:
        fetched_at = last_fetch_time(connection, hashtag)
    if fetched_at is not None and now - fetched_at < timedelta(minutes=source.counts_refresh_minutes):
        return 0
    extra = {"run_id": run_id, "hashtag": hashtag}
    before_request(BillableReads(counts_requests=1))
    try:
        counts = count_recent(
            source.x_access, hashtag, source.include_retweets, stop=source.stop, transport=source.transport
        )
    except (CreditsDepleted, Interrupted):
        raise
    except SourceError as error:
        log.warning(
            "X counts not refreshed; the hashtag is collected all the same",
            extra={**extra, "reason": str(error)},
        )
        _count_errors(engine, run_id, hashtag, error.errors)
        return error.requests
    except Exception:
        log.exception("X counts not refreshed; the hashtag is collected all the same", extra=extra)
        _count_errors(engine, run_id, hashtag, 1)
        return 0
    billed = prices.billed(BillableReads(counts_requests=counts.requests))
    in_transaction(
        engine,
        partial(
            _store_and_bill,
            run_id=run_id,
            hashtag=hashtag,
            counts=counts,
            fetched_at=now,
            billed=billed,
            cost_micros=prices.cost(billed),
        ),
    )
    log.info(
        "X counts refreshed",
        extra={
            **extra,
            "buckets": len(counts.buckets),
            "x_posts": counts.total,
            "api_requests": counts.requests,
        },
    )
    return counts.requests


def last_fetch_time(connection: Connection, hashtag: str) -> datetime | None:
    """When X's counts of `hashtag` were last stored; None when never."""
    fetches = XPostCountFetch.table()
    return connection.execute(select(fetches.c.fetched_at).where(fetches.c.hashtag == hashtag)).scalar()


def store_counts(connection: Connection, hashtag: str, counts: RecentCounts, fetched_at: datetime) -> None:
    """Replace the hashtag's stored buckets with these, and record when they were fetched."""
    fetches, buckets = XPostCountFetch.table(), XHourlyPostCount.table()
    connection.execute(delete(buckets).where(buckets.c.hashtag == hashtag))
    statement = upsert(connection, fetches).values(hashtag=hashtag, query=counts.query, fetched_at=fetched_at)
    connection.execute(
        statement.on_conflict_do_update(
            index_elements=["hashtag"],
            set_={"query": statement.excluded.query, "fetched_at": statement.excluded.fetched_at},
        )
    )
    # Pages of one answer do not overlap, but a repeated bucket must not fail the whole refresh.
    by_start = {bucket.start: bucket for bucket in counts.buckets}
    if by_start:
        connection.execute(
            buckets.insert(),
            [
                {"hashtag": hashtag, "bucket_start": b.start, "bucket_end": b.end, "post_count": b.count}
                for _, b in sorted(by_start.items())
            ],
        )


def _store_and_bill(
    connection: Connection,
    run_id: int,
    hashtag: str,
    counts: RecentCounts,
    fetched_at: datetime,
    billed: BillableReads,
    cost_micros: int,
) -> None:
    store_counts(connection, hashtag, counts, fetched_at)
    progress = CollectionRunHashtag.table()
    connection.execute(
        update(progress)
        .where(progress.c.run_id == run_id, progress.c.hashtag == hashtag)
        .values(
            api_requests=progress.c.api_requests + counts.requests,
            counts_requests=progress.c.counts_requests + billed.counts_requests,
            cost_micros=progress.c.cost_micros + cost_micros,
            reserved_micros=0,
        )
    )
    record_spend(connection, SOURCE_NAME, billed, cost_micros)


def _count_errors(engine: Engine, run_id: int, hashtag: str, errors: int) -> None:
    progress = CollectionRunHashtag.table()
    with engine.begin() as connection:
        connection.execute(
            update(progress)
            .where(progress.c.run_id == run_id, progress.c.hashtag == hashtag)
            .values(error_count=progress.c.error_count + errors)
        )
