"""The summaries computed the slow, obvious way from raw rows, to check the fast answers."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, select

from tagpulse.db.models import Post, PostHashtag, User


def stored(engine: Engine) -> tuple[list, dict, dict]:  # type: ignore[type-arg]
    with engine.connect() as connection:
        posts = connection.execute(select(Post.table())).all()
        links = connection.execute(select(PostHashtag.table())).all()
        users = {(u.source, u.id): u for u in connection.execute(select(User.table()))}
    tags: dict[tuple[str, str], set[str]] = {}
    for link in links:
        tags.setdefault((link.source, link.post_id), set()).add(link.hashtag)
    return posts, tags, users


def hour_of_day_counts(
    posts: list,
    tags: dict,
    zone: str,
    hashtag: str | None,
    start: datetime | None = None,
    end: datetime | None = None,
) -> list[int]:  # type: ignore[type-arg]
    counts = Counter(
        p.created_at.astimezone(ZoneInfo(zone)).hour
        for p in posts
        if (hashtag is None or hashtag in tags.get((p.source, p.id), ()))
        and (start is None or p.created_at >= start)
        and (end is None or p.created_at < end)
    )
    return [counts[h] for h in range(24)]


def local_hour_counts(
    posts: list,
    tags: dict,
    zone: str,
    hashtag: str | None,
    start: datetime | None = None,
    end: datetime | None = None,
) -> Counter[datetime]:  # type: ignore[type-arg]
    tz = ZoneInfo(zone)
    counts: Counter[datetime] = Counter()
    for p in posts:
        if hashtag is not None and hashtag not in tags.get((p.source, p.id), ()):
            continue
        if (start is not None and p.created_at < start) or (end is not None and p.created_at >= end):
            continue
        local = p.created_at.astimezone(tz)
        # Keyed by the UTC instant: 1:00 twice on a DST "fall back" day are two hours.
        counts[local.replace(minute=0, second=0, microsecond=0).astimezone(UTC)] += 1
    return counts
