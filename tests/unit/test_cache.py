"""The answer caches that need no Redis (tagpulse_query/cache.py): the in-process answer cache and
the near cache's byte bound. The Redis cache is tested in tests/integration/test_cache.py."""

from __future__ import annotations

from tagpulse_query.cache import MEMORY_PER_ENTRY, LocalAnswerCache, NearCache


async def test_local_cache_behaves_the_same() -> None:
    cache = LocalAnswerCache(ttl_seconds=60)
    await cache.store(0, "k", b"v")
    assert await cache.lookup("k") == (0, b"v")
    assert await cache.invalidate() == 1
    assert await cache.lookup("k") == (1, None)


def test_the_near_cache_holds_a_bounded_number_of_bytes() -> None:
    """Bounded by the answers' length plus a fixed cost per entry, so even empty answers are few."""
    near = NearCache(ttl_seconds=60, max_bytes=50_000)
    for key in range(20):
        near.put((0, 0), 0, str(key), b"x" * 20_000)
    assert 0 < len(near.entries) <= 2
    for key in range(100):
        near.put((0, 0), 0, f"empty{key}", b"")
    assert len(near.entries) <= 50_000 // MEMORY_PER_ENTRY
    near.put((0, 0), 0, "huge", b"x" * 60_000)
    assert near.get((0, 0), "huge") is None
