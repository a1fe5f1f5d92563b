"""X compliance end to end: the `compliance` command (what a CronJob or an operator runs) against
the fake X deletes what X reports, the answers through Envoy forget those posts, and /v1/stats
shows the newest job of each type."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable

import httpx
import pytest

from tests.conftest import FAKE_X_TOKEN
from tests.support.collections import start_and_wait
from tests.support.fake_x import FakeXApi
from tests.support.fake_x_compliance import result_line
from tests.support.policies import FAST_ENV
from tests.support.processes import Stack


@pytest.fixture
def stack(start_stack: Callable[..., Stack], fake_x: FakeXApi) -> Stack:
    # The collector's own timer is off: the command is the one running the jobs here.
    return start_stack(
        TAGPULSE_X_BEARER_TOKEN=FAKE_X_TOKEN,
        TAGPULSE_X_API_BASE_URL=fake_x.base_url,
        TAGPULSE_X_COMPLIANCE_INTERVAL_HOURS="0",
        **FAST_ENV,
    )


def get(stack: Stack, path: str) -> httpx.Response:
    return httpx.get(f"{stack.rest_url}{path}", timeout=10)


def test_the_compliance_command_deletes_what_x_reports_and_the_stats_show_the_jobs(
    stack: Stack, fake_x: FakeXApi
) -> None:
    _, run = start_and_wait(stack.rest_url, stack.api_token, {"hashtags": ["brexit"]})
    assert run["state"] == "SUCCEEDED", run
    ids = [p["id"] for p in get(stack, "/v1/posts?hashtag=brexit&pageSize=3").json()["posts"]]
    assert get(stack, f"/v1/posts/{ids[0]}?source=x").status_code == 200  # cached now
    posts_before = int(get(stack, "/v1/stats").json()["posts"])
    fake_x.compliance.results["tweets"] = {
        ids[0]: result_line(ids[0], "deleted"),
        ids[1]: result_line(ids[1], "suspended"),
    }
    env = {
        **os.environ,
        "TAGPULSE_DATABASE_URL": stack.database_url,
        "TAGPULSE_QUERY_ADDRESS": stack.query_address,
        "TAGPULSE_API_TOKEN": stack.api_token,
        "TAGPULSE_X_BEARER_TOKEN": FAKE_X_TOKEN,
        "TAGPULSE_X_API_BASE_URL": fake_x.base_url,
        "TAGPULSE_X_COMPLIANCE_POLL_SECONDS": "0.05",
    }
    result = subprocess.run(
        [sys.executable, "-m", "tagpulse_collector", "compliance", "--timeout", "60"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    (report,) = [json.loads(line) for line in result.stdout.splitlines() if line.startswith('{"tweets"')]
    assert report["tweets"]["state"] == "done"
    assert report["tweets"]["posts_deleted"] == 2
    # Neither the bearer token nor X's pre-signed storage URLs are printed or logged.
    assert FAKE_X_TOKEN not in result.stdout + result.stderr
    assert "/storage/" not in result.stdout + result.stderr
    assert fake_x.compliance.tokens_sent_to_storage == 0

    assert get(stack, f"/v1/posts/{ids[0]}?source=x").status_code == 404
    stats = get(stack, "/v1/stats").json()
    assert int(stats["posts"]) == posts_before - 2
    jobs = {job["jobType"]: job for job in stats["xComplianceJobs"]}
    assert sorted(jobs) == ["tweets", "users"]
    assert jobs["tweets"]["state"] == "done"
    assert jobs["tweets"]["postsDeleted"] == "2"
    assert int(jobs["tweets"]["idsUploaded"]) == posts_before
    assert jobs["tweets"]["xJobId"]
    assert "uploadUrl" not in jobs["tweets"]
