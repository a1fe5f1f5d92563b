"""Retention: posts older than their source's retention (TAGPULSE_RETENTION_DAYS) are deleted, in
bounded batches of the oldest first, each batch in its own transaction through the one deletion
path, with a log line and the metric per batch.

It runs in the collector every TAGPULSE_RETENTION_INTERVAL_MINUTES (one collector at a time, by an
advisory lock) and as `python -m tagpulse_collector retention` (the chart's CronJob). Either way the
query service is then asked to retire its cached answers.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from functools import partial

from sqlalchemy import Engine, select
from sqlalchemy.engine import Connection

from tagpulse.db.models import Post
from tagpulse_collector import locks
from tagpulse_collector.deletion.posts import RETENTION, Removed, delete_posts
from tagpulse_collector.ingestion.batches import in_transaction
from tagpulse_collector.metrics import POSTS_DELETED

log = logging.getLogger("tagpulse.deletion")


def delete_expired(
    engine: Engine,
    retention_days: Mapping[str, int],
    batch_posts: int = 1000,
    now: datetime | None = None,
    stop: threading.Event | None = None,
) -> Removed:
    """Delete every post older than its source's retention; sources not named are kept."""
    now = now or datetime.now(UTC)
    removed = Removed()
    for source, days in sorted(retention_days.items()):
        cutoff = now - timedelta(days=days)
        while not (stop is not None and stop.is_set()):
            batch = in_transaction(
                engine, partial(_delete_batch, source=source, cutoff=cutoff, limit=batch_posts)
            )
            if batch.posts == 0:
                break
            removed = removed + batch
            POSTS_DELETED.labels(source=source, reason=RETENTION).inc(batch.posts)
            log.info(
                "posts past their retention deleted",
                extra={
                    "source": source,
                    "retention_days": days,
                    "older_than": cutoff.isoformat(),
                    "posts_deleted": batch.posts,
                    "users_deleted": batch.users,
                },
            )
    return removed


def _delete_batch(connection: Connection, source: str, cutoff: datetime, limit: int) -> Removed:
    posts = Post.table()
    keys = connection.execute(
        select(posts.c.source, posts.c.id)
        .where(posts.c.source == source, posts.c.created_at < cutoff)
        .order_by(posts.c.created_at, posts.c.id)
        .limit(limit)
    )
    return delete_posts(connection, [(row.source, row.id) for row in keys])


def enforce_retention(
    engine: Engine,
    retention_days: Mapping[str, int],
    batch_posts: int = 1000,
    stop: threading.Event | None = None,
) -> Removed | None:
    """`delete_expired`, by one collector at a time; None when another one is doing it."""
    with locks.lease(engine) as lease:
        if not lease.try_lock(locks.job_key(RETENTION)):
            return None
        return delete_expired(engine, retention_days, batch_posts, stop=stop)


async def retention_loop(
    engine: Engine,
    retention_days: Mapping[str, int],
    every_seconds: float,
    batch_posts: int,
    stop: threading.Event,
    on_removed: Callable[[Removed], None],
) -> None:
    """In a collector: enforce the retention now and every `every_seconds` until `stop`."""
    while not stop.is_set():
        try:
            removed = await asyncio.to_thread(enforce_retention, engine, retention_days, batch_posts, stop)
        except Exception:
            log.exception("retention failed; tried again at the next interval")
        else:
            if removed is not None and removed.posts:
                on_removed(removed)
        await asyncio.sleep(every_seconds)
