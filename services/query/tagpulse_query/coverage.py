"""How much of X's conversation about a hashtag the stored sample holds: X's hourly counts (the
collector fetches and stores them, `tagpulse_collector/counts.py`) beside the posts stored from X
in each of X's buckets.

The buckets stay X's (UTC hours, the two ends of a fetch cut at its instant): they are shown in the
requested zone, never cut into local hours, since X's count of a part of an hour is unknown.
Mastodon and the sample source have no counts endpoint, so their hashtags have no coverage; the
answer says so instead of making figures up.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from tagpulse.db.models import Hashtag, PostHashtag, XHourlyPostCount, XPostCountFetch
from tagpulse.errors import NotFound
from tagpulse.text import quoted
from tagpulse_query.validation import CoverageQuery

# The source whose posts X counts.
X_SOURCE = "x"
NO_COUNTS = (
    "no X counts are stored for this hashtag: the collector fetches them (GET /2/tweets/counts/recent) "
    'when a collection from source "x" collects it, at most every TAGPULSE_X_COUNTS_REFRESH_MINUTES. '
    "Mastodon and the sample source have no counts endpoint, so their posts have no coverage figures"
)


def ratio(stored: int, counted: int) -> float | None:
    """stored / counted; None when X counted nothing (0/0 has no ratio, n/0 neither)."""
    return stored / counted if counted else None


@dataclass(frozen=True)
class CoverageHourRow:
    start: datetime
    end: datetime
    # `start` in the requested zone.
    local_start: datetime
    x_posts: int
    stored_posts: int

    @property
    def coverage(self) -> float | None:
        return ratio(self.stored_posts, self.x_posts)


@dataclass(frozen=True)
class CoverageRow:
    hashtag: str
    time_zone: str
    # Both None when no counts are stored for the hashtag; `message` then says why.
    query: str | None
    fetched_at: datetime | None
    hours: tuple[CoverageHourRow, ...]
    message: str

    @property
    def counts_available(self) -> bool:
        return self.fetched_at is not None

    @property
    def x_posts(self) -> int:
        return sum(hour.x_posts for hour in self.hours)

    @property
    def stored_posts(self) -> int:
        return sum(hour.stored_posts for hour in self.hours)

    @property
    def coverage(self) -> float | None:
        return ratio(self.stored_posts, self.x_posts) if self.counts_available else None


def hashtag_coverage(connection: Connection, query: CoverageQuery) -> CoverageRow:
    """X's buckets of the hashtag with the posts stored from X in each, oldest first. NotFound
    when tagpulse knows nothing of the hashtag: neither counts, nor posts, nor tracking."""
    fetches, buckets, links = XPostCountFetch.table(), XHourlyPostCount.table(), PostHashtag.table()
    # One statement, so the fetch time and the buckets always belong together. The posts of each
    # bucket are a range of the (hashtag, created_at) index.
    stored = (
        select(func.count())
        .select_from(links)
        .where(
            links.c.hashtag == fetches.c.hashtag,
            links.c.source == X_SOURCE,
            links.c.created_at >= buckets.c.bucket_start,
            links.c.created_at < buckets.c.bucket_end,
        )
        .scalar_subquery()
    )
    rows = connection.execute(
        select(
            fetches.c.query,
            fetches.c.fetched_at,
            buckets.c.bucket_start,
            buckets.c.bucket_end,
            buckets.c.post_count,
            stored.label("stored"),
        )
        .select_from(fetches.outerjoin(buckets, buckets.c.hashtag == fetches.c.hashtag))
        .where(fetches.c.hashtag == query.hashtag)
        .order_by(buckets.c.bucket_start)
    ).all()
    if not rows:
        _check_known(connection, query.hashtag)
        return CoverageRow(query.hashtag, query.time_zone, None, None, (), NO_COUNTS)
    zone = ZoneInfo(query.time_zone)
    hours = tuple(
        CoverageHourRow(
            start=row.bucket_start,
            end=row.bucket_end,
            local_start=row.bucket_start.astimezone(zone),
            x_posts=row.post_count,
            stored_posts=row.stored,
        )
        for row in rows
        if row.bucket_start is not None
    )
    message = "" if hours else "X counted no posts for this hashtag in the 7 days before the fetch"
    return CoverageRow(query.hashtag, query.time_zone, rows[0].query, rows[0].fetched_at, hours, message)


def _check_known(connection: Connection, hashtag: str) -> None:
    hashtags = Hashtag.table()
    if connection.execute(select(hashtags.c.name).where(hashtags.c.name == hashtag)).first() is None:
        raise NotFound(
            f"hashtag {quoted(hashtag)} is unknown: it is not tracked, no post with it was collected, "
            "and X's counts of it were never fetched"
        )
