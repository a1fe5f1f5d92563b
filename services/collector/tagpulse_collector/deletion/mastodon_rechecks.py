"""Mastodon re-checks: stored statuses are looked up again on their instance, and those it answers
404 or 410 (deleted, or no longer visible) leave tagpulse through the one deletion path (reason
`upstream`).

A pass takes the statuses never checked, then those checked least recently (but not within
TAGPULSE_MASTODON_RECHECK_AFTER_HOURS), at most its budget: one request each, GET
/api/v1/statuses/:id on TAGPULSE_MASTODON_BASE_URL (status ids are that instance's own, which is
where the collection and the public-timeline stream read them). It runs in a collector every
TAGPULSE_MASTODON_RECHECK_INTERVAL_MINUTES, one replica at a time (an advisory lock), and as
`python -m tagpulse_collector mastodon-recheck`.

Only a 404 or 410 deletes. A 5xx, a timeout or a malformed answer leaves the status for a later
pass (never retried within the pass: a retry would spend the budget on one status); a 401/403 or a
429 ends the pass, and so does a rate-limit window with less than a quarter left, which stays for
the collections and streams that share it. A pass in which most statuses answer "gone" deletes no
more (`held`): that is what asking the wrong instance looks like (TAGPULSE_MASTODON_BASE_URL
changed after the posts were collected), not what people deleting their posts looks like.
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from functools import partial
from urllib.parse import quote

from sqlalchemy import Engine, and_, delete, exists, select
from sqlalchemy.engine import Connection

from tagpulse.db.engine import upsert
from tagpulse.db.models import MastodonStatusCheck, Post
from tagpulse_collector import locks
from tagpulse_collector.deletion.posts import UPSTREAM, Removed, delete_posts
from tagpulse_collector.ingestion.batches import in_transaction
from tagpulse_collector.metrics import MASTODON_RECHECKS, POSTS_DELETED
from tagpulse_collector.sources.api_client import ApiClient
from tagpulse_collector.sources.errors import Interrupted, SourceError
from tagpulse_collector.sources.mastodon import SOURCE_NAME, MastodonAccess
from tagpulse_collector.sources.rate_limits import mastodon_rate_limit

log = logging.getLogger("tagpulse.deletion")

JOB = "mastodon-recheck"
STATUS_PATH = "/api/v1/statuses/"
GONE = (404, 410)
# Answers stored (statuses marked checked, gone ones deleted) per transaction.
FLUSH_EVERY = 20
# A pass stops deleting once at least this many answers came and more than BRAKE_SHARE were "gone".
BRAKE_MIN_ANSWERS = 10
BRAKE_SHARE = 0.5
# The pass ends when the instance's window has less than this share of its requests left.
RESERVE_SHARE = 0.25


@dataclass(frozen=True)
class RecheckPass:
    """What one pass did."""

    requests: int = 0
    present: int = 0
    gone: int = 0
    failed: int = 0
    held: int = 0
    removed: Removed = field(default_factory=Removed)
    # Why the pass ended before its budget or its due statuses ran out; "" when it did not.
    stopped: str = ""

    def as_dict(self) -> dict[str, int | str]:
        """The figures as the log line and the command's JSON name them."""
        return {
            "requests": self.requests,
            "statuses_present": self.present,
            "statuses_gone": self.gone,
            "statuses_failed": self.failed,
            "statuses_held": self.held,
            "posts_deleted": self.removed.posts,
            "users_deleted": self.removed.users,
            "stopped": self.stopped,
        }


def pass_budget(per_hour: int, interval_minutes: float) -> int:
    """The requests one pass may spend: its share of the hourly budget (at least one)."""
    return max(1, math.ceil(per_hour * interval_minutes / 60)) if per_hour > 0 else 0


def recheck_client(access: MastodonAccess, stop: threading.Event | None = None) -> ApiClient:
    """The instance's client without retries or 429 waits: a status that fails is simply looked up
    at a later pass, and a spent window is the collections' and streams' to wait for."""
    policy = replace(access.policy, attempts=1, max_rate_limit_waits=0)
    return replace(access, policy=policy).client(stop)


def due_statuses(connection: Connection, limit: int, checked_before: datetime) -> list[str]:
    """Up to `limit` stored Mastodon status ids to look up: never checked first (in id order, from
    the posts' primary key), then the least recently checked before `checked_before`. Check rows of
    posts deleted since (by retention, on request) are removed on the way."""
    posts, checks = Post.table(), MastodonStatusCheck.table()
    never = connection.execute(
        select(posts.c.id)
        .where(posts.c.source == SOURCE_NAME, ~exists().where(checks.c.post_id == posts.c.id))
        .order_by(posts.c.source, posts.c.id)
        .limit(limit)
    )
    ids = [row.id for row in never]
    if len(ids) >= limit:
        return ids
    stale = connection.execute(
        select(checks.c.post_id, posts.c.id.label("stored"))
        .select_from(
            checks.outerjoin(posts, and_(posts.c.source == SOURCE_NAME, posts.c.id == checks.c.post_id))
        )
        .where(checks.c.checked_at < checked_before)
        .order_by(checks.c.checked_at, checks.c.post_id)
        .limit(limit - len(ids))
    ).all()
    orphans = [row.post_id for row in stale if row.stored is None]
    if orphans:
        connection.execute(delete(checks).where(checks.c.post_id.in_(orphans)))
    return ids + [row.post_id for row in stale if row.stored is not None]


def store_answers(
    connection: Connection, present: Sequence[str], gone: Sequence[str], checked_at: datetime
) -> Removed:
    """Mark `present` checked at `checked_at`; delete the posts of `gone` through the deletion path."""
    checks = MastodonStatusCheck.table()
    removed = delete_posts(connection, [(SOURCE_NAME, post_id) for post_id in gone])
    if gone:
        connection.execute(delete(checks).where(checks.c.post_id.in_(sorted(gone))))
    if present:
        statement = upsert(connection, checks)
        connection.execute(
            statement.on_conflict_do_update(
                index_elements=[checks.c.post_id], set_={"checked_at": statement.excluded.checked_at}
            ),
            [{"post_id": post_id, "checked_at": checked_at} for post_id in sorted(present)],
        )
    return removed


@dataclass
class _Pass:
    """A pass in progress: the answers not stored yet, and the figures so far."""

    engine: Engine
    now: datetime
    figures: RecheckPass = field(default_factory=RecheckPass)
    present: list[str] = field(default_factory=list)
    gone: list[str] = field(default_factory=list)

    def flush(self) -> None:
        gone, present = self.gone, self.present
        self.gone, self.present = [], []
        answered = self.figures.present + self.figures.gone + self.figures.held + len(present) + len(gone)
        gone_total = self.figures.gone + self.figures.held + len(gone)
        if gone and answered >= BRAKE_MIN_ANSWERS and gone_total > answered * BRAKE_SHARE:
            log.error(
                "most re-checked mastodon statuses answered gone: none deleted; is "
                "TAGPULSE_MASTODON_BASE_URL the instance they were collected from?",
                extra={"statuses_gone": gone_total, "statuses_answered": answered},
            )
            MASTODON_RECHECKS.labels(outcome="held").inc(len(gone))
            self.figures = replace(
                self.figures, held=self.figures.held + len(gone), stopped="most statuses answered gone"
            )
            gone = []
        if not gone and not present:
            return
        removed = in_transaction(
            self.engine, partial(store_answers, present=present, gone=gone, checked_at=self.now)
        )
        MASTODON_RECHECKS.labels(outcome="present").inc(len(present))
        MASTODON_RECHECKS.labels(outcome="gone").inc(len(gone))
        POSTS_DELETED.labels(source=SOURCE_NAME, reason=UPSTREAM).inc(removed.posts)
        self.figures = replace(
            self.figures,
            present=self.figures.present + len(present),
            gone=self.figures.gone + len(gone),
            removed=self.figures.removed + removed,
        )


def recheck_statuses(
    engine: Engine,
    client: ApiClient,
    budget: int,
    recheck_after: timedelta,
    now: datetime | None = None,
    stop: threading.Event | None = None,
) -> RecheckPass:
    """One pass of at most `budget` requests; see the module's docstring."""
    now = now or datetime.now(UTC)
    ids = in_transaction(engine, partial(due_statuses, limit=budget, checked_before=now - recheck_after))
    work = _Pass(engine, now)
    for status_id in ids:
        if work.figures.stopped:
            break
        if stop is not None and stop.is_set():
            work.figures = replace(work.figures, stopped="the collector is shutting down")
            break
        try:
            response = client.request("GET", STATUS_PATH + quote(status_id, safe=""), answered=GONE)
        except Interrupted:
            work.figures = replace(work.figures, stopped="the collector is shutting down")
            break
        except SourceError as error:
            MASTODON_RECHECKS.labels(outcome="failed").inc()
            work.figures = replace(
                work.figures, requests=work.figures.requests + error.requests, failed=work.figures.failed + 1
            )
            if error.stops_run:
                # Every other status would meet it too (credentials refused, rate limited).
                work.figures = replace(work.figures, stopped=str(error))
            else:
                log.warning(
                    "mastodon status re-check failed; looked up again at a later pass",
                    extra={"post_id": status_id, "reason": str(error)},
                )
            continue
        work.figures = replace(work.figures, requests=work.figures.requests + client.take_figures()[0])
        (work.gone if response.status_code in GONE else work.present).append(status_id)
        limit = mastodon_rate_limit(response.headers)
        if limit.limit and limit.remaining is not None and limit.remaining < limit.limit * RESERVE_SHARE:
            work.figures = replace(
                work.figures,
                stopped=f"{limit.remaining} of {limit.limit} requests left in the instance's window",
            )
        if len(work.present) + len(work.gone) >= FLUSH_EVERY:
            work.flush()
    work.flush()
    figures = work.figures
    log.info(
        "mastodon re-check pass finished",
        extra={**figures.as_dict(), "statuses_due": len(ids)},
    )
    return figures


def recheck_mastodon(
    engine: Engine,
    access: MastodonAccess,
    budget: int,
    recheck_after: timedelta,
    stop: threading.Event | None = None,
) -> RecheckPass | None:
    """`recheck_statuses`, by one collector at a time; None when another one is doing it."""
    with locks.lease(engine) as lease:
        if not lease.try_lock(locks.job_key(JOB)):
            return None
        with recheck_client(access, stop) as client:
            return recheck_statuses(engine, client, budget, recheck_after, stop=stop)


async def recheck_loop(
    engine: Engine,
    access: MastodonAccess,
    budget: int,
    recheck_after: timedelta,
    every_seconds: float,
    stop: threading.Event,
    on_removed: Callable[[Removed], None],
) -> None:
    """In a collector: a pass now and every `every_seconds` until `stop`."""
    while not stop.is_set():
        try:
            figures = await asyncio.to_thread(recheck_mastodon, engine, access, budget, recheck_after, stop)
        except Exception:
            log.exception("mastodon re-check pass failed; tried again at the next interval")
        else:
            if figures is not None and figures.removed.posts:
                on_removed(figures.removed)
        await asyncio.sleep(every_seconds)
