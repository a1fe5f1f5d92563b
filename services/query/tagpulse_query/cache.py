"""Cache-aside for answers, with generations instead of key scans.

An answer is stored under the generation that was current when it was looked up.
`invalidate()` bumps the generation, so every older answer is never read again and simply
expires. Redis when TAGPULSE_REDIS_URL is set (shared by every query replica), an in-process
dictionary otherwise. A cache that fails never fails a request: the caller computes the answer
from the database instead, and the failure is counted and logged.

In front of Redis, each process keeps the answers it served recently (`NearCache`), valid only
for the generation it *knows* to be current: Redis pushes every new generation to every
replica (pub/sub, published by the same script that bumps it), and a watchdog re-reads it
every second. A warm answer then costs no round trip at all. When the watch is broken the
generation is unknown and every request goes to Redis (or to the database), as without it.
"""

from __future__ import annotations

import asyncio
import contextlib
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
CACHE_NEAR_HITS = Counter(
    "tagpulse_cache_near_hits_total",
    "Cache hits answered from this process's near cache, without a Redis round trip (part of the hits).",
    ("rpc",),
)
CACHE_ERRORS = Counter("tagpulse_cache_errors_total", "Cache operations that failed.", ("operation",))

# One round trip: the current generation and the answer stored under it.
_LOOKUP = """
local generation = redis.call('GET', KEYS[1]) or '0'
return {generation, redis.call('GET', ARGV[1] .. generation .. ':' .. ARGV[2])}
"""
# Bump and announce in one step, so no replica can miss a bump that happened.
INVALIDATE_SCRIPT = """
local generation = redis.call('INCR', KEYS[1])
redis.call('PUBLISH', KEYS[1], generation)
return generation
"""
# How often the watch re-reads the generation when no announcement came; a known generation
# older than two of these is not trusted.
WATCH_SECONDS = 1.0

# (epoch, generation): the epoch changes whenever the watch had to start again, so answers
# kept before a gap in the watch (a Redis restart resets the generation) are never used.
ConfirmedGeneration = tuple[int, int]


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

    def confirmed_generation(self) -> ConfirmedGeneration | None:
        """The current generation as known without asking the store; None when not known."""
        ...

    async def close(self) -> None: ...


# Memory the answers of one process may take: a page of 1,000 posts is about half a megabyte.
MAX_CACHE_BYTES = 64 * 1024 * 1024
# The near cache's budget, in memory (entry_memory): what it adds to the process.
MAX_NEAR_CACHE_BYTES = 32 * 1024 * 1024


# What an entry costs besides its bytes (the key, the TTLCache's bookkeeping, the bytes object),
# rounded up: small answers are a few hundred bytes, so their count is bounded too.
MEMORY_PER_ENTRY = 1_000


def entry_memory(answer: bytes) -> int:
    return len(answer) + MEMORY_PER_ENTRY


class NearCache:
    """Encoded answers kept in this process, under the generation confirmed current. They are kept
    as the bytes gRPC sends (the server passes bytes through: `tagpulse.grpc_server`), so a warm
    answer is never parsed nor encoded again, and its memory is its length."""

    def __init__(self, ttl_seconds: int, max_bytes: int = MAX_NEAR_CACHE_BYTES) -> None:
        self.entries: TTLCache[tuple[ConfirmedGeneration, str], bytes] = TTLCache(
            max_bytes, ttl_seconds, getsizeof=entry_memory
        )

    def get(self, confirmed: ConfirmedGeneration | None, key: str) -> bytes | None:
        return None if confirmed is None else self.entries.get((confirmed, key))

    def put(
        self, confirmed: ConfirmedGeneration | None, generation: int | None, key: str, answer: bytes
    ) -> None:
        """Keep `answer`, computed or fetched under `generation`, if that is the confirmed one."""
        if confirmed is not None and confirmed[1] == generation:
            with contextlib.suppress(ValueError):  # larger than the whole cache: not kept
                self.entries[(confirmed, key)] = answer


class LocalAnswerCache:
    """For a single process without Redis (make run on a laptop)."""

    def __init__(self, ttl_seconds: int, max_bytes: int = MAX_CACHE_BYTES) -> None:
        self.generation = 0
        self.entries: TTLCache[tuple[int, str], bytes] = TTLCache(max_bytes, ttl_seconds, getsizeof=len)

    async def lookup(self, key: str) -> tuple[int | None, bytes | None]:
        return self.generation, self.entries.get((self.generation, key))

    async def store(self, generation: int, key: str, answer: bytes) -> None:
        with contextlib.suppress(ValueError):  # larger than the whole cache: not kept
            self.entries[(generation, key)] = answer

    async def invalidate(self) -> int:
        self.generation += 1
        self.entries.clear()
        return self.generation

    def confirmed_generation(self) -> ConfirmedGeneration | None:
        return (0, self.generation)

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
        self._invalidate = self.client.register_script(INVALIDATE_SCRIPT)
        self._last_error_log = 0.0
        # An invalidation that failed while Redis was unreachable: the answers cached before
        # it would be read again once Redis is back, so it is retried before the next lookup.
        self._invalidation_pending = False
        self._watch_task: asyncio.Task[None] | None = None
        self._closing = False
        self._epoch = 0
        self._known: int | None = None
        self._known_at = 0.0

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
            if self._invalidation_pending:
                await self._invalidate(keys=[self.generation_key])
                self._invalidation_pending = False
                log.info("cache invalidated after redis came back")
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
            generation = int(await self._invalidate(keys=[self.generation_key]))
        except (RedisError, OSError) as error:
            self._failed("invalidate", error)
            self._invalidation_pending = True
            # Nor may this process's near cache serve the retired answers.
            self._forget()
            raise CacheUnavailable(f"redis: {error}") from error
        self._invalidation_pending = False
        # This replica must not wait for its own announcement.
        self._learn(generation)
        return generation

    def confirmed_generation(self) -> ConfirmedGeneration | None:
        if self._watch_task is None:
            self._watch_task = asyncio.get_running_loop().create_task(self._watch())
        if self._known is None or time.monotonic() - self._known_at > 2 * WATCH_SECONDS:
            return None
        return (self._epoch, self._known)

    def _learn(self, generation: int) -> None:
        if self._known is not None and generation < self._known:
            # Redis lost its data (a restart): start a new epoch rather than trust old answers.
            self._epoch += 1
        self._known, self._known_at = generation, time.monotonic()

    def _forget(self) -> None:
        if self._known is not None:
            self._known = None
            self._epoch += 1

    async def _watch(self) -> None:
        """Follow the generation: announcements as they come, a re-read when none came."""
        while not self._closing:
            pubsub = self.client.pubsub()
            try:
                await pubsub.subscribe(self.generation_key)
                # Subscribed first, then read: no bump can fall between the two.
                self._learn(int(await self.client.get(self.generation_key) or 0))
                while not self._closing:
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=WATCH_SECONDS)
                    if message is not None:
                        self._learn(int(message["data"]))
                    else:
                        # A quiet second: read it again, which also proves Redis is there.
                        self._learn(int(await self.client.get(self.generation_key) or 0))
            except (RedisError, OSError, ValueError) as error:
                self._forget()
                if self._closing:
                    # redis-py can turn the cancellation of a read into a timeout error.
                    return
                self._failed("watch", error)
                await asyncio.sleep(WATCH_SECONDS)
            finally:
                await pubsub.aclose()  # type: ignore[no-untyped-call]

    async def close(self) -> None:
        self._closing = True
        if self._watch_task is not None:
            self._watch_task.cancel()
            # Bounded: a cancellation swallowed inside the Redis client must not hang shutdown.
            with contextlib.suppress(asyncio.CancelledError, asyncio.TimeoutError, RedisError, OSError):
                await asyncio.wait_for(self._watch_task, timeout=2 * WATCH_SECONDS)
        await self.client.aclose()
