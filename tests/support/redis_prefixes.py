"""Tests on the shared Redis keep their keys under a prefix of their own and delete them after."""

from __future__ import annotations

import redis


def delete_prefix(redis_url: str, prefix: str) -> None:
    """Delete every key under `prefix` (the test's own) on the Redis at `redis_url`."""
    client = redis.Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()
