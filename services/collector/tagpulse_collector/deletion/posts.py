"""The one deletion path: remove a set of posts and subtract them from every rollup, exactly.

In one transaction, for the posts of the set that are stored:

1. the posts are locked (PostgreSQL `FOR UPDATE`; SQLite's single writer lock is taken by the
   first write), so two deletions of the same post subtract it once, and a collection storing it
   at the same moment either sees it stored (not new: counted nothing) or stores it again after
   this commits (new: counted again);
2. their hashtag links, stream records and the posts themselves are deleted;
3. what they counted is subtracted from every rollup: the 15-minute buckets, per hashtag, hashtag ×
   language × country, user × hashtag, the users' and hashtags' post counts and the stored posts
   per source; rows that reach zero are removed, as if they had never been counted;
4. authors left with no stored post are removed.

The keyword streams' figures stay as they were: they describe what arrived.

`scrub_geo` is the same for a post whose geo information must go (X's `scrub_geo`): its place is
forgotten, its country becomes its author's profile country (as for a post stored without a
place), and the hashtag × language × country rollup moves it from the old country to the new one.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, delete, select, tuple_, update
from sqlalchemy.engine import Connection
from sqlalchemy.sql import ColumnElement

from tagpulse.db.engine import upsert
from tagpulse.db.models import (
    UNKNOWN_COUNTRY,
    Hashtag,
    HashtagLanguageCountryCount,
    HashtagPostCountByBucket,
    Post,
    PostCountByBucket,
    PostHashtag,
    SourceCount,
    StreamPost,
    User,
    UserHashtagCount,
)
from tagpulse_collector.ingestion.batches import bucket_start

# Keys per statement: bounded, so one deletion batch never builds an unbounded IN list.
CHUNK = 500
# Why posts were deleted: the `reason` label of tagpulse_posts_deleted_total.
RETENTION, ON_REQUEST, UPSTREAM = "retention", "request", "upstream"
DELETION_REASONS = (RETENTION, ON_REQUEST, UPSTREAM)


@dataclass(frozen=True)
class Removed:
    """What one deletion removed."""

    posts: int = 0
    links: int = 0
    users: int = 0
    # Posts removed per source.
    by_source: tuple[tuple[str, int], ...] = ()

    def __add__(self, other: Removed) -> Removed:
        by_source = Counter(dict(self.by_source)) + Counter(dict(other.by_source))
        return Removed(
            self.posts + other.posts,
            self.links + other.links,
            self.users + other.users,
            tuple(sorted(by_source.items())),
        )


def delete_posts(connection: Connection, keys: Iterable[tuple[str, str]]) -> Removed:
    """Remove the stored posts among `keys` ((source, id) pairs) and everything they counted,
    in the caller's transaction. Keys of posts that are not stored are ignored."""
    wanted = sorted(set(keys))
    removed = Removed()
    for start in range(0, len(wanted), CHUNK):
        removed = removed + _delete_chunk(connection, wanted[start : start + CHUNK])
    return removed


def delete_author_posts(connection: Connection, source: str, authors: Sequence[str], limit: int) -> Removed:
    """`delete_posts` for at most `limit` stored posts of `authors` (ids of `source`): one batch of
    a deletion by author, which the caller repeats until a batch comes back short."""
    posts = Post.table()
    keys = connection.execute(
        select(posts.c.source, posts.c.id)
        .where(posts.c.source == source, posts.c.author_id.in_(authors))
        .limit(limit)
    )
    return delete_posts(connection, [(row.source, row.id) for row in keys])


def scrub_geo(connection: Connection, keys: Iterable[tuple[str, str]]) -> int:
    """Forget the place of the stored posts among `keys` that have one, in the caller's
    transaction, moving them in the rollups to their author's profile country. Returns how many
    posts changed."""
    wanted = sorted(set(keys))
    return sum(
        _scrub_chunk(connection, wanted[start : start + CHUNK]) for start in range(0, len(wanted), CHUNK)
    )


def _scrub_chunk(connection: Connection, keys: Sequence[tuple[str, str]]) -> int:
    posts, links, users = Post.table(), PostHashtag.table(), User.table()
    query = (
        select(
            posts.c.source,
            posts.c.id,
            posts.c.language,
            posts.c.country_code,
            users.c.country_code.label("profile"),
        )
        .select_from(
            posts.outerjoin(users, and_(users.c.source == posts.c.source, users.c.id == posts.c.author_id))
        )
        .where(tuple_(posts.c.source, posts.c.id).in_(keys), posts.c.place_country_code.is_not(None))
        .order_by(posts.c.source, posts.c.id)
    )
    if connection.dialect.name == "postgresql":
        query = query.with_for_update(of=posts)
    found = connection.execute(query).all()
    if not found:
        return 0
    country = {(row.source, row.id): row.profile or UNKNOWN_COUNTRY for row in found}
    connection.execute(
        update(posts)
        .where(posts.c.source == bindparam("k_source"), posts.c.id == bindparam("k_id"))
        .values(place_country_code=None, country_code=bindparam("new_country")),
        [{"k_source": s, "k_id": i, "new_country": c} for (s, i), c in sorted(country.items())],
    )
    moved = [row for row in found if country[(row.source, row.id)] != row.country_code]
    if moved:
        of_moved = tuple_(links.c.source, links.c.post_id).in_([(row.source, row.id) for row in moved])
        tags: dict[tuple[str, str], list[str]] = {}
        for link in connection.execute(
            select(links.c.source, links.c.post_id, links.c.hashtag).where(of_moved)
        ):
            tags.setdefault((link.source, link.post_id), []).append(link.hashtag)
        leaving: Counter[tuple[str, str, str]] = Counter()
        arriving: Counter[tuple[str, str, str]] = Counter()
        for row in moved:
            for tag in tags.get((row.source, row.id), ()):
                leaving[(tag, row.language, row.country_code)] += 1
                arriving[(tag, row.language, country[(row.source, row.id)])] += 1
        rollup = HashtagLanguageCountryCount.table()
        _add(connection, rollup, ["hashtag", "language", "country_code"], rollup.c.post_count, arriving)
        keys_ = [rollup.c.hashtag, rollup.c.language, rollup.c.country_code]
        _subtract(connection, rollup, keys_, rollup.c.post_count, leaving)
    return len(found)


def _add(connection: Connection, table: Any, keys: Sequence[str], count: Any, amounts: Counter[Any]) -> None:
    """`count += amount` for each key of `amounts`, inserting the rows that are missing."""
    if not amounts:
        return
    statement = upsert(connection, table)
    statement = statement.on_conflict_do_update(
        index_elements=list(keys), set_={count.name: count + statement.excluded[count.name]}
    )
    rows = [{**dict(zip(keys, key, strict=True)), count.name: n} for key, n in sorted(amounts.items())]
    connection.execute(statement, rows)


def _delete_chunk(connection: Connection, keys: Sequence[tuple[str, str]]) -> Removed:
    posts, links = Post.table(), PostHashtag.table()
    of_posts = tuple_(posts.c.source, posts.c.id).in_(keys)
    query = (
        select(
            posts.c.source,
            posts.c.id,
            posts.c.author_id,
            posts.c.language,
            posts.c.country_code,
            posts.c.created_at,
        )
        .where(of_posts)
        .order_by(posts.c.source, posts.c.id)
    )
    if connection.dialect.name == "postgresql":
        query = query.with_for_update()
    found = connection.execute(query).all()
    if not found:
        return Removed()
    stored = [(row.source, row.id) for row in found]
    of_links = tuple_(links.c.source, links.c.post_id).in_(stored)
    tags: dict[tuple[str, str], list[str]] = {}
    for link in connection.execute(select(links.c.source, links.c.post_id, links.c.hashtag).where(of_links)):
        tags.setdefault((link.source, link.post_id), []).append(link.hashtag)
    stream_posts = StreamPost.table()
    connection.execute(
        delete(stream_posts).where(tuple_(stream_posts.c.source, stream_posts.c.post_id).in_(stored))
    )
    connection.execute(delete(links).where(of_links))
    connection.execute(delete(posts).where(tuple_(posts.c.source, posts.c.id).in_(stored)))
    _subtract_rollups(connection, found, tags)
    users = _subtract_users(connection, Counter((row.source, row.author_id) for row in found))
    return Removed(
        posts=len(found),
        links=sum(len(t) for t in tags.values()),
        users=users,
        by_source=tuple(sorted(Counter(row.source for row in found).items())),
    )


def _subtract_rollups(
    connection: Connection, found: Sequence[Any], tags: dict[tuple[str, str], list[str]]
) -> None:
    buckets: Counter[tuple[datetime]] = Counter()
    tag_buckets: Counter[tuple[str, datetime]] = Counter()
    tag_lang_country: Counter[tuple[str, str, str]] = Counter()
    user_tags: Counter[tuple[str, str, str]] = Counter()
    hashtags: Counter[tuple[str]] = Counter()
    sources: Counter[tuple[str]] = Counter()
    for row in found:
        bucket = bucket_start(row.created_at)
        buckets[(bucket,)] += 1
        sources[(row.source,)] += 1
        for tag in tags.get((row.source, row.id), ()):
            tag_buckets[(tag, bucket)] += 1
            tag_lang_country[(tag, row.language, row.country_code)] += 1
            user_tags[(tag, row.source, row.author_id)] += 1
            hashtags[(tag,)] += 1
    rollup = PostCountByBucket.table()
    _subtract(connection, rollup, [rollup.c.bucket_start], rollup.c.post_count, buckets)
    rollup = HashtagPostCountByBucket.table()
    _subtract(connection, rollup, [rollup.c.hashtag, rollup.c.bucket_start], rollup.c.post_count, tag_buckets)
    rollup = HashtagLanguageCountryCount.table()
    keys = [rollup.c.hashtag, rollup.c.language, rollup.c.country_code]
    _subtract(connection, rollup, keys, rollup.c.post_count, tag_lang_country)
    rollup = UserHashtagCount.table()
    keys = [rollup.c.hashtag, rollup.c.source, rollup.c.user_id]
    _subtract(connection, rollup, keys, rollup.c.post_count, user_tags)
    table = Hashtag.table()
    # A hashtag stays (tracked, its last collection) when its count reaches zero.
    _subtract(connection, table, [table.c.name], table.c.post_count, hashtags, drop_zero=False)
    table = SourceCount.table()
    _subtract(connection, table, [table.c.source], table.c.posts_stored, sources, drop_zero=False)


def _subtract_users(connection: Connection, authors: Counter[tuple[str, str]]) -> int:
    """Subtract the authors' removed posts; remove those left with none. Returns how many."""
    users = User.table()
    _subtract(connection, users, [users.c.source, users.c.id], users.c.post_count, authors, drop_zero=False)
    emptied = [
        (row.source, row.id)
        for row in connection.execute(
            select(users.c.source, users.c.id).where(
                tuple_(users.c.source, users.c.id).in_(sorted(authors)), users.c.post_count <= 0
            )
        )
    ]
    if emptied:
        connection.execute(delete(users).where(tuple_(users.c.source, users.c.id).in_(emptied)))
    return len(emptied)


def _subtract(
    connection: Connection,
    table: Any,
    keys: Sequence[Any],
    count: Any,
    amounts: Counter[Any],
    drop_zero: bool = True,
) -> None:
    """`count -= amount` for each key of `amounts`, in key order (as the writers lock them); rows
    left at zero are removed when `drop_zero`."""
    if not amounts:
        return
    where: ColumnElement[bool] = and_(*(column == bindparam(f"k{i}") for i, column in enumerate(keys)))
    statement = update(table).where(where).values({count.name: count - bindparam("amount")})
    rows = [
        {**{f"k{i}": value for i, value in enumerate(key)}, "amount": n} for key, n in sorted(amounts.items())
    ]
    connection.execute(statement, rows)
    if drop_zero:
        keyset = (
            tuple_(*keys).in_(sorted(amounts))
            if len(keys) > 1
            else keys[0].in_([k[0] for k in sorted(amounts)])
        )
        connection.execute(delete(table).where(keyset, count <= 0))
