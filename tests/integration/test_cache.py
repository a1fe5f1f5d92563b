"""The answer cache on a real Redis: generations retire answers; a dead Redis fails nothing."""

from __future__ import annotations

import signal

import pytest

from tagpulse.v1.query_service_pb2 import Stats
from tagpulse_query.cache import CACHE_ERRORS, CacheUnavailable, NearCache, RedisAnswerCache
from tests.support.polling import wait_until_async
from tests.support.private_redis import PrivateRedis


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


def errors(operation: str) -> float:
    return CACHE_ERRORS.labels(operation=operation)._value.get()


async def test_redis_stopping_mid_way_fails_nothing(
    private_redis: PrivateRedis,
) -> None:
    cache = RedisAnswerCache(private_redis.url, "t:", ttl_seconds=60, timeout_seconds=0.2)
    await cache.store(0, "k", b"v")
    assert await cache.lookup("k") == (0, b"v")

    private_redis.kill()
    lookups, stores = errors("lookup"), errors("store")
    assert await cache.lookup("k") == (None, None)
    await cache.store(0, "k", b"v")  # does not raise
    with pytest.raises(CacheUnavailable):
        await cache.invalidate()
    assert errors("lookup") == lookups + 1
    assert errors("store") == stores + 1
    await cache.close()


async def test_an_invalidation_missed_while_redis_was_down_happens_when_it_is_back(
    private_redis: PrivateRedis,
) -> None:
    cache = RedisAnswerCache(private_redis.url, "t:", ttl_seconds=60, timeout_seconds=0.2)
    await cache.store(0, "k", b"answer from before the collection")
    # Redis frozen (as in a network partition: its data survives) during the invalidation.
    private_redis.send_signal(signal.SIGSTOP)
    try:
        with pytest.raises(CacheUnavailable):
            await cache.invalidate()
        assert cache.confirmed_generation() is None
        assert await cache.lookup("k") == (None, None)
    finally:
        private_redis.send_signal(signal.SIGCONT)
    assert await cache.lookup("k") == (1, None), "the stale answer must not be read"
    await cache.store(1, "k", b"fresh")
    assert await cache.lookup("k") == (1, b"fresh"), "and the generation is bumped only once"
    await cache.close()


async def test_every_replica_learns_a_new_generation_and_stops_using_its_near_answers(
    redis_server_url: str, redis_prefix: str
) -> None:
    replicas = [
        RedisAnswerCache(redis_server_url, redis_prefix, ttl_seconds=60, timeout_seconds=1) for _ in range(2)
    ]
    near = NearCache(ttl_seconds=60)
    first, second = replicas
    await wait_until_async(
        lambda: second.confirmed_generation() == (0, 0),
        message="the second replica to confirm generation 0",
        timeout=10,
    )
    near.put(second.confirmed_generation(), 0, "k", Stats(posts=0).SerializeToString())
    assert near.get(second.confirmed_generation(), "k") == Stats(posts=0).SerializeToString()
    # Computed under a generation that is no longer the confirmed one: not kept.
    near.put(second.confirmed_generation(), 7, "other", Stats(posts=7).SerializeToString())
    assert near.get(second.confirmed_generation(), "other") is None

    assert await first.invalidate() == 1
    assert first.confirmed_generation() == (0, 1), "the invalidating replica knows at once"
    await wait_until_async(
        lambda: second.confirmed_generation() == (0, 1),
        message="the second replica to learn generation 1",
        timeout=10,
    )
    assert near.get(second.confirmed_generation(), "k") is None
    for replica in replicas:
        await replica.close()


async def test_a_dead_redis_makes_the_generation_unknown(
    private_redis: PrivateRedis,
) -> None:
    cache = RedisAnswerCache(private_redis.url, "t:", ttl_seconds=60, timeout_seconds=0.2)
    await wait_until_async(
        lambda: cache.confirmed_generation() == (0, 0),
        message="the watch to confirm generation 0",
        timeout=10,
    )
    watch_errors = errors("watch")
    private_redis.kill()
    # No near answer may be used while nothing proves the generation current.
    await wait_until_async(
        lambda: cache.confirmed_generation() is None, message="the generation to become unknown", timeout=10
    )
    assert errors("watch") > watch_errors
    await cache.close()
