"""What X collections cost, end to end: a run's spend in its figures (REST through Envoy), the
day's spend beside the daily budget in /v1/stats, a run's maxCostUsd, and the trigger's budget."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from tests.conftest import FAKE_X_TOKEN
from tests.e2e.test_x_collection import trigger
from tests.support.collections import start_and_wait
from tests.support.fake_x import FakeXApi
from tests.support.policies import FAST_ENV
from tests.support.processes import Stack

DAILY_BUDGET = 20.0


@pytest.fixture
def stack(start_stack: Callable[..., Stack], fake_x: FakeXApi) -> Stack:
    return start_stack(
        TAGPULSE_X_BEARER_TOKEN=FAKE_X_TOKEN,
        TAGPULSE_X_API_BASE_URL=fake_x.base_url,
        TAGPULSE_X_DAILY_BUDGET_USD=str(DAILY_BUDGET),
        **FAST_ENV,
    )


def test_a_runs_spend_is_in_its_figures_and_the_days_spend_in_the_stats(
    stack: Stack, fake_x: FakeXApi
) -> None:
    _, run = start_and_wait(
        stack.rest_url, stack.api_token, {"hashtags": ["brexit", "kpop"], "maxCostUsd": 10}
    )
    assert run["state"] == "SUCCEEDED", run
    assert run["maxCostUsd"] == 10
    figures = run["figures"]
    served = fake_x.billed
    assert (figures["postsBilled"], figures["usersBilled"]) == (str(served["posts"]), str(served["users"]))
    counts = len(fake_x.counts_requests())
    assert counts == 2  # one per hashtag, refreshed before its pages
    assert figures["countsRequests"] == str(counts)
    cost = served["posts"] * 0.005 + served["users"] * 0.010 + counts * 0.005
    assert figures["costUsd"] == pytest.approx(cost)
    assert sum(h["figures"]["costUsd"] for h in run["hashtagFigures"]) == pytest.approx(cost)

    stats = httpx.get(f"{stack.rest_url}/v1/stats", timeout=10).json()
    (spend,) = stats["spend"]
    assert spend["source"] == "x"
    assert (spend["postsBilled"], spend["usersBilled"]) == (str(served["posts"]), str(served["users"]))
    assert spend["countsRequests"] == str(counts)
    assert spend["costUsd"] == pytest.approx(cost)
    assert spend["totalCostUsd"] == pytest.approx(cost)
    assert spend["dailyBudgetUsd"] == DAILY_BUDGET
    assert spend["budgetLeftUsd"] == pytest.approx(DAILY_BUDGET - cost)


def test_a_bad_max_cost_is_a_400_naming_the_field(stack: Stack) -> None:
    response = httpx.post(
        f"{stack.rest_url}/v1/collections",
        json={"hashtags": ["brexit"], "maxCostUsd": -1},
        headers={"Authorization": f"Bearer {stack.api_token}"},
        timeout=10,
    )
    assert response.status_code == 400, response.text
    assert "max_cost_usd" in response.text


def test_the_trigger_takes_a_budget_and_says_the_budget_stopped_the_run(
    stack: Stack, fake_x: FakeXApi
) -> None:
    code, run = trigger(stack, "--hashtag", "blacklivesmatter", "--max-cost-usd", "0.5")
    assert (code, run["state"]) == (5, "STOPPED_BY_BUDGET")
    assert "maxCostUsd of $0.5 would be passed" in run["errorMessage"]
    # Its counts request ($0.005) fitted; a page may cost up to $1.50 and did not.
    assert len(fake_x.counts_requests("blacklivesmatter")) == 1
    assert fake_x.search_requests("blacklivesmatter") == []
    assert run["maxCostUsd"] == 0.5


def test_the_estimate_through_rest_takes_the_start_body_and_needs_the_token(
    stack: Stack, fake_x: FakeXApi
) -> None:
    body = {"hashtags": ["#Brexit"], "maxPostsPerHashtag": 20}
    url = f"{stack.rest_url}/v1/collections:estimate"
    assert httpx.post(url, json=body, timeout=10).status_code == 401  # it spends money
    assert fake_x.counts_requests() == []
    response = httpx.post(url, json=body, headers={"Authorization": f"Bearer {stack.api_token}"}, timeout=30)
    assert response.status_code == 200, response.text
    estimate = response.json()
    (brexit,) = estimate["hashtags"]
    assert (brexit["hashtag"], brexit["countsAvailable"], brexit["postsToRead"]) == ("brexit", True, "20")
    assert estimate["postsToRead"] == "20"
    assert estimate["estimateCostUsd"] == pytest.approx(0.005)
    assert estimate["spentTodayUsd"] == pytest.approx(0.005)
    assert estimate["dailyBudgetUsd"] == DAILY_BUDGET
    assert estimate["budgetLeftUsd"] == pytest.approx(DAILY_BUDGET - 0.005)
    assert fake_x.search_requests() == []

    bad = httpx.post(
        url,
        json={"hashtags": ["no spaces allowed"], "maxCostUsd": -2},
        headers={"Authorization": f"Bearer {stack.api_token}"},
        timeout=10,
    )
    assert bad.status_code == 400, bad.text
    fields = {v["field"] for d in bad.json()["details"] for v in d.get("fieldViolations", [])}
    assert fields == {"hashtags[0]", "max_cost_usd"}
