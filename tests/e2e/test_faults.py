"""Faults while tagpulse works, end to end through Envoy, each ending with exact figures: no
post lost or counted twice, every run and stream in a final state, answers equal to a recount.

- PostgreSQL restarted in the middle of a collection run (a cluster of the test's own): the run
  loses its lock session, pauses, and the supervisor resumes it; nothing stays RUNNING.
- PostgreSQL restarted, then Redis stopped and started, in the middle of a keyword stream.
- The query service SIGKILLed and down while a run ends: the collector retries the
  invalidation until the restarted query service has it, so no stale answer survives.

(A collector SIGKILLed in a run or a stream: tests/integration/test_resume_after_kill.py and
test_stream_kills.py. Redis killed under the query service: tests/e2e/test_reads.py.)
"""

from __future__ import annotations

import contextlib
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from sqlalchemy import Engine, create_engine, func, select

from tagpulse.db.models import Post
from tests.conftest import FAKE_X_TOKEN, missing
from tests.support.collections import start_collection, wait_for_run
from tests.support.fake_http import Fault
from tests.support.fake_x import FakeXApi, is_retweet, load_pages
from tests.support.policies import FAST_ENV
from tests.support.polling import wait_until
from tests.support.private_postgres import PrivatePostgres
from tests.support.private_redis import PrivateRedis, redis_server_binary
from tests.support.processes import Stack, wait_for_grpc_serving
from tests.support.redis_prefixes import delete_prefix
from tests.support.sample_stream import SEED_RULE, expected

SEED = 4242
# Quick recoveries, so each fault costs the suite seconds, not minutes.
FAULT_ENV = {
    **FAST_ENV,
    "TAGPULSE_RUN_SUPERVISE_SECONDS": "0.5",
    "TAGPULSE_INVALIDATE_RETRY_MAX_SECONDS": "0.5",
}


@pytest.fixture
def private_stack(
    private_postgres: PrivatePostgres, redis_server_url: str, tmp_path: Path
) -> Iterator[Callable[..., Stack]]:
    """Starts query, collector and Envoy on the test's own PostgreSQL cluster."""
    stacks: list[Stack] = []

    def start(redis_url: str | None = None, **extra_env: str) -> Stack:
        stack = Stack(
            database_url=private_postgres.url("tagpulse"),
            redis_url=redis_url or redis_server_url,
            redis_prefix=f"tagpulse-test-{uuid.uuid4().hex[:12]}:",
            api_token=f"test-token-{uuid.uuid4().hex}",
            workdir=tmp_path,
            extra_env={**FAULT_ENV, **extra_env},
        )
        stacks.append(stack)
        return stack.start()

    yield start
    for stack in stacks:
        stack.stop()
        with contextlib.suppress(redis.RedisError):  # a private Redis the test has stopped
            delete_prefix(stack.redis_url or redis_server_url, stack.redis_prefix)


def originals(*names: str) -> set[str]:
    return {t["id"] for name in names for page in load_pages(name) for t in page["data"] if not is_retweet(t)}


def stored_posts(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(Post.table())).scalar_one())


def rest(stack: Stack, path: str) -> dict[str, Any] | None:
    """GET through Envoy; None while a dependency is restarting (any answer but 200)."""
    try:
        response = httpx.get(f"{stack.rest_url}{path}", timeout=10)
    except httpx.HTTPError:
        return None
    if response.status_code != 200:
        return None
    body: dict[str, Any] = response.json()
    return body


def posts_answered(stack: Stack) -> int | None:
    stats = rest(stack, "/v1/stats")
    return None if stats is None else int(stats.get("posts", 0))


def test_postgresql_restarted_during_a_run(
    private_stack: Callable[..., Stack], private_postgres: PrivatePostgres, fake_x: FakeXApi
) -> None:
    stack = private_stack(TAGPULSE_X_BEARER_TOKEN=FAKE_X_TOKEN, TAGPULSE_X_API_BASE_URL=fake_x.base_url)
    engine = create_engine(private_postgres.url("tagpulse"))
    # Page 3 of the first hashtag waits until the database has restarted.
    release = threading.Event()
    hung = fake_x.add_fault(Fault(match=fake_x.on_page(3, "blacklivesmatter"), hang=release))
    run = start_collection(
        stack.rest_url,
        stack.api_token,
        {"hashtags": ["blacklivesmatter", "brexit"], "maxPostsPerHashtag": 1000},
    )
    wait_until(lambda: hung.hits == 1, message="the request for page 3", timeout=60)

    private_postgres.restart()  # every session ends: the run's locks go with its own
    release.set()
    done = wait_for_run(stack.rest_url, run["id"], timeout=120)

    figures = {h["hashtag"]: h for h in done["hashtagFigures"]}
    assert done["state"] == "SUCCEEDED", done
    assert done.get("resumeCount", 0) == 1  # paused by the lost lock session, resumed by the supervisor
    for hashtag, recording in (("blacklivesmatter", "blacklivesmatter.jsonl"), ("brexit", "brexit.jsonl")):
        assert figures[hashtag]["state"] == "SUCCEEDED"
        assert int(figures[hashtag]["figures"]["postsFetched"]) == len(originals(recording))
    want = len(originals("blacklivesmatter.jsonl", "brexit.jsonl"))
    assert int(done["figures"]["postsNew"]) == stored_posts(engine) == want  # none lost, none twice
    wait_until(lambda: posts_answered(stack) == want, message="/v1/stats to count every post", timeout=30)
    assert "advisory locks lost" in stack.collector.log()
    assert "collection resumed" in stack.collector.log()
    engine.dispose()


def stream_figures(stack: Stack, stream_id: str) -> dict[str, Any]:
    seen: list[dict[str, Any] | None] = [None]

    def answered() -> dict[str, Any] | None:
        seen[0] = rest(stack, f"/v1/streams/{stream_id}")
        return seen[0]

    return wait_until(answered, message=lambda: f"stream {stream_id}: {seen[0]}", timeout=60, interval=0.1)


def received_at_least(stack: Stack, stream_id: str, count: int) -> None:
    wait_until(
        lambda: int(stream_figures(stack, stream_id).get("postsReceived", 0)) >= count,
        message=f"stream {stream_id} to receive {count} messages",
        timeout=90,
        interval=0.2,
    )


def test_postgresql_and_redis_restarted_during_a_stream(
    private_stack: Callable[..., Stack], private_postgres: PrivatePostgres, tmp_path: Path
) -> None:
    binary = redis_server_binary()
    if binary is None:
        missing("redis-server is not installed: this test starts a Redis of its own")
    buffers = PrivateRedis(binary, tmp_path / "stream-redis.log", persistent=True).start()
    stack = private_stack(
        redis_url=buffers.url,
        TAGPULSE_SAMPLE_SEED=str(SEED),
        TAGPULSE_STREAM_SAMPLE_RATE="300",
        TAGPULSE_STREAM_POLL_SECONDS="0.2",
        TAGPULSE_STREAM_INVALIDATE_SECONDS="0.5",
        TAGPULSE_REDIS_TIMEOUT_SECONDS="0.5",
    )
    engine = create_engine(private_postgres.url("tagpulse"))
    headers = {"Authorization": f"Bearer {stack.api_token}"}
    body = {"rules": [{"value": SEED_RULE, "tag": "bieber-music"}], "source": "sample"}
    try:
        created = httpx.post(f"{stack.rest_url}/v1/streams", json=body, headers=headers, timeout=30)
        assert created.status_code == 200, created.text
        stream_id = created.json()["id"]

        received_at_least(stack, stream_id, 300)
        private_postgres.restart()
        received_at_least(stack, stream_id, 600)
        logged_before_the_stop = len(stack.collector.log())
        buffers.stop()
        # The writer reads the buffers all the time: it is the first to see Redis gone.
        wait_until(
            lambda: "stream writer waits for an outage" in stack.collector.log()[logged_before_the_stop:],
            message="the collector to meet the stopped Redis",
            timeout=30,
        )
        buffers.start()
        received_at_least(stack, stream_id, 900)

        stopped = httpx.delete(f"{stack.rest_url}/v1/streams/{stream_id}", headers=headers, timeout=30)
        assert stopped.status_code == 200, stopped.text
        wait_until(
            lambda: stream_figures(stack, stream_id)["state"] == "STOPPED",
            message="the stream to stop and drain",
            timeout=90,
            interval=0.2,
        )
        done = stream_figures(stack, stream_id)
        want = expected(SEED, int(stream_id), int(done["postsReceived"]))
        assert (int(done["postsMatched"]), int(done["postsUnique"]), int(done["postsDuplicate"])) == (
            want.matched,
            want.unique,
            want.duplicate,
        )
        assert int(done.get("messagesDeadLettered", 0)) == 0
        assert int(done.get("messagesBuffered", 0)) == 0
        assert stored_posts(engine) == want.unique
        wait_until(
            lambda: posts_answered(stack) == want.unique,
            message="/v1/stats to count every stream post",
            timeout=30,
        )
    finally:
        stack.stop()
        buffers.kill()
        engine.dispose()


def test_the_query_service_down_when_a_run_ends(
    start_stack: Callable[..., Stack], fake_x: FakeXApi, tmp_path: Path
) -> None:
    stack = start_stack(
        TAGPULSE_X_BEARER_TOKEN=FAKE_X_TOKEN, TAGPULSE_X_API_BASE_URL=fake_x.base_url, **FAULT_ENV
    )
    engine = create_engine(stack.database_url)
    first = start_collection(stack.rest_url, stack.api_token, {"hashtags": ["brexit"]})
    wait_for_run(stack.rest_url, first["id"])
    before = stored_posts(engine)
    wait_until(lambda: posts_answered(stack) == before, message="the first run's posts answered", timeout=30)
    assert posts_answered(stack) == before  # now cached, in Redis and in the process

    release = threading.Event()
    hung = fake_x.add_fault(Fault(match=fake_x.on_page(2, "blacklivesmatter"), hang=release))
    second = start_collection(stack.rest_url, stack.api_token, {"hashtags": ["blacklivesmatter"]})
    wait_until(lambda: hung.hits == 1, message="the request for page 2", timeout=60)
    stack.query.kill()
    release.set()
    done = wait_for_run(stack.rest_url, second["id"])
    assert done["state"] == "SUCCEEDED"
    after = stored_posts(engine)
    assert after == before + int(done["figures"]["postsNew"]) > before
    wait_until(
        lambda: "cache invalidation will be retried" in stack.collector.log(),
        message="the collector to retry the invalidation",
        timeout=30,
    )

    stack.query = stack.queries[0] = stack.query.again(tmp_path / "query-restarted.log")
    wait_for_grpc_serving(stack.query, stack.query_address)
    # The restarted query service would answer the first run's count from Redis for an hour,
    # had the invalidation been dropped.
    wait_until(lambda: posts_answered(stack) == after, message="/v1/stats to count the new posts", timeout=30)
    assert (
        f"collection {second['id']} stored"
        in stack.collector.log().split("cache invalidation will be retried")[-1]
    )
    engine.dispose()
