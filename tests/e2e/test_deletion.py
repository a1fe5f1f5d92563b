"""Deleting posts end to end: DeletePosts through Envoy (by id and by author) behind the token,
answers that forget the deleted posts at once, and the `retention` command the CronJob runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from tagpulse.db.engine import create_database_engine
from tagpulse.db.models import Post
from tests.integration.test_ingest import assert_rollups_match_a_recount
from tests.support.collections import start_and_wait
from tests.support.policies import FAST_ENV
from tests.support.polling import wait_until
from tests.support.processes import Stack


@pytest.fixture
def stack(start_stack: Callable[..., Stack]) -> Stack:
    stack = start_stack(**FAST_ENV)
    _, run = start_and_wait(
        stack.rest_url, stack.api_token, {"hashtags": ["devops", "sre"], "source": "sample"}
    )
    assert run["state"] == "SUCCEEDED", run
    return stack


def get(stack: Stack, path: str) -> httpx.Response:
    return httpx.get(f"{stack.rest_url}{path}", timeout=10)


def delete(stack: Stack, body: dict[str, Any], token: str | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.post(f"{stack.rest_url}/v1/posts:delete", json=body, headers=headers, timeout=30)


def test_deleted_posts_leave_every_answer(stack: Stack) -> None:
    posts_before = int(get(stack, "/v1/stats").json()["posts"])
    listed = get(stack, "/v1/posts?hashtag=devops&pageSize=2").json()["posts"]
    ids = [p["id"] for p in listed]
    assert get(stack, f"/v1/posts/{ids[0]}?source=sample").status_code == 200  # cached now

    assert delete(stack, {"source": "sample", "postIds": ids}).status_code == 401
    answer = delete(stack, {"source": "sample", "postIds": [*ids, "not-stored"]}, stack.api_token)
    assert answer.status_code == 200, answer.text
    assert int(answer.json()["postsDeleted"]) == 2
    wait_until(lambda: get(stack, f"/v1/posts/{ids[0]}?source=sample").status_code == 404, message="404")
    wait_until(lambda: int(get(stack, "/v1/stats").json()["posts"]) == posts_before - 2, message="stats")

    (top,) = get(stack, "/v1/users:top?hashtag=sre&limit=1").json()["users"]
    by_author = delete(stack, {"source": "sample", "authorId": top["id"]}, stack.api_token).json()
    assert by_author["postsDeleted"] == top["postCount"]
    assert by_author["usersDeleted"] == "1"
    wait_until(
        lambda: (
            top["id"]
            not in {u["id"] for u in get(stack, "/v1/users:top?hashtag=sre&limit=100").json()["users"]}
        ),
        message="the author to leave the top users",
    )
    engine = create_database_engine(stack.database_url)
    try:
        assert_rollups_match_a_recount(engine)
    finally:
        engine.dispose()

    bad = delete(stack, {"source": "twitter"}, stack.api_token)
    assert bad.status_code == 400, bad.text
    fields = {v["field"] for d in bad.json()["details"] for v in d.get("fieldViolations", [])}
    assert fields == {"source", "post_ids"}


def test_the_retention_command_deletes_what_is_older_and_says_how_much(stack: Stack) -> None:
    engine = create_database_engine(stack.database_url)
    try:
        with engine.connect() as connection:
            created = sorted(connection.execute(select(Post.created_at)).scalars())
        # A retention in whole days that keeps some posts and deletes others.
        ages = sorted({(datetime.now(UTC) - c) // timedelta(days=1) for c in created})
        days = ages[len(ages) // 2] if len(ages) > 1 else 1
        env = {
            **os.environ,
            "TAGPULSE_DATABASE_URL": stack.database_url,
            "TAGPULSE_QUERY_ADDRESS": stack.query_address,
            "TAGPULSE_API_TOKEN": stack.api_token,
            "TAGPULSE_RETENTION_DAYS": f"sample={days}",
            "TAGPULSE_RETENTION_BATCH_POSTS": "50",
        }
        started = datetime.now(UTC)
        result = subprocess.run(
            [sys.executable, "-m", "tagpulse_collector", "retention"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        ended = datetime.now(UTC)
        assert result.returncode == 0, result.stderr
        lines = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
        logs = [line for line in lines if "level" in line]
        (report,) = [line for line in lines if "level" not in line]
        deleted = report["posts_deleted"]
        # The command's own clock decides, somewhere between these two.
        at_least = sum(1 for c in created if c < started - timedelta(days=days))
        at_most = sum(1 for c in created if c < ended - timedelta(days=days))
        assert 0 < at_least <= deleted <= at_most < len(created)
        batches = [line for line in logs if line.get("message") == "posts past their retention deleted"]
        assert sum(b["posts_deleted"] for b in batches) == deleted
        assert all(b["posts_deleted"] <= 50 for b in batches)
        with engine.connect() as connection:
            left = connection.execute(select(func.count()).select_from(Post.table())).scalar_one()
        assert left == len(created) - deleted
        assert_rollups_match_a_recount(engine)
        wait_until(
            lambda: int(get(stack, "/v1/stats").json()["posts"]) == len(created) - deleted, message="stats"
        )
    finally:
        engine.dispose()
