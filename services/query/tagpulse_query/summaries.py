"""The summaries, answered from rollup tables and indexes: nothing here scans all posts."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Table, func, select
from sqlalchemy.engine import Connection

from tagpulse.db.models import (
    BUCKET_SECONDS,
    HashtagLanguageCountryCount,
    HashtagPostCountByBucket,
    Post,
    PostCountByBucket,
    PostHashtag,
    User,
    UserHashtagCount,
)
from tagpulse_query.records import UserRow, user_row
from tagpulse_query.requests import HOUR_OF_DAY, HashtagCountQuery, HourCountQuery, TopUsersQuery

BUCKET = timedelta(seconds=BUCKET_SECONDS)


@dataclass(frozen=True)
class HourRow:
    hour_of_day: int
    # Start of the local hour, as an aware datetime in the requested zone (TIMELINE only).
    local_start: datetime | None
    post_count: int


@dataclass(frozen=True)
class HashtagLanguageCountryRow:
    hashtag: str
    language: str
    country_code: str
    post_count: int


def top_users(connection: Connection, query: TopUsersQuery) -> list[UserRow]:
    """Distinct users by latest follower count; ties by (source, id)."""
    users = User.table()
    statement = select(users).order_by(users.c.followers_count.desc(), users.c.source, users.c.id)
    if query.hashtag is None:
        statement = statement.where(users.c.post_count > 0)
    else:
        posted = UserHashtagCount.table()
        statement = statement.join(
            posted, (posted.c.source == users.c.source) & (posted.c.user_id == users.c.id)
        ).where(posted.c.hashtag == query.hashtag)
    return [user_row(r) for r in connection.execute(statement.limit(query.limit))]


def count_posts_by_hour(connection: Connection, query: HourCountQuery) -> list[HourRow]:
    """Posts per local hour, each post once. Every UTC offset is a multiple of 15 minutes,
    so each 15-minute bucket lies inside one local hour and the sums are exact."""
    zone = ZoneInfo(query.time_zone)
    buckets = _bucket_counts(connection, query.hashtag, query.start, query.end)
    if query.mode == HOUR_OF_DAY:
        by_hour: Counter[int] = Counter()
        for start, count in buckets.items():
            by_hour[start.astimezone(zone).hour] += count
        return [HourRow(hour_of_day=h, local_start=None, post_count=by_hour[h]) for h in range(24)]

    if query.start is not None and query.end is not None:
        first, last = query.start, query.end - timedelta(microseconds=1)
    elif buckets:
        first = query.start or min(buckets)
        last = (
            (query.end - timedelta(microseconds=1))
            if query.end
            else max(buckets) + BUCKET - timedelta(microseconds=1)
        )
    else:
        return []
    # Keyed by the UTC instant the local hour starts: after a DST change the repeated local
    # hour (1:00 twice in New York) is two hours, and aware datetimes in one zone compare
    # by wall time, which would merge them.
    by_hour_start: Counter[datetime] = Counter()
    for start, count in buckets.items():
        by_hour_start[_local_hour_start(start, zone)] += count
    return [
        HourRow(hour_of_day=local.hour, local_start=local, post_count=by_hour_start[hour])
        for hour in _local_hour_starts(first, last, zone)
        for local in [hour.astimezone(zone)]
    ]


def _local_hour_start(instant: datetime, zone: ZoneInfo) -> datetime:
    """The UTC instant at which the local hour containing `instant` began."""
    local = instant.astimezone(zone)
    return local.replace(minute=0, second=0, microsecond=0).astimezone(UTC)


def _local_hour_starts(first: datetime, last: datetime, zone: ZoneInfo) -> list[datetime]:
    """The start (UTC) of every local hour touched by [first, last], in order, by walking
    15-minute steps (a local hour can start at :00, :30 or :45 UTC, and DST shifts by 30 or
    60 minutes)."""
    hours: list[datetime] = []
    step = _floor_bucket(first)
    while step <= last:
        hour = _local_hour_start(step, zone)
        if not hours or hours[-1] != hour:
            hours.append(hour)
        step += BUCKET
    return hours


def _floor_bucket(instant: datetime) -> datetime:
    seconds = int(instant.timestamp())
    return datetime.fromtimestamp(seconds - seconds % BUCKET_SECONDS, UTC)


def _ceil_bucket(instant: datetime) -> datetime:
    floor = _floor_bucket(instant)
    return floor if floor == instant else floor + BUCKET


def _bucket_counts(
    connection: Connection, hashtag: str | None, start: datetime | None, end: datetime | None
) -> dict[datetime, int]:
    """Post counts per bucket in [start, end). Whole buckets come from the rollup; the bucket
    cut by an unaligned start or end is counted from the posts index (at most two buckets)."""
    rollup: Table = (PostCountByBucket if hashtag is None else HashtagPostCountByBucket).table()
    statement = select(rollup.c.bucket_start, rollup.c.post_count)
    if hashtag is not None:
        statement = statement.where(rollup.c.hashtag == hashtag)
    first_whole = _ceil_bucket(start) if start is not None else None
    end_whole = _floor_bucket(end) if end is not None else None
    if first_whole is not None:
        statement = statement.where(rollup.c.bucket_start >= first_whole)
    if end_whole is not None:
        statement = statement.where(rollup.c.bucket_start < end_whole)
    partial: list[tuple[datetime, datetime]] = []
    if start is not None and first_whole is not None and start != first_whole:
        partial.append((start, min(first_whole, end) if end is not None else first_whole))
    # The end's bucket, unless it is the start's bucket, counted just above.
    if (
        end is not None
        and end_whole is not None
        and end != end_whole
        and (first_whole is None or end_whole >= first_whole)
    ):
        partial.append((end_whole, end))
    counts = {row.bucket_start: row.post_count for row in connection.execute(statement) if row.post_count}
    for low, high in partial:
        n = _count_posts_between(connection, hashtag, low, high)
        if n:
            key = _floor_bucket(low)
            counts[key] = counts.get(key, 0) + n
    return counts


def _count_posts_between(connection: Connection, hashtag: str | None, low: datetime, high: datetime) -> int:
    table: Table = (Post if hashtag is None else PostHashtag).table()
    statement = (
        select(func.count()).select_from(table).where(table.c.created_at >= low, table.c.created_at < high)
    )
    if hashtag is not None:
        statement = statement.where(table.c.hashtag == hashtag)
    return int(connection.execute(statement).scalar_one())


def count_posts_by_hashtag(
    connection: Connection, query: HashtagCountQuery
) -> list[HashtagLanguageCountryRow]:
    counts = HashtagLanguageCountryCount.table()
    statement = select(counts).order_by(
        counts.c.post_count.desc(), counts.c.hashtag, counts.c.language, counts.c.country_code
    )
    if query.hashtag is not None:
        statement = statement.where(counts.c.hashtag == query.hashtag)
    return [
        HashtagLanguageCountryRow(r.hashtag, r.language, r.country_code, r.post_count)
        for r in connection.execute(statement)
    ]
