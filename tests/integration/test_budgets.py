"""Spend and budgets of X collection runs against the fake X API: what a run is billed equals
what the fake served, a budget stops a run before a page that could pass it, and the next run
goes on at that page without reading again what was paid for."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from sqlalchemy import Engine, func, select, update

from tagpulse.db.models import CollectionRunHashtag, DailySpend, Post
from tagpulse.settings import Settings
from tagpulse_collector.catalog import SourceCatalog
from tagpulse_collector.counts import last_fetch_time
from tagpulse_collector.runs.execute import execute_run
from tagpulse_collector.runs.plan import plan_collection
from tagpulse_collector.runs.store import RunRecord, start_run
from tagpulse_collector.sources.base import BillableReads
from tagpulse_collector.sources.x_api import XAccess
from tagpulse_collector.spending.budget import BudgetReached, RunBudget
from tagpulse_collector.spending.estimate import estimate_collection
from tagpulse_collector.spending.prices import SpendPolicy, UnitPrices, spend_policy
from tests.conftest import FAKE_X_TOKEN
from tests.integration.test_ingest import assert_rollups_match_a_recount
from tests.integration.test_x_collection import HASHTAGS, WITH_X, x_source
from tests.support.fake_x import FakeXApi, credits_depleted, load_pages, page_number
from tests.support.policies import FAST

POST = 5_000  # $0.005, in millionths of a dollar
# Full pages of 100 posts and no user objects billed: a page costs exactly its most, 100 posts.
PAGE = 100 * POST
POSTS_ONLY = UnitPrices(post_micros=POST, user_micros=10_000, counts_request_micros=5_000, users_billed=False)
FULL = "fullpages"


def with_daily_budget(micros: int | None) -> SpendPolicy:
    return SpendPolicy(prices={"x": POSTS_ONLY}, daily_budget_micros={} if micros is None else {"x": micros})


@pytest.fixture
def full_pages(fake_x: FakeXApi) -> list[dict[str, Any]]:
    """The five recorded #BlackLivesMatter pages with every post made an original (no retweets),
    so that each page the fake serves holds 100 posts."""
    pages = load_pages("blacklivesmatter.jsonl")
    for page in pages:
        for tweet in page["data"]:
            tweet.pop("referenced_tweets", None)
    fake_x.pages[FULL] = pages
    return pages


def run(
    engine: Engine, fake_x: FakeXApi, spend: SpendPolicy, hashtags: list[str], max_cost_usd: float = 0.0
) -> RunRecord:
    plan = plan_collection(hashtags, 1000, "x", [], WITH_X, max_cost_usd)
    record = execute_run(engine, start_run(engine, plan, []), lambda _name: x_source(fake_x), spend=spend)
    assert record is not None
    return record


def daily_spend(engine: Engine) -> tuple[int, int, int]:
    with engine.connect() as connection:
        rows = connection.execute(select(DailySpend.table()).where(DailySpend.source == "x")).all()
    assert len(rows) <= 1
    return (rows[0].posts_billed, rows[0].users_billed, rows[0].cost_micros) if rows else (0, 0, 0)


def ids_of(pages: list[dict[str, Any]]) -> set[str]:
    return {tweet["id"] for page in pages for tweet in page["data"]}


def test_a_run_is_billed_exactly_what_x_served(engine: Engine, fake_x: FakeXApi) -> None:
    prices = spend_policy(Settings())  # today's published prices, users billed
    record = run(engine, fake_x, prices, HASHTAGS)
    assert record.state == "SUCCEEDED", record
    x = prices.prices_of("x")
    assert (x.post_micros, x.user_micros, x.users_billed) == (5_000, 10_000, True)
    served = fake_x.billed
    assert served["posts"] > 0
    assert served["users"] > 0
    assert (record.posts_billed, record.users_billed) == (served["posts"], served["users"])
    assert record.cost_micros == served["posts"] * 5_000 + served["users"] * 10_000
    assert sum(f.cost_micros for f in record.hashtag_figures) == record.cost_micros
    assert daily_spend(engine) == (served["posts"], served["users"], record.cost_micros)


def test_a_daily_budget_of_two_and_a_half_pages_stops_after_two_and_the_next_run_reads_page_three(
    engine: Engine, fake_x: FakeXApi, full_pages: list[dict[str, Any]]
) -> None:
    budget = with_daily_budget(5 * PAGE // 2)
    first = run(engine, fake_x, budget, [FULL])
    (figures,) = first.hashtag_figures
    assert (first.state, figures.state, figures.pages) == ("STOPPED_BY_BUDGET", "STOPPED_BY_BUDGET", 2)
    assert "daily budget of $1.25 for x would be passed" in figures.error_message
    assert first.error_message.startswith("the run stopped: the daily budget")
    assert (figures.posts_billed, figures.cost_micros) == (200, 2 * PAGE)
    assert [page_number(r, full_pages) for r in fake_x.search_requests(FULL)] == [1, 2]

    # The same day, the same budget: stopped before its first page; the position is kept.
    second = run(engine, fake_x, budget, [FULL])
    assert (second.state, second.pages, second.cost_micros) == ("STOPPED_BY_BUDGET", 0, 0)
    assert len(fake_x.search_requests(FULL)) == 2

    third = run(engine, fake_x, with_daily_budget(100 * PAGE), [FULL])
    assert third.state == "SUCCEEDED", third
    asked = fake_x.search_requests(FULL)[2:]
    # Pages 3 to 5 with the stopped run's query, then only what is newer than its newest post.
    assert [page_number(r, full_pages) for r in asked] == [3, 4, 5, 1]
    assert [r.query.get("since_id") for r in asked] == [
        None,
        None,
        None,
        max(ids_of(full_pages[:1]), key=int),
    ]
    assert (third.posts_fetched, third.posts_new, third.posts_billed) == (300, 300, 300)
    with engine.connect() as connection:
        stored = set(connection.execute(select(Post.id)).scalars())
    assert stored == ids_of(full_pages)
    # Every post billed once, over the three runs, as the fake served them.
    total = first.cost_micros + second.cost_micros + third.cost_micros
    assert daily_spend(engine) == (500, 0, total) == (fake_x.billed["posts"], 0, 500 * POST)
    assert_rollups_match_a_recount(engine)

    # The run after that asks only for posts newer than the newest stored one.
    fourth = run(engine, fake_x, with_daily_budget(100 * PAGE), [FULL])
    assert (fourth.state, fourth.posts_fetched) == ("SUCCEEDED", 0)
    assert fake_x.search_requests(FULL)[-1].query.get("since_id") == max(ids_of(full_pages), key=int)


def test_a_runs_max_cost_stops_it_before_a_page_that_could_pass_it(
    engine: Engine, fake_x: FakeXApi, full_pages: list[dict[str, Any]]
) -> None:
    record = run(engine, fake_x, with_daily_budget(None), [FULL, "kpop"], max_cost_usd=1.25)
    full, kpop = record.hashtag_figures
    assert (record.state, full.state, full.pages, full.cost_micros) == (
        "STOPPED_BY_BUDGET",
        "STOPPED_BY_BUDGET",
        2,
        2 * PAGE,
    )
    assert "maxCostUsd of $1.25 would be passed" in full.error_message
    assert record.max_cost_micros == 1_250_000
    assert kpop.state == "STOPPED_BY_BUDGET"
    assert kpop.error_message.startswith("not collected: the run stopped: the run's maxCostUsd")
    assert fake_x.search_requests("kpop") == []
    assert record.cost_micros <= 1_250_000


def test_credits_depleted_mid_run_bills_only_the_pages_read(engine: Engine, fake_x: FakeXApi) -> None:
    fake_x.add_fault(credits_depleted(match=fake_x.on_page(3, "blacklivesmatter"), times=None))
    record = run(engine, fake_x, spend_policy(Settings()), ["blacklivesmatter"])
    (blm,) = record.hashtag_figures
    assert (blm.state, blm.pages) == ("FAILED", 2)
    assert (blm.posts_billed, blm.users_billed) == (fake_x.billed["posts"], fake_x.billed["users"])
    assert daily_spend(engine)[:2] == (blm.posts_billed, blm.users_billed)


def test_two_runs_cannot_both_take_the_last_of_a_daily_budget(engine: Engine) -> None:
    """A page being read holds its most against the budget until it is stored."""
    policy = with_daily_budget(3 * PAGE // 2)
    budgets = []
    for hashtag in ("one", "two"):
        run_id = start_run(engine, plan_collection([hashtag], 100, "x", [], WITH_X), [])
        with engine.begin() as connection:
            progress = CollectionRunHashtag.table()
            connection.execute(update(progress).where(progress.c.run_id == run_id).values(state="RUNNING"))
        budgets.append(RunBudget(engine, policy, "x", run_id, hashtag, None))
    page = BillableReads(posts=100, users=100)
    budgets[0].before_page(page)
    with pytest.raises(BudgetReached, match=r"\$0\.5 held by other runs' pages"):
        budgets[1].before_page(page)
    # Reserving again for the same hashtag replaces its reservation instead of adding to it.
    budgets[0].before_page(page)
    with engine.begin() as connection:
        progress = CollectionRunHashtag.table()
        connection.execute(update(progress).where(progress.c.hashtag == "one").values(state="SUCCEEDED"))
    budgets[1].before_page(page)  # a finished hashtag holds nothing


def test_a_counts_request_is_billed_and_passes_the_budget_first(engine: Engine, fake_x: FakeXApi) -> None:
    prices = spend_policy(Settings())
    plan = plan_collection(["brexit"], 1000, "x", [], WITH_X)
    with_counts = x_source(fake_x, counts_refresh_minutes=60)
    record = execute_run(engine, start_run(engine, plan, []), lambda _name: with_counts, spend=prices)
    assert record is not None
    (brexit,) = record.hashtag_figures
    assert (brexit.state, brexit.counts_requests) == ("SUCCEEDED", len(fake_x.counts_requests("brexit")))
    assert brexit.counts_requests == 1
    served = fake_x.billed
    assert brexit.cost_micros == 5_000 + served["posts"] * 5_000 + served["users"] * 10_000
    assert brexit.api_requests == 2  # the counts request and the one search page
    with engine.connect() as connection:
        (row,) = connection.execute(select(DailySpend.table())).all()
    assert (row.counts_requests, row.cost_micros) == (1, brexit.cost_micros)

    # A budget that cannot hold even a counts request stops the run before it is sent.
    budget = SpendPolicy(prices=prices.prices, daily_budget_micros={"x": row.cost_micros + 4_999})
    plan = plan_collection(["kpop"], 1000, "x", [], WITH_X)
    stopped = execute_run(engine, start_run(engine, plan, []), lambda _name: with_counts, spend=budget)
    assert stopped is not None
    assert (stopped.state, stopped.counts_requests) == ("STOPPED_BY_BUDGET", 0)
    assert fake_x.counts_requests("kpop") == []
    assert fake_x.search_requests("kpop") == []


def x_catalog(fake_x: FakeXApi, prices: UnitPrices, daily: int | None = None) -> SourceCatalog:
    return SourceCatalog(
        x=XAccess(FAKE_X_TOKEN, fake_x.base_url, FAST),
        x_counts_refresh_minutes=60,
        spend=SpendPolicy(prices={"x": prices}, daily_budget_micros={} if daily is None else {"x": daily}),
    )


@pytest.mark.parametrize("users_billed", [False, True])
def test_the_estimate_is_what_the_run_then_reads_and_spends(
    engine: Engine, fake_x: FakeXApi, users_billed: bool
) -> None:
    prices = replace(spend_policy(Settings()).prices_of("x"), users_billed=users_billed)
    catalog = x_catalog(fake_x, prices)
    plan = plan_collection(["brexit"], 20, "x", [], catalog)
    estimate = estimate_collection(engine, plan, catalog)
    # It read no posts and stored nothing but its spend: one counts request, since nothing stored.
    assert fake_x.search_requests() == []
    (asked,) = fake_x.counts_requests("brexit")
    assert asked.query.get("since_id") is None
    with engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(Post.table())).scalar_one() == 0
        assert last_fetch_time(connection, "brexit") is None
    (brexit,) = estimate.hashtags
    recorded = sum(bucket["tweet_count"] for bucket in fake_x.counts["brexit"]["data"])
    assert (brexit.counts_available, brexit.posts_available, brexit.posts_to_read) == (True, recorded, 20)
    assert (brexit.search_requests, brexit.counts_requests) == (1, 1)
    users = 20 * 10_000 if users_billed else 0
    assert brexit.cost_micros == 20 * 5_000 + users + 5_000
    assert estimate.estimate_cost_micros == estimate.spent_today_micros == 5_000

    record = execute_run(engine, start_run(engine, plan, []), catalog.search_source, spend=catalog.spend)
    assert record is not None
    assert record.state == "SUCCEEDED", record
    assert record.posts_fetched == brexit.posts_to_read
    assert len(fake_x.search_requests("brexit")) == brexit.search_requests
    assert len(fake_x.counts_requests("brexit")) - 1 == brexit.counts_requests == record.counts_requests
    if users_billed:  # the authors were priced at one per post: the most they can cost
        assert record.cost_micros <= brexit.cost_micros
        assert record.cost_micros - record.users_billed * 10_000 == brexit.cost_micros - users
    else:
        assert record.cost_micros == brexit.cost_micros


def test_an_estimate_the_daily_budget_cannot_pay_for_says_so(engine: Engine, fake_x: FakeXApi) -> None:
    catalog = x_catalog(fake_x, POSTS_ONLY, daily=4_999)
    estimate = estimate_collection(engine, plan_collection(["brexit"], 20, "x", [], catalog), catalog)
    (brexit,) = estimate.hashtags
    assert not brexit.counts_available
    assert "the daily budget of $0.005 leaves $0.005 and a counts request costs $0.005" in brexit.note
    assert fake_x.counts_requests() == []
    assert (estimate.estimate_cost_micros, estimate.spent_today_micros) == (0, 0)


def test_sources_without_counts_say_so_in_the_estimate(engine: Engine) -> None:
    catalog = SourceCatalog()
    estimate = estimate_collection(engine, plan_collection(["devops"], 20, "sample", [], catalog), catalog)
    assert estimate.message.startswith("sample has no counts endpoint")
    assert [(h.hashtag, h.counts_available, h.cost_micros) for h in estimate.hashtags] == [
        ("devops", False, 0)
    ]
