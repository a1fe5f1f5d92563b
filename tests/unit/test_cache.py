"""The answer caches that need no Redis (tagpulse_query/cache.py): the in-process answer cache and
the near cache's byte bound. The Redis cache is tested in tests/integration/test_cache.py."""

from __future__ import annotations

from tagpulse.v1.query_service_pb2 import SourceStats, Stats
from tagpulse_query.cache import LocalAnswerCache, NearCache, message_memory


async def test_local_cache_behaves_the_same() -> None:
    cache = LocalAnswerCache(ttl_seconds=60)
    await cache.store(0, "k", b"v")
    assert await cache.lookup("k") == (0, b"v")
    assert await cache.invalidate() == 1
    assert await cache.lookup("k") == (1, None)


def test_the_near_cache_holds_a_bounded_number_of_bytes() -> None:
    """Bounded by what the parsed answers take in memory, several times their encoding."""
    near = NearCache(ttl_seconds=60, max_bytes=50_000)
    big = Stats(sources=[SourceStats(source="x" * 1000)] * 5)
    assert message_memory(big) > 4 * big.ByteSize()
    for key in range(20):
        near.put((0, 0), 0, str(key), big)
    assert 0 < len(near.entries) <= 2
    near.put((0, 0), 0, "huge", Stats(sources=[SourceStats(source="x" * 20_000)]))
    assert near.get((0, 0), "huge") is None
