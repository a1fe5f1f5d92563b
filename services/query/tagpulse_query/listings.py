"""Lists and lookups: posts, users and hashtags, page by page from indexes.

Pages are keyset pages: the token holds the last row's sort key and the next page starts
strictly after it. A page never depends on how many rows come before it, so posts stored
between two requests can never shift a post into a second page or out of every page.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Join, Table, and_, or_, select, tuple_
from sqlalchemy.engine import Connection

from tagpulse.db.models import Hashtag, Post, PostHashtag, SourceCount, User
from tagpulse.db.records import from_row
from tagpulse.errors import InvalidArgument, NotFound
from tagpulse.pagination import HashtagCursor, PostCursor, UserCursor
from tagpulse_query.records import HashtagRow, PostRow, UserRow, user_row
from tagpulse_query.validation import ORDER_BY_FOLLOWERS, HashtagsQuery, PostQuery, PostsQuery, UsersQuery


@dataclass(frozen=True)
class PostPage:
    posts: list[PostRow]
    # The last post's key when more may follow; None on the last page.
    last: PostCursor | None


@dataclass(frozen=True)
class UserPage:
    users: list[UserRow]
    last: UserCursor | None


@dataclass(frozen=True)
class HashtagPage:
    hashtags: list[HashtagRow]
    last: HashtagCursor | None


def _after_desc_asc_asc(
    first: ColumnElement[Any],
    second: ColumnElement[Any],
    third: ColumnElement[Any],
    key: tuple[Any, Any, Any],
) -> ColumnElement[bool]:
    """Rows after `key` in the order (first DESC, second, third), the order of our indexes.

    The redundant `first <= key` lets the database start the index scan at the key instead
    of filtering every row before it.
    """
    return and_(
        first <= key[0],
        or_(first < key[0], and_(first == key[0], tuple_(second, third) > tuple_(key[1], key[2]))),
    )


# A page of posts stops early rather than outgrow what a REST answer may be (Envoy buffers at
# most 1 MiB of it): 700 long posts in a script of three UTF-8 bytes per character did. The
# estimate is the JSON of each post's free text, plus a bound on its other fields.
MAX_PAGE_JSON_BYTES = 768 * 1024
POST_OVERHEAD_BYTES = 300


def _post_columns(posts: Table, users: Table) -> tuple[ColumnElement[Any], ...]:
    """The columns of a PostRow (its hashtags come from a second query)."""
    return (
        posts.c.source,
        posts.c.id,
        posts.c.author_id,
        users.c.username.label("author_username"),
        posts.c.text,
        posts.c.language,
        posts.c.created_at,
        posts.c.country_code,
    )


def _with_authors(posts: Table, users: Table) -> Join:
    return posts.join(users, and_(users.c.source == posts.c.source, users.c.id == posts.c.author_id))


def list_posts(connection: Connection, query: PostsQuery) -> PostPage:
    """Posts newest first, then by (source, id), filtered; one page."""
    posts, users = Post.table(), User.table()
    wanted = query.filter
    authors = _with_authors(posts, users)
    conditions: list[ColumnElement[bool]] = []
    if wanted.hashtag is not None:
        # Driven by the hashtag's index, which carries the post's time and key.
        links = PostHashtag.table()
        created, source, post_id = links.c.created_at, links.c.source, links.c.post_id
        joined = links.join(authors, and_(posts.c.source == links.c.source, posts.c.id == links.c.post_id))
        conditions.append(links.c.hashtag == wanted.hashtag)
    else:
        created, source, post_id = posts.c.created_at, posts.c.source, posts.c.id
        joined = authors
    if wanted.language is not None:
        conditions.append(posts.c.language == wanted.language)
    if wanted.author_id is not None:
        conditions.append(posts.c.author_id == wanted.author_id)
    if wanted.country_code is not None:
        conditions.append(posts.c.country_code == wanted.country_code)
    if wanted.start is not None:
        conditions.append(created >= wanted.start)
    if wanted.end is not None:
        conditions.append(created < wanted.end)
    if query.after is not None:
        after = query.after
        conditions.append(
            _after_desc_asc_asc(created, source, post_id, (after.created_at, after.source, after.id))
        )
    statement = (
        select(*_post_columns(posts, users))
        .select_from(joined)
        .where(*conditions)
        .order_by(created.desc(), source, post_id)
        .limit(query.page_size + 1)
    )
    rows = connection.execute(statement).all()
    more = len(rows) > query.page_size
    rows = rows[: query.page_size]
    found = _posts_with_hashtags(connection, rows)
    fitting = _posts_within(found, MAX_PAGE_JSON_BYTES)
    more, found = more or fitting < len(found), found[:fitting]
    last = found[-1] if more else None
    return PostPage(
        posts=found,
        last=PostCursor(last.created_at, last.source, last.id) if last is not None else None,
    )


def _json_bytes(text: str) -> int:
    return len(json.dumps(text, ensure_ascii=False).encode())


def _posts_within(posts: Sequence[PostRow], budget: int) -> int:
    """How many of the posts fit in the page's budget of JSON bytes (at least one, so that a
    page always moves the reader on); the next page starts after the last of them."""
    used = 0
    for count, post in enumerate(posts):
        used += POST_OVERHEAD_BYTES + _json_bytes(post.text) + _json_bytes(post.author_username)
        used += sum(_json_bytes(tag) + 1 for tag in post.hashtags)
        if used > budget and count > 0:
            return count
    return len(posts)


def _posts_with_hashtags(connection: Connection, rows: Sequence[Any]) -> list[PostRow]:
    links = PostHashtag.table()
    tags: dict[tuple[str, str], list[str]] = {(r.source, r.id): [] for r in rows}
    if tags:
        # Two plain IN lists use the primary key directly; a list of (source, id) pairs makes
        # PostgreSQL plan one index scan per pair. Pairs not on the page are dropped below.
        statement = (
            select(links.c.source, links.c.post_id, links.c.hashtag)
            .where(
                links.c.source.in_(sorted({s for s, _ in tags})),
                links.c.post_id.in_(sorted({i for _, i in tags})),
            )
            .order_by(links.c.source, links.c.post_id, links.c.hashtag)
        )
        for link in connection.execute(statement).all():
            found = tags.get((link.source, link.post_id))
            if found is not None:
                found.append(link.hashtag)
    return [from_row(PostRow, row, hashtags=tuple(tags[(row.source, row.id)])) for row in rows]


def get_post(connection: Connection, query: PostQuery) -> PostRow:
    """One post by id (and source, needed only when two sources share the id)."""
    posts, users = Post.table(), User.table()
    statement = (
        select(*_post_columns(posts, users))
        .select_from(_with_authors(posts, users))
        .where(posts.c.id == query.id)
    )
    if query.source is not None:
        statement = statement.where(posts.c.source == query.source)
    else:
        # The primary key is (source, id): naming every source that has posts (source_counts
        # gets a row with the first post of a source) keeps this an index lookup per source.
        statement = statement.where(posts.c.source.in_(select(SourceCount.table().c.source)))
    rows = connection.execute(statement.order_by(posts.c.source).limit(2)).all()
    if not rows:
        where = f" from source {query.source!r}" if query.source else ""
        raise NotFound(f"post {query.id!r}{where} does not exist")
    if len(rows) > 1:
        raise InvalidArgument(
            {
                "source": f"sources {rows[0].source!r} and {rows[1].source!r} both have "
                f"post {query.id!r}: name one"
            }
        )
    return _posts_with_hashtags(connection, rows)[0]


def list_users(connection: Connection, query: UsersQuery) -> UserPage:
    """Users by followers (most first) or by (source, id); one page."""
    users = User.table()
    statement = select(users)
    after = query.after
    if query.order_by == ORDER_BY_FOLLOWERS:
        statement = statement.order_by(users.c.followers_count.desc(), users.c.source, users.c.id)
        if after is not None:
            statement = statement.where(
                _after_desc_asc_asc(
                    users.c.followers_count,
                    users.c.source,
                    users.c.id,
                    (after.followers_count, after.source, after.id),
                )
            )
    else:
        statement = statement.order_by(users.c.source, users.c.id)
        if after is not None:
            statement = statement.where(
                users.c.source >= after.source,
                tuple_(users.c.source, users.c.id) > tuple_(after.source, after.id),
            )
    rows = connection.execute(statement.limit(query.page_size + 1)).all()
    more = len(rows) > query.page_size
    found = [user_row(r) for r in rows[: query.page_size]]
    last = found[-1] if more else None
    return UserPage(
        users=found,
        last=UserCursor(last.followers_count, last.source, last.id) if last is not None else None,
    )


def list_hashtags(connection: Connection, query: HashtagsQuery) -> HashtagPage:
    """The hashtags tagpulse collects (tracked, or collected at least once), by name.

    Hashtags that only appear beside collected ones are left out: their counts cover only the
    posts that were collected for other hashtags.
    """
    hashtags = Hashtag.table()
    statement = (
        select(hashtags)
        .where(or_(hashtags.c.tracked.is_(True), hashtags.c.last_collected_at.is_not(None)))
        .order_by(hashtags.c.name)
        .limit(query.page_size + 1)
    )
    if query.after is not None:
        statement = statement.where(hashtags.c.name > query.after.name)
    rows = connection.execute(statement).all()
    more = len(rows) > query.page_size
    found = [
        HashtagRow(r.name, r.tracked, r.post_count, r.last_collected_at) for r in rows[: query.page_size]
    ]
    return HashtagPage(hashtags=found, last=HashtagCursor(found[-1].name) if more else None)
