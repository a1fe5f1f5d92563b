"""The daily spend per source (`daily_spend`), added to in the same transaction as what was read."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from datetime import UTC, date, datetime

from sqlalchemy import Engine, select
from sqlalchemy.engine import Connection

from tagpulse.db.engine import upsert
from tagpulse.db.models import DailySpend
from tagpulse.money import to_usd
from tagpulse_collector.metrics import BILLABLE_RESOURCES, DAILY_BUDGET_USD, SPEND_USD, SPENT_TODAY_USD
from tagpulse_collector.sources.base import BillableReads
from tagpulse_collector.spending.prices import SpendPolicy

log = logging.getLogger("tagpulse.spending")


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


def export_spend_gauges(engine: Engine, policy: SpendPolicy) -> None:
    """tagpulse_source_spent_today_usd read from the database at each scrape (every replica
    reports the same figure, whoever spent it; the alerts take the max), and the daily budgets."""
    for source, prices in policy.prices.items():
        if prices.free:
            continue
        budget = policy.daily_budget_micros.get(source)
        if budget is not None:
            DAILY_BUDGET_USD.labels(source=source).set(to_usd(budget))
        SPENT_TODAY_USD.labels(source=source).set_function(_spent_today_reader(engine, source))


def _spent_today_reader(engine: Engine, source: str) -> Callable[[], float]:
    def read() -> float:
        try:
            with engine.connect() as connection:
                return to_usd(spent_on(connection, source, utc_today()))
        except Exception as error:  # noqa: BLE001 - a scrape must not fail with the database
            log.warning("could not read today's spend", extra={"source": source, "reason": str(error)})
            return math.nan

    return read
