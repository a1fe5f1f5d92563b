"""X collections end to end: REST through Envoy to the collector, which searches a fake X API
on loopback serving recorded pages; and the `trigger` command the CronJob runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.conftest import FAKE_X_TOKEN
from tests.support.collections import start_and_wait
from tests.support.fake_http import Fault
from tests.support.fake_x import FakeXApi, is_retweet, load_counts, load_pages
from tests.support.policies import FAST_ENV
from tests.support.processes import Stack


@pytest.fixture
def stack(start_stack: Callable[..., Stack], fake_x: FakeXApi) -> Stack:
    return start_stack(
        TAGPULSE_X_BEARER_TOKEN=FAKE_X_TOKEN, TAGPULSE_X_API_BASE_URL=fake_x.base_url, **FAST_ENV
    )


def originals(name: str) -> list[dict[str, Any]]:
    return [t for page in load_pages(name) for t in page["data"] if not is_retweet(t)]


def top_authors(name: str, limit: int = 5) -> list[tuple[str, int]]:
    """The most followed authors of a recording's original posts, computed from the file."""
    users = {u["id"]: u for page in load_pages(name) for u in page["includes"]["users"]}
    authors = {t["author_id"] for t in originals(name)}
    ranked = sorted(
        ((users[a]["username"], users[a]["public_metrics"]["followers_count"]) for a in authors),
        key=lambda pair: -pair[1],
    )
    return ranked[:limit]


def test_an_x_collection_is_stored_exactly_and_the_next_one_asks_only_for_newer_posts(
    stack: Stack, fake_x: FakeXApi
) -> None:
    started, run = start_and_wait(stack.rest_url, stack.api_token, {"hashtags": ["brexit", "#KPop"]})
    assert started["source"] == "x"  # the default, since an X bearer token is set
    assert run["state"] == "SUCCEEDED", run
    figures = {h["hashtag"]: h for h in run["hashtagFigures"]}
    assert list(figures) == ["brexit", "kpop"]
    for hashtag, name in (("brexit", "brexit.jsonl"), ("kpop", "kpop.jsonl")):
        f = figures[hashtag]["figures"]
        assert int(f["postsFetched"]) == len(originals(name))
        # One search page, and the counts refresh before it.
        assert (f["apiRequests"], f["pages"], f["countsRequests"]) == ("2", "1", "1")
        assert figures[hashtag]["state"] == "SUCCEEDED"
    # kpop's recorded page carries one partial error (a suspended user): counted, not fatal.
    assert (figures["brexit"]["figures"]["errors"], figures["kpop"]["figures"]["errors"]) == ("0", "1")

    top = httpx.get(f"{stack.rest_url}/v1/users:top?hashtag=brexit", timeout=30).json()["users"]
    assert [(u["username"], int(u["followersCount"])) for u in top] == top_authors("brexit.jsonl")

    requests_before = len(fake_x.search_requests())
    _, again = start_and_wait(stack.rest_url, stack.api_token, {"hashtags": ["brexit"], "source": "x"})
    assert again["state"] == "SUCCEEDED"
    assert again["figures"]["postsFetched"] == again["figures"]["postsNew"] == "0"
    request = fake_x.search_requests()[requests_before]
    assert request.query["since_id"] == max((t["id"] for t in originals("brexit.jsonl")), key=int)

    metrics = httpx.get(f"http://127.0.0.1:{stack.collector_metrics_port}/metrics", timeout=10).text
    # Three search pages and X's counts of the two hashtags, fetched once within the hour.
    assert len(fake_x.counts_requests()) == 2
    assert 'tagpulse_source_requests_total{source="x",status="200"} 5.0' in metrics
    assert (
        f'tagpulse_posts_new_total{{hashtag="brexit",source="x"}} {len(originals("brexit.jsonl"))}.0'
        in metrics
    )
    assert 'tagpulse_source_rate_limit_remaining{source="x"}' in metrics
    assert 'tagpulse_collection_runs_total{outcome="succeeded",source="x"} 2.0' in metrics

    log = stack.collector.log()
    assert FAKE_X_TOKEN not in log
    pages = [json.loads(line) for line in log.splitlines() if '"page stored"' in line]
    assert {(p["hashtag"], p["posts_fetched"]) for p in pages} >= {("kpop", len(originals("kpop.jsonl")))}
    finished = [json.loads(line) for line in log.splitlines() if '"collection finished"' in line]
    assert finished[0]["run_id"] == int(run["id"])
    assert finished[0]["api_requests"] == 4  # two search pages, two counts requests


def test_the_coverage_route_answers_xs_recorded_counts_beside_the_stored_posts(
    stack: Stack, fake_x: FakeXApi
) -> None:
    _, run = start_and_wait(stack.rest_url, stack.api_token, {"hashtags": ["brexit", "kpop"]})
    assert run["state"] == "SUCCEEDED", run
    for hashtag, name in (("brexit", "counts.jsonl"), ("kpop", "tweepy_counts_recent.json")):
        answer = httpx.get(f"{stack.rest_url}/v1/hashtags/%23{hashtag.upper()}/coverage", timeout=30).json()
        recorded = load_counts(name)["data"]
        assert (answer["hashtag"], answer["countsAvailable"], answer["timeZone"]) == (hashtag, True, "UTC")
        assert answer["query"] == f"#{hashtag} -is:retweet"
        assert int(answer["xPostCount"]) == sum(d["tweet_count"] for d in recorded)
        assert [int(h["xPostCount"]) for h in answer["hours"]] == [d["tweet_count"] for d in recorded]
        assert [h["startTime"] for h in answer["hours"]] == [
            d["start"].replace(".000Z", "Z") for d in recorded
        ]
        # The recorded searches were made weeks away from the recorded counts: nothing in them.
        assert answer["storedPostCount"] == "0"
        assert answer["coverage"] == 0

    kolkata = httpx.get(
        f"{stack.rest_url}/v1/hashtags/brexit/coverage", params={"timeZone": "Asia/Kolkata"}, timeout=30
    ).json()
    assert kolkata["hours"][1]["localStart"] == "2021-10-17T00:30:00+05:30"

    bad = httpx.get(f"{stack.rest_url}/v1/hashtags/brexit/coverage?timeZone=Mars/Olympus", timeout=30)
    assert bad.status_code == 400
    [violation] = bad.json()["details"][0]["fieldViolations"]
    assert violation["field"] == "time_zone"

    unknown = httpx.get(f"{stack.rest_url}/v1/hashtags/neverseen/coverage", timeout=30)
    assert (unknown.status_code, unknown.json()["code"]) == (404, 5)

    # A hashtag collected from the sample source only: no counts, and no figure made up.
    _, sampled = start_and_wait(stack.rest_url, stack.api_token, {"hashtags": ["devops"], "source": "sample"})
    assert sampled["state"] == "SUCCEEDED"
    answer = httpx.get(f"{stack.rest_url}/v1/hashtags/devops/coverage", timeout=30).json()
    assert answer["countsAvailable"] is False
    assert "no counts endpoint" in answer["message"]
    assert answer["hours"] == []
    assert not {"xPostCount", "storedPostCount", "coverage", "countsFetchTime"} & set(answer)


def trigger(stack: Stack, *args: str) -> tuple[int, dict[str, Any]]:
    env = {
        **os.environ,
        "TAGPULSE_COLLECTOR_ADDRESS": stack.collector_address,
        "TAGPULSE_API_TOKEN": stack.api_token,
    }
    result = subprocess.run(
        [sys.executable, "-m", "tagpulse_collector", "trigger", "--poll-interval", "0.2", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    return result.returncode, json.loads(result.stdout)


def test_trigger_waits_for_the_run_and_its_exit_status_says_how_it_ended(
    stack: Stack, fake_x: FakeXApi
) -> None:
    code, run = trigger(stack, "--hashtag", "brexit")
    assert (code, run["state"]) == (0, "SUCCEEDED")

    fake_x.add_fault(Fault(match=fake_x.on_page(2, "blacklivesmatter"), truncate=True))
    code, run = trigger(stack, "--hashtag", "kpop", "--hashtag", "blacklivesmatter")
    assert (code, run["state"]) == (3, "PARTIALLY_SUCCEEDED")
    blm = run["hashtagFigures"][1]
    assert blm["state"] == "FAILED"
    assert blm["figures"]["pages"] == "1"  # the page before the broken one is kept
    assert "malformed response body" in blm["errorMessage"]

    fake_x.add_fault(Fault(status=401, body=b'{"title": "Unauthorized", "status": 401}', times=None))
    code, run = trigger(stack, "--hashtag", "kpop", "--hashtag", "brexit", "--max-posts-per-hashtag", "50")
    assert (code, run["state"]) == (1, "FAILED")
    assert run["errorMessage"].startswith("the run stopped: x refused the credentials (401 Unauthorized")
    # The first hashtag's 401 stopped the run: the second was not even tried.
    assert [h["errorMessage"].startswith("not collected") for h in run["hashtagFigures"]] == [False, True]
