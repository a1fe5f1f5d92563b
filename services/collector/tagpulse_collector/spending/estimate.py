"""What a collection would read and cost, before paying for it (EstimateCollection).

For each hashtag the estimate asks X's counts endpoint how many posts match since where the run
would start (`runs.execute.start_position`): after the newest stored post, or at the page a
budget stopped an earlier run. That is one counts request per hashtag, billed like any other and
checked against the daily budget first; no post is read and nothing but the spend is stored.
The run would then read those posts up to its limit, in pages of 100, after refreshing the
hashtag's stored counts when they are older than TAGPULSE_X_COUNTS_REFRESH_MINUTES.

Authors are priced at one per post, the most a page can bill; a run reading posts by fewer
authors costs less. Mastodon and the sample source have no counts endpoint and cost nothing:
the estimate says so rather than guess.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, func, select
from sqlalchemy.engine import Connection

from tagpulse.db.models import CollectionRun, CollectionRunHashtag
from tagpulse_collector.catalog import SourceCatalog
from tagpulse_collector.counts import last_fetch_time
from tagpulse_collector.runs.execute import start_position
from tagpulse_collector.runs.plan import CollectionPlan
from tagpulse_collector.runs.store import STOPPED_BY_BUDGET, SUCCEEDED
from tagpulse_collector.sources.base import BillableReads
from tagpulse_collector.sources.errors import SourceError
from tagpulse_collector.sources.x_api import MAX_RESULTS
from tagpulse_collector.sources.x_counts import count_recent
from tagpulse_collector.spending.budget import lock_today, reserved_by_others, usd_text
from tagpulse_collector.spending.ledger import record_spend, spent_on, utc_today
from tagpulse_collector.spending.prices import UnitPrices


@dataclass(frozen=True)
class HashtagEstimate:
    hashtag: str
    counts_available: bool
    posts_available: int = 0
    posts_to_read: int = 0
    search_requests: int = 0
    counts_requests: int = 0
    cost_micros: int = 0
    note: str = ""


@dataclass(frozen=True)
class CollectionEstimate:
    source: str
    hashtags: tuple[HashtagEstimate, ...]
    # What this estimate's counts requests cost, today's spend (them included), the budget.
    estimate_cost_micros: int = 0
    spent_today_micros: int = 0
    daily_budget_micros: int | None = None
    message: str = ""

    @property
    def api_requests(self) -> int:
        return sum(h.search_requests + h.counts_requests for h in self.hashtags)


def estimate_collection(
    engine: Engine, plan: CollectionPlan, catalog: SourceCatalog, stop: threading.Event | None = None
) -> CollectionEstimate:
    if plan.source != "x" or catalog.x is None:
        return CollectionEstimate(
            source=plan.source,
            hashtags=tuple(HashtagEstimate(tag, counts_available=False) for tag in plan.hashtags),
            message=(
                f"{plan.source} has no counts endpoint: how many posts a run would find is not known "
                "beforehand, and reading it costs nothing"
            ),
        )
    prices = catalog.spend.prices_of("x")
    daily = catalog.spend.daily_budget_micros.get("x")
    hashtags, spent_on_counts = [], 0
    for hashtag in plan.hashtags:
        estimate, cost = _estimate_hashtag(engine, plan, catalog, prices, daily, hashtag, stop)
        hashtags.append(estimate)
        spent_on_counts += cost
    with engine.connect() as connection:
        spent_today = spent_on(connection, "x", utc_today())
    return CollectionEstimate(
        source="x",
        hashtags=tuple(hashtags),
        estimate_cost_micros=spent_on_counts,
        spent_today_micros=spent_today,
        daily_budget_micros=daily,
    )


def _estimate_hashtag(
    engine: Engine,
    plan: CollectionPlan,
    catalog: SourceCatalog,
    prices: UnitPrices,
    daily: int | None,
    hashtag: str,
    stop: threading.Event | None,
) -> tuple[HashtagEstimate, int]:
    """The estimate of one hashtag and what its counts request cost."""
    assert catalog.x is not None
    with engine.connect() as connection:
        position = start_position(connection, "x", hashtag)
        already_read = _read_since_last_success(connection, hashtag) if position.cursor is not None else 0
        counts_fetched_at = last_fetch_time(connection, hashtag)
    refresh = catalog.x_counts_refresh_minutes
    stale = counts_fetched_at is None or datetime.now(UTC) - counts_fetched_at >= timedelta(minutes=refresh)
    run_counts = 1 if refresh > 0 and stale else 0
    problem, cost = _pay_for_counts(engine, prices, daily)
    if problem:
        return HashtagEstimate(hashtag, counts_available=False, counts_requests=run_counts, note=problem), 0
    try:
        counts = count_recent(
            catalog.x, hashtag, catalog.x_include_retweets, since_id=position.since_id, stop=stop
        )
    except SourceError as error:
        return HashtagEstimate(
            hashtag, counts_available=False, counts_requests=run_counts, note=f"X counts: {error}"
        ), cost
    available = max(counts.total - already_read, 0)
    to_read = min(available, plan.max_posts_per_hashtag)
    # X answers even an empty search with one page; a run resumed at a stopped page then
    # catches up with one more search.
    pages = max(1, math.ceil(to_read / MAX_RESULTS)) + (1 if position.catch_up_since_id else 0)
    note = (
        f"goes on at the page where a budget stopped an earlier run ({already_read} posts read before it)"
        if position.cursor is not None
        else ""
    )
    reads = BillableReads(posts=to_read, users=to_read, counts_requests=run_counts)
    return HashtagEstimate(
        hashtag,
        counts_available=True,
        posts_available=available,
        posts_to_read=to_read,
        search_requests=pages,
        counts_requests=run_counts,
        cost_micros=prices.cost(reads),
        note=note,
    ), cost


def _pay_for_counts(engine: Engine, prices: UnitPrices, daily: int | None) -> tuple[str, int]:
    """Check the daily budget holds a counts request and bill it before it is sent (a request
    that then fails stays billed: the figures err on the side of more)."""
    reads = prices.billed(BillableReads(counts_requests=1))
    cost = prices.cost(reads)
    with engine.begin() as connection:
        if daily is not None:
            spent = lock_today(connection, "x") + reserved_by_others(connection, "x")
            if spent + cost > daily:
                return (
                    f"no counts request: the daily budget of {usd_text(daily)} leaves "
                    f"{usd_text(max(daily - spent, 0))} and a counts request costs {usd_text(cost)}",
                    0,
                )
        record_spend(connection, "x", reads, cost)
    return "", cost


def _read_since_last_success(connection: Connection, hashtag: str) -> int:
    """Posts read by the budget-stopped runs of `hashtag` after its last complete collection."""
    runs, progress = CollectionRun.table(), CollectionRunHashtag.table()
    of_hashtag = (progress.c.hashtag == hashtag, runs.c.source == "x")
    joined = progress.join(runs, runs.c.id == progress.c.run_id)
    last_success = (
        select(func.coalesce(func.max(progress.c.run_id), 0))
        .select_from(joined)
        .where(*of_hashtag, progress.c.state == SUCCEEDED)
        .scalar_subquery()
    )
    read = connection.execute(
        select(func.coalesce(func.sum(progress.c.posts_fetched), 0))
        .select_from(joined)
        .where(*of_hashtag, progress.c.state == STOPPED_BY_BUDGET, progress.c.run_id > last_success)
    ).scalar_one()
    return int(read)
