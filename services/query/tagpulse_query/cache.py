"""Cache-aside for answers, with generations instead of key scans.

An answer is stored under the generation that was current when it was looked up.
`invalidate()` bumps the generation, so every older answer is never read again and simply
expires. Redis when TAGPULSE_REDIS_URL is set (shared by every query replica), an in-process
dictionary otherwise. A cache that fails never fails a request: the caller computes the answer
from the database instead, and the failure is counted and logged.
"""

from __future__ import annotations

import logging
import time
from typing import Protocol

import redis.asyncio as redis
from cachetools import TTLCache
from prometheus_client import Counter
from redis.exceptions import RedisError

log = logging.getLogger("tagpulse.cache")

CACHE_REQUESTS = Counter(
    "tagpulse_cache_requests_total", "Answer cache lookups by result.", ("rpc", "result")
)
CACHE_ERRORS = Counter("tagpulse_cache_errors_total", "Cache operations that failed.", ("operation",))

# One round trip: the current generation and the answer stored under it.
_LOOKUP = """
local generation = redis.call('GET', KEYS[1]) or '0'
return {generation, redis.call('GET', ARGV[1] .. generation .. ':' .. ARGV[2])}
"""


class CacheUnavailable(RuntimeError):
    """The cache could not be reached."""


class AnswerCache(Protocol):
    async def lookup(self, key: str) -> tuple[int | None, bytes | None]:
        """(generation, answer); the generation is None when the cache could not be read."""
        ...

    async def store(self, generation: int, key: str, answer: bytes) -> None: ...

    async def invalidate(self) -> int:
        """Retire every stored answer; return the new generation."""
        ...

    async def close(self) -> None: ...


class LocalAnswerCache:
    """For a single process without Redis (make run on a laptop)."""

    def __init__(self, ttl_seconds: int, max_entries: int = 10_000) -> None:
        self.generation = 0
        self.entries: TTLCache[tuple[int, str], bytes] = TTLCache(max_entries, ttl_seconds)

    async def lookup(self, key: str) -> tuple[int | None, bytes | None]:
        return self.generation, self.entries.get((self.generation, key))

    async def store(self, generation: int, key: str, answer: bytes) -> None:
        self.entries[(generation, key)] = answer

    async def invalidate(self) -> int:
        self.generation += 1
        self.entries.clear()
        return self.generation

    async def close(self) -> None:
        return None


class RedisAnswerCache:
    def __init__(self, url: str, prefix: str, ttl_seconds: int, timeout_seconds: float) -> None:
        self.client = redis.Redis.from_url(
            url, socket_timeout=timeout_seconds, socket_connect_timeout=timeout_seconds
        )
        self.prefix = prefix
        self.ttl_seconds = ttl_seconds
        self.generation_key = f"{prefix}generation"
        self.answer_prefix = f"{prefix}answer:"
        self._lookup = self.client.register_script(_LOOKUP)
        self._last_error_log = 0.0

    def _failed(self, operation: str, error: Exception) -> None:
        CACHE_ERRORS.labels(operation=operation).inc()
        # One line per failing operation, but not more than one a second when Redis is down.
        now = time.monotonic()
        if now - self._last_error_log >= 1:
            self._last_error_log = now
            log.warning(
                "redis unavailable, answering from the database",
                extra={"operation": operation, "error": f"{type(error).__name__}: {error}"},
            )

    async def lookup(self, key: str) -> tuple[int | None, bytes | None]:
        try:
            reply = await self._lookup(keys=[self.generation_key], args=[self.answer_prefix, key])
        except (RedisError, OSError) as error:
            self._failed("lookup", error)
            return None, None
        return int(reply[0]), (reply[1] if len(reply) > 1 else None)

    async def store(self, generation: int, key: str, answer: bytes) -> None:
        try:
            await self.client.set(f"{self.answer_prefix}{generation}:{key}", answer, ex=self.ttl_seconds)
        except (RedisError, OSError) as error:
            self._failed("store", error)

    async def invalidate(self) -> int:
        try:
            return int(await self.client.incr(self.generation_key))
        except (RedisError, OSError) as error:
            self._failed("invalidate", error)
            raise CacheUnavailable(f"redis: {error}") from error

    async def close(self) -> None:
        await self.client.aclose()
