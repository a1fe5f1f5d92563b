"""The budgets a collection run reads under: the daily budget of the source (UTC day, the window
in which X bills a resource once) and the run's own `maxCostUsd`.

Before each request the source says the most its answer can bill (`BillableReads`); the check
passes only when that much still fits under both budgets, counting what other runs have reserved
for the pages they are reading. The amount is then reserved on the hashtag's progress row until
the page is stored (its real cost replaces the reservation in the page's transaction). A
reservation dies with its hashtag (finished) or is overwritten when a killed run resumes, so a
crash cannot hold a budget for ever. PostgreSQL serializes the checks with a row lock on the
day's spend; SQLite (one collector) with a process lock.
"""

from __future__ import annotations

import threading

from sqlalchemy import Engine, and_, func, select, update
from sqlalchemy.engine import Connection

from tagpulse.db.engine import upsert
from tagpulse.db.models import CollectionRun, CollectionRunHashtag, DailySpend
from tagpulse.money import to_usd
from tagpulse_collector.metrics import BUDGET_STOPS
from tagpulse_collector.sources.base import BillableReads
from tagpulse_collector.sources.errors import SourceError
from tagpulse_collector.spending.ledger import utc_today
from tagpulse_collector.spending.prices import SpendPolicy

# Progress states that may hold a reservation.
RUNNING = "RUNNING"

_process_lock = threading.Lock()


# Which budget stopped a run: the label of tagpulse_source_budget_stops_total.
DAILY, RUN = "daily", "run"


class BudgetReached(SourceError):
    """The next page could cost more than a budget leaves: the run stops before reading it, and
    the next run resumes at that page."""

    stops_run = True

    def __init__(self, message: str, budget: str) -> None:
        super().__init__(message, requests=0, errors=0)
        # DAILY or RUN.
        self.budget = budget


def usd_text(micros: int) -> str:
    return f"${to_usd(micros):,.4f}".rstrip("0").rstrip(".")


class RunBudget:
    """The budget check of one hashtag of one run (`before_page` is what the source calls)."""

    def __init__(
        self,
        engine: Engine,
        policy: SpendPolicy,
        source: str,
        run_id: int,
        hashtag: str,
        max_cost_micros: int | None,
    ) -> None:
        self.engine = engine
        self.prices = policy.prices_of(source)
        self.daily_micros = policy.daily_budget_micros.get(source)
        self.source = source
        self.run_id = run_id
        self.hashtag = hashtag
        self.max_cost_micros = max_cost_micros

    def before_page(self, most: BillableReads) -> None:
        """Reserve what the next request can cost; BudgetReached when a budget cannot hold it."""
        cost = self.prices.cost(most)
        if cost == 0 or (self.daily_micros is None and self.max_cost_micros is None):
            return
        with _process_lock, self.engine.begin() as connection:
            budget, problem = self._problem(connection, cost)
            if problem:
                BUDGET_STOPS.labels(source=self.source, budget=budget).inc()
                raise BudgetReached(problem, budget)
            progress = CollectionRunHashtag.table()
            connection.execute(
                update(progress)
                .where(progress.c.run_id == self.run_id, progress.c.hashtag == self.hashtag)
                .values(reserved_micros=cost)
            )

    def _problem(self, connection: Connection, cost: int) -> tuple[str, str]:
        """Which budget cannot hold `cost`, and why; ("", "") when both can."""
        if self.daily_micros is not None:
            spent = lock_today(connection, self.source)
            reserved = reserved_by_others(connection, self.source, (self.run_id, self.hashtag))
            if spent + reserved + cost > self.daily_micros:
                return DAILY, (
                    f"the daily budget of {usd_text(self.daily_micros)} for {self.source} would be passed: "
                    f"{usd_text(spent)} spent today, {usd_text(reserved)} held by other runs' pages, and "
                    f"the next page may cost up to {usd_text(cost)}; the next run resumes at that page"
                )
        if self.max_cost_micros is not None:
            progress = CollectionRunHashtag.table()
            spent = connection.execute(
                select(func.coalesce(func.sum(progress.c.cost_micros), 0)).where(
                    progress.c.run_id == self.run_id
                )
            ).scalar_one()
            if int(spent) + cost > self.max_cost_micros:
                return RUN, (
                    f"the run's maxCostUsd of {usd_text(self.max_cost_micros)} would be passed: it spent "
                    f"{usd_text(int(spent))} and the next page may cost up to {usd_text(cost)}; "
                    "the next run resumes at that page"
                )
        return "", ""


def lock_today(connection: Connection, source: str) -> int:
    """Today's spend of `source`, its row locked until the transaction ends."""
    table = DailySpend.table()
    day = utc_today()
    connection.execute(
        upsert(connection, table)
        .values(day=day, source=source, posts_billed=0, users_billed=0, counts_requests=0, cost_micros=0)
        .on_conflict_do_nothing(index_elements=["day", "source"])
    )
    return int(
        connection.execute(
            select(table.c.cost_micros).where(table.c.day == day, table.c.source == source).with_for_update()
        ).scalar_one()
    )


def reserved_by_others(connection: Connection, source: str, mine: tuple[int, str] | None = None) -> int:
    """What the pages being read from `source` hold, but for the hashtag `mine` (run id, hashtag)."""
    progress, runs = CollectionRunHashtag.table(), CollectionRun.table()
    statement = (
        select(func.coalesce(func.sum(progress.c.reserved_micros), 0))
        .select_from(progress.join(runs, runs.c.id == progress.c.run_id))
        .where(runs.c.source == source, runs.c.state == RUNNING, progress.c.state == RUNNING)
    )
    if mine is not None:
        statement = statement.where(~and_(progress.c.run_id == mine[0], progress.c.hashtag == mine[1]))
    return int(connection.execute(statement).scalar_one())
