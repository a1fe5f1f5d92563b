"""The summaries, answered from rollup tables and indexes: nothing here scans all posts."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import BigInteger, Table, and_, cast, extract, func, or_, select, true, tuple_
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
from tagpulse.pagination import HashtagCountCursor, page_of
from tagpulse_query.local_hours import LocalHours
from tagpulse_query.records import UserRow, user_row
from tagpulse_query.validation import (
    HOUR_OF_DAY,
    MAX_TIMELINE_HOURS,
    ORDER_BY_COUNT,
    HashtagCountQuery,
    HourCountQuery,
    TopUsersQuery,
)

BUCKET = timedelta(seconds=BUCKET_SECONDS)
MICROSECOND = timedelta(microseconds=1)


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
        # Only the buckets that hold posts count, so the zone's offsets are worked out over the
        # span of the data, never over the request's (which may be 8,000 years wide).
        by_hour = [0] * 24
        if buckets:
            hours = LocalHours(zone, min(buckets), max(buckets) + BUCKET_SECONDS - 1)
            for start, hour in hours.hours_of_day(sorted(buckets)):
                by_hour[hour] += buckets[start]
        return [HourRow(hour_of_day=h, local_start=None, post_count=by_hour[h]) for h in range(24)]
    span = _timeline_span(query, buckets)
    if span is None:
        return []
    first, last = span
    hours = LocalHours(zone, int(first.timestamp()), int(last.timestamp()))

    # Every 15-minute step of [first, last] in order, each counted into the local hour it lies
    # in. Hours are told apart by the instant they start: after a DST change the repeated local
    # hour (1:00 twice in New York) is two hours, and aware datetimes in one zone compare by
    # wall time, which would merge them. A local hour can start at :00, :30 or :45 UTC, and DST
    # shifts by 30 or 60 minutes, so the steps find every hour.
    starts: list[int] = []
    counts: list[int] = []
    steps = range(int(_floor_bucket(first).timestamp()), math.floor(last.timestamp()) + 1, BUCKET_SECONDS)
    for step, hour in hours.hour_starts(steps):
        if not starts or starts[-1] != hour:
            starts.append(hour)
            counts.append(0)
        counts[-1] += buckets.get(step, 0)
    return [
        HourRow(hour_of_day=local.hour, local_start=local, post_count=count)
        for hour, count in zip(starts, counts, strict=True)
        for local in [hours.local(hour)]
    ]


def _timeline_span(query: HourCountQuery, buckets: dict[int, int]) -> tuple[datetime, datetime] | None:
    """The first and last instant a timeline covers, None when there is nothing to show.

    Both ends given: exactly that frame, empty hours included (validation bounds its span).
    An end left open: the frame shrinks to the posts inside the given end (from the oldest
    post's bucket to the newest's), and keeps the newest MAX_TIMELINE_HOURS of it, so that the
    answer's size and cost stay bounded however far the given end lies (startTime=1970-01-01
    asks for "everything", and gets the latest year of it)."""
    if query.start is not None and query.end is not None:
        return query.start, query.end - MICROSECOND
    if not buckets:
        return None
    start = datetime.fromtimestamp(min(buckets), UTC)
    end = datetime.fromtimestamp(max(buckets), UTC) + BUCKET
    if query.start is not None:
        start = max(start, query.start)
    if query.end is not None:
        end = min(end, query.end)
    return max(start, end - timedelta(hours=MAX_TIMELINE_HOURS)), end - MICROSECOND


def _floor_bucket(instant: datetime) -> datetime:
    seconds = int(instant.timestamp())
    return datetime.fromtimestamp(seconds - seconds % BUCKET_SECONDS, UTC)


def _ceil_bucket(instant: datetime) -> datetime:
    floor = _floor_bucket(instant)
    return floor if floor == instant else floor + BUCKET


def _bucket_counts(
    connection: Connection, hashtag: str | None, start: datetime | None, end: datetime | None
) -> dict[int, int]:
    """Post counts per bucket in [start, end), keyed by the bucket's epoch second. Whole
    buckets come from the rollup; the bucket cut by an unaligned start or end is counted from
    the posts index (at most two buckets)."""
    rollup: Table = (PostCountByBucket if hashtag is None else HashtagPostCountByBucket).table()
    # Epoch seconds straight from the database: a year of buckets is 35,000 rows, and making
    # an aware datetime of each would cost more than the rest of the answer.
    epoch = cast(extract("epoch", rollup.c.bucket_start), BigInteger).label("epoch")
    statement = select(epoch, rollup.c.post_count)
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
    counts: dict[int, int] = {
        int(bucket): count for bucket, count in connection.execute(statement).all() if count
    }
    for low, high in partial:
        posts = _count_posts_between(connection, hashtag, low, high)
        if posts:
            key = int(_floor_bucket(low).timestamp())
            counts[key] = counts.get(key, 0) + posts
    return counts


def _count_posts_between(connection: Connection, hashtag: str | None, low: datetime, high: datetime) -> int:
    table: Table = (Post if hashtag is None else PostHashtag).table()
    statement = (
        select(func.count()).select_from(table).where(table.c.created_at >= low, table.c.created_at < high)
    )
    if hashtag is not None:
        statement = statement.where(table.c.hashtag == hashtag)
    return int(connection.execute(statement).scalar_one())


@dataclass(frozen=True)
class HashtagCountPage:
    rows: list[HashtagLanguageCountryRow]
    # The cursor after the last row; None on the last page.
    last: HashtagCountCursor | None
    # Over all pages: the rows matching the filters and the sum of their counts.
    total_rows: int
    total_posts: int


def count_posts_by_hashtag(connection: Connection, query: HashtagCountQuery) -> HashtagCountPage:
    """A page of hashtag × language × country rows and the totals of all pages, from one
    statement (one snapshot: the totals are those of the rows the pages walk)."""
    counts = HashtagLanguageCountryCount.table()
    wanted = query.filter
    conditions = []
    if wanted.hashtag is not None:
        conditions.append(counts.c.hashtag == wanted.hashtag)
    if wanted.language is not None:
        conditions.append(counts.c.language == wanted.language)
    if wanted.country_code is not None:
        conditions.append(counts.c.country_code == wanted.country_code)
    names = (counts.c.hashtag, counts.c.language, counts.c.country_code)
    by_count = wanted.order_by == ORDER_BY_COUNT
    page = select(*names, counts.c.post_count).where(*conditions)
    after = query.after
    if after is not None:
        beyond = tuple_(*names) > tuple_(after.hashtag, after.language, after.country_code)
        if by_count:
            beyond = or_(
                counts.c.post_count < after.post_count,
                and_(counts.c.post_count == after.post_count, beyond),
            )
        page = page.where(beyond)
    order = (counts.c.post_count.desc(), *names) if by_count else names
    rows_page = page.order_by(*order).limit(query.page_size + 1).subquery("page")
    totals = (
        select(func.count().label("rows"), func.coalesce(func.sum(counts.c.post_count), 0).label("posts"))
        .where(*conditions)
        .subquery("totals")
    )
    # The totals row joined to every row of the page, or alone (with NULLs) past the last one.
    ordered = (rows_page.c.post_count.desc(),) if by_count else ()
    statement = (
        select(totals.c.rows, totals.c.posts, *rows_page.c)
        .select_from(totals.outerjoin(rows_page, true()))
        .order_by(*ordered, rows_page.c.hashtag, rows_page.c.language, rows_page.c.country_code)
    )
    # All rows at once and by position: fetching row by row and reading columns by name cost
    # more than the query (1,300 rows).
    fetched = connection.execute(statement).all()
    total_rows, total_posts = (int(fetched[0][0]), int(fetched[0][1])) if fetched else (0, 0)
    found = [HashtagLanguageCountryRow(*row[2:]) for row in fetched if row[2] is not None]
    rows, last = page_of(
        found,
        query.page_size,
        lambda r: HashtagCountCursor(r.post_count, r.hashtag, r.language, r.country_code),
    )
    return HashtagCountPage(rows, last, total_rows, total_posts)
