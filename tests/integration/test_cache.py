"""The answer cache on a real Redis: generations retire answers; a dead Redis fails nothing."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator

import pytest

from tagpulse_query.cache import CACHE_ERRORS, CacheUnavailable, LocalAnswerCache, RedisAnswerCache
from tests.support.processes import free_port


async def test_generations_retire_answers(redis_server_url: str, redis_prefix: str) -> None:
    cache = RedisAnswerCache(redis_server_url, redis_prefix, ttl_seconds=60, timeout_seconds=1)
    generation, answer = await cache.lookup("ListTopUsers:abc")
    assert answer is None
    assert generation == 0
    await cache.store(generation, "ListTopUsers:abc", b"old answer")
    assert await cache.lookup("ListTopUsers:abc") == (0, b"old answer")

    assert await cache.invalidate() == 1
    assert await cache.lookup("ListTopUsers:abc") == (1, None)
    # An answer computed before the invalidation lands under the old generation: never read.
    await cache.store(0, "ListTopUsers:abc", b"stale answer computed during the collection")
    assert await cache.lookup("ListTopUsers:abc") == (1, None)
    await cache.store(1, "ListTopUsers:abc", b"new answer")
    assert await cache.lookup("ListTopUsers:abc") == (1, b"new answer")
    ttl = await cache.client.ttl(f"{redis_prefix}answer:1:ListTopUsers:abc")
    assert 0 < ttl <= 60
    await cache.close()


async def test_local_cache_behaves_the_same() -> None:
    cache = LocalAnswerCache(ttl_seconds=60)
    await cache.store(0, "k", b"v")
    assert await cache.lookup("k") == (0, b"v")
    assert await cache.invalidate() == 1
    assert await cache.lookup("k") == (1, None)


@pytest.fixture
def private_redis() -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A Redis of the test's own, so it can be stopped without touching the shared one."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed")
    port = free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    time.sleep(0.3)
    yield f"redis://127.0.0.1:{port}/0", process
    process.kill()
    process.wait()


def errors(operation: str) -> float:
    return CACHE_ERRORS.labels(operation=operation)._value.get()


async def test_redis_stopping_mid_way_fails_nothing(
    private_redis: tuple[str, subprocess.Popen[bytes]],
) -> None:
    url, process = private_redis
    cache = RedisAnswerCache(url, "t:", ttl_seconds=60, timeout_seconds=0.2)
    await cache.store(0, "k", b"v")
    assert await cache.lookup("k") == (0, b"v")

    process.kill()
    process.wait()
    lookups, stores = errors("lookup"), errors("store")
    assert await cache.lookup("k") == (None, None)
    await cache.store(0, "k", b"v")  # does not raise
    with pytest.raises(CacheUnavailable):
        await cache.invalidate()
    assert errors("lookup") == lookups + 1
    assert errors("store") == stores + 1
    await cache.close()
