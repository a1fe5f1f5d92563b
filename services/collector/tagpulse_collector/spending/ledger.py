"""The daily spend per source (`daily_spend`), added to in the same transaction as what was read."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import select
from sqlalchemy.engine import Connection

from tagpulse.db.engine import upsert
from tagpulse.db.models import DailySpend
from tagpulse.money import to_usd
from tagpulse_collector.metrics import BILLABLE_RESOURCES, SPEND_USD
from tagpulse_collector.sources.base import BillableReads


def utc_today() -> date:
    return datetime.now(UTC).date()


def record_spend(connection: Connection, source: str, reads: BillableReads, cost_micros: int) -> None:
    """Add to today's spend of `source`, in the caller's transaction."""
    if not (reads.posts or reads.users or reads.counts_requests or cost_micros):
        return
    table = DailySpend.table()
    statement = upsert(connection, table).values(
        day=utc_today(),
        source=source,
        posts_billed=reads.posts,
        users_billed=reads.users,
        counts_requests=reads.counts_requests,
        cost_micros=cost_micros,
    )
    added = ("posts_billed", "users_billed", "counts_requests", "cost_micros")
    connection.execute(
        statement.on_conflict_do_update(
            index_elements=["day", "source"],
            set_={column: table.c[column] + statement.excluded[column] for column in added},
        )
    )
    # The metrics count it now: a page whose transaction then rolls back is read and counted
    # again (a rate may run slightly high; the table is the exact figure).
    SPEND_USD.labels(source=source).inc(to_usd(cost_micros))
    for kind, amount in (
        ("post", reads.posts),
        ("user", reads.users),
        ("counts_request", reads.counts_requests),
    ):
        if amount:
            BILLABLE_RESOURCES.labels(source=source, kind=kind).inc(amount)


def spent_on(connection: Connection, source: str, day: date) -> int:
    """Micro-dollars spent on `source` in that UTC day."""
    table = DailySpend.table()
    spent = connection.execute(
        select(table.c.cost_micros).where(table.c.day == day, table.c.source == source)
    ).scalar()
    return int(spent or 0)
