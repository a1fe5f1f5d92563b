"""A rollout without a failed request: two query replicas behind the project's Envoy under
steady load on the summary routes; each replica in turn is stopped with SIGTERM (as Kubernetes
does) and started again, and not one request fails.

What makes it work: on SIGTERM a replica answers NOT_SERVING to its health check and goes on
serving for TAGPULSE_SHUTDOWN_DRAIN_SECONDS; Envoy's gRPC health checks take it out of the
cluster meanwhile, and a read that still meets a closing connection is retried on the other
replica (gateway/envoy.yaml.template). The replica then exits 0 within its grace period."""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tagpulse.db.engine import create_database_engine
from tests.support import databases
from tests.support.polling import wait_until
from tests.support.processes import Process, Stack, wait_for_grpc_serving
from tests.support.random_posts import random_data
from tests.support.redis_prefixes import delete_prefix

DRAIN_SECONDS = 3
GRACE_SECONDS = 2
SUMMARIES = (
    "/v1/users:top?hashtag=devops",
    "/v1/posts:countByHour?mode=HOUR_OF_DAY&timeZone=Asia/Kolkata",
    "/v1/posts:countByHashtag",
    "/v1/stats",
)


@pytest.fixture
def two_replicas(
    postgres_server_url: str, postgres_template: str, redis_server_url: str, tmp_path: Path
) -> Iterator[Stack]:
    url = databases.create_database(postgres_server_url, postgres_template)
    engine = create_database_engine(url)
    random_data(seed=31, posts=300).ingest(engine)
    engine.dispose()
    stack = Stack(
        database_url=url,
        redis_url=redis_server_url,
        redis_prefix=f"tagpulse-test-{uuid.uuid4().hex[:12]}:",
        api_token=f"test-token-{uuid.uuid4().hex}",
        workdir=tmp_path,
        extra_env={
            "TAGPULSE_SHUTDOWN_DRAIN_SECONDS": str(DRAIN_SECONDS),
            "TAGPULSE_SHUTDOWN_GRACE_SECONDS": str(GRACE_SECONDS),
        },
        # One client sends all the load: lift the per-client rate limit.
        gateway_options=("--rate-limit-per-second", "1000000", "--rate-limit-burst", "1000000"),
        query_replicas=2,
    ).start()
    try:
        yield stack
    finally:
        stack.stop()
        databases.drop_database(postgres_server_url, url)
        delete_prefix(redis_server_url, stack.redis_prefix)


class SteadyLoad:
    """Clients asking the summaries one after another, on kept-alive connections, until stopped;
    every answer's status is counted."""

    def __init__(self, rest_url: str, clients: int = 2) -> None:
        self.rest_url = rest_url
        self.statuses: Counter[int | str] = Counter()
        self.failures: list[str] = []
        self.stopped = threading.Event()
        self.guard = threading.Lock()
        self.threads = [threading.Thread(target=self._ask, daemon=True) for _ in range(clients)]

    def __enter__(self) -> SteadyLoad:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stopped.set()
        for thread in self.threads:
            thread.join(30)

    def _ask(self) -> None:
        with httpx.Client(base_url=self.rest_url, timeout=30) as client:
            number = 0
            while not self.stopped.is_set():
                path = SUMMARIES[number % len(SUMMARIES)]
                number += 1
                try:
                    status: int | str = client.get(path).status_code
                except httpx.HTTPError as error:
                    status = type(error).__name__
                with self.guard:
                    self.statuses[status] += 1
                    if status != 200:
                        self.failures.append(f"{time.monotonic():.3f} {path}: {status}")

    def answered(self) -> int:
        with self.guard:
            return sum(self.statuses.values())


def healthy_in_envoy(stack: Stack, address: str) -> bool:
    """Envoy's own view (admin /clusters): its health check passes for `address`."""
    clusters = httpx.get(f"http://127.0.0.1:{stack.admin_api_port}/clusters", timeout=5).text
    flags = f"query::{address}::health_flags::"
    return any(line.startswith(flags) and line.endswith("::healthy") for line in clusters.splitlines())


def test_restarting_each_query_replica_under_load_fails_no_request(two_replicas: Stack) -> None:
    stack = two_replicas
    for address in stack.query_addresses:
        wait_until(lambda address=address: healthy_in_envoy(stack, address), message=f"{address} healthy")

    with SteadyLoad(stack.rest_url) as load:
        wait_until(lambda: load.answered() >= 200, message="the load to be under way", timeout=60)
        for index, address in enumerate(stack.query_addresses):
            replica = stack.queries[index]
            began = time.monotonic()
            exit_code = replica.stop(timeout=DRAIN_SECONDS + GRACE_SECONDS + 10)
            assert exit_code == 0, replica.log()[-2000:]
            assert time.monotonic() - began < DRAIN_SECONDS + GRACE_SECONDS + 5  # within the grace
            answered_before = load.answered()
            restarted: Process = replica.again(stack.workdir / f"query-{index}-restarted.log")
            stack.queries[index] = restarted
            wait_for_grpc_serving(restarted, address)
            wait_until(lambda address=address: healthy_in_envoy(stack, address), message=f"{address} back")
            # Requests flowed while it was gone (the other replica answered them).
            assert load.answered() > answered_before
        stack.query = stack.queries[0]
        answered_after = load.answered()
        wait_until(lambda: load.answered() >= answered_after + 100, message="requests after the rollout")

    assert load.failures == [], load.failures[:20]
    assert set(load.statuses) == {200}
    assert (
        '"message": "stopping"' in stack.queries[0].log()
        or "stopping" in Path(stack.workdir / "query.log").read_text()
    )
