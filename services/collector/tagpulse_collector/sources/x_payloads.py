"""X API v2 JSON → posts and authors: response pages, stream messages and flattened tweets.

Written against the 2021–2023 recordings and the current OpenAPI spec at once: ids may come as
strings or numbers, `location` is left out when unset, an empty result has no `data` key, a
stream message's `data` is one tweet rather than a list, and `twarc2 flatten` output carries
the author and referenced tweets inside the tweet itself.

A retweet's own text is cut off ("RT @user: …") and often lost the hashtag entity, so a
retweet's hashtags are its own plus those of the retweeted tweet (from `includes.tweets`, or
inlined by flatten).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any

from tagpulse.hashtags import InvalidHashtag, normalize_hashtag
from tagpulse_collector.sources.base import Author, BillableReads, CollectedPost
from tagpulse_collector.sources.errors import MalformedResponse

SOURCE_NAME = "x"


@dataclass(frozen=True)
class XPage:
    posts: list[CollectedPost]
    authors: list[Author]
    next_token: str | None
    newest_id: str | None
    # X's partial errors (suspended or protected users of expansions), one line each.
    errors: list[str]
    # What X bills for the response: every post in `data` and `includes.tweets`, every user
    # object in `includes.users`, whether tagpulse keeps them or not.
    billed: BillableReads = field(default_factory=BillableReads)


def _id(value: object) -> str | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (str, int)):
        text = str(value)
        return text or None
    return None


def _dicts(value: object) -> list[dict[str, Any]]:
    if isinstance(value, list):
        return [item for item in value if isinstance(item, dict)]
    if isinstance(value, dict):
        return [value]
    return []


def _by_id(items: object) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for item in _dicts(items):
        key = _id(item.get("id"))
        if key is not None:
            found[key] = item
    return found


def _created_at(value: object) -> datetime:
    if not isinstance(value, str):
        raise ValueError("no created_at")
    return datetime.fromisoformat(value)


def _tags(tweet: Mapping[str, Any]) -> Iterable[str]:
    entities = tweet.get("entities")
    if not isinstance(entities, dict):
        return ()
    return (h["tag"] for h in _dicts(entities.get("hashtags")) if isinstance(h.get("tag"), str))


@lru_cache(maxsize=65536)
def _normalized(tag: str) -> str | None:
    # The same few thousand tags come back on every page: fold each once.
    try:
        return normalize_hashtag(tag)
    except InvalidHashtag:
        return None


def normalize_tags(raw: Iterable[str]) -> tuple[str, ...]:
    """Case-folded, '#'-less, unique, in first-seen order; tags tagpulse cannot store are skipped."""
    tags: dict[str, None] = {}
    for tag in raw:
        folded = _normalized(tag)
        if folded is not None:
            tags[folded] = None
    return tuple(tags)


def _retweeted(tweet: Mapping[str, Any], included: Mapping[str, dict[str, Any]]) -> dict[str, Any] | None:
    for reference in _dicts(tweet.get("referenced_tweets")):
        if reference.get("type") == "retweeted":
            # Flattened tweets carry the original inline; pages carry it in includes.tweets.
            if "entities" in reference or "text" in reference:
                return reference
            original = included.get(_id(reference.get("id")) or "")
            if original is not None:
                return original
    return None


def _place_country(tweet: Mapping[str, Any], places: Mapping[str, dict[str, Any]]) -> str | None:
    geo = tweet.get("geo")
    if not isinstance(geo, dict):
        return None
    place = geo.get("place")
    if not isinstance(place, dict):
        place = places.get(_id(geo.get("place_id")) or "")
    code = place.get("country_code") if isinstance(place, dict) else None
    return code.upper() if isinstance(code, str) and len(code) == 2 else None


def author_of(user: Mapping[str, Any], source: str = SOURCE_NAME) -> Author | None:
    """A user object of `includes.users` (or a flattened tweet's `author`)."""
    user_id = _id(user.get("id"))
    if user_id is None:
        return None
    metrics = user.get("public_metrics")
    followers = metrics.get("followers_count") if isinstance(metrics, dict) else None
    location = user.get("location")
    return Author(
        source=source,
        id=user_id,
        username=str(user.get("username") or ""),
        display_name=str(user.get("name") or ""),
        followers_count=followers if isinstance(followers, int) and not isinstance(followers, bool) else 0,
        location=location if isinstance(location, str) else "",
    )


def post_of(
    tweet: Mapping[str, Any],
    included_tweets: Mapping[str, dict[str, Any]],
    places: Mapping[str, dict[str, Any]],
    source: str = SOURCE_NAME,
) -> CollectedPost:
    """One tweet; raises ValueError when it lacks what a post needs (id, author, time)."""
    post_id, author_id = _id(tweet.get("id")), _id(tweet.get("author_id"))
    if post_id is None or author_id is None:
        raise ValueError("a tweet without id or author_id")
    raw_tags = list(_tags(tweet))
    original = _retweeted(tweet, included_tweets)
    if original is not None:
        raw_tags.extend(_tags(original))
    language = tweet.get("lang")
    text = tweet.get("text")
    return CollectedPost(
        source=source,
        id=post_id,
        author_id=author_id,
        text=text if isinstance(text, str) else "",
        language=language if isinstance(language, str) and language else "und",
        created_at=_created_at(tweet.get("created_at")),
        hashtags=normalize_tags(raw_tags),
        place_country_code=_place_country(tweet, places),
    )


def newest_of(ids: Iterable[str]) -> str | None:
    """The newest of some snowflake ids (numeric strings: longer is newer, then by text)."""
    return max(ids, key=lambda i: (len(i), i), default=None)


def _error_line(error: Mapping[str, Any]) -> str:
    parts = [str(error.get(key)) for key in ("title", "detail") if error.get(key)]
    return ": ".join(parts) or "unknown error"


def parse_page(payload: object, source: str = SOURCE_NAME) -> XPage:
    """A response page (search, tweet lookup) or a stream message; raises MalformedResponse.
    `source` names the posts' and authors' source (a source that speaks X's format, as the
    sample does, stores them under its own name)."""
    if not isinstance(payload, dict):
        raise MalformedResponse("the response is not a JSON object")
    data = payload.get("data", [])
    if not isinstance(data, (list, dict)):
        raise MalformedResponse("`data` is neither a list nor an object")
    includes = payload.get("includes") if isinstance(payload.get("includes"), dict) else {}
    meta = payload.get("meta") if isinstance(payload.get("meta"), dict) else {}
    assert isinstance(includes, dict)
    assert isinstance(meta, dict)
    included_tweets, places = _by_id(includes.get("tweets")), _by_id(includes.get("places"))
    users = _by_id(includes.get("users"))
    posts: list[CollectedPost] = []
    errors = [_error_line(e) for e in _dicts(payload.get("errors"))]
    for tweet in _dicts(data):
        try:
            posts.append(post_of(tweet, included_tweets, places, source))
        except ValueError as error:
            errors.append(f"tweet {tweet.get('id')!s} skipped: {error}")
    wanted = {p.author_id for p in posts}
    authors = [a for a in (author_of(users[i], source) for i in wanted if i in users) if a is not None]
    next_token = meta.get("next_token")
    return XPage(
        posts=posts,
        authors=authors,
        next_token=next_token if isinstance(next_token, str) and next_token else None,
        newest_id=_id(meta.get("newest_id")) or newest_of(p.id for p in posts),
        errors=errors,
        billed=billable_of(payload),
    )


def billable_of(payload: Mapping[str, Any]) -> BillableReads:
    """What X bills for a response page or a stream message: every post in `data` and
    `includes.tweets`, every user object in `includes.users`, whether tagpulse keeps them or not."""
    includes = payload.get("includes")
    includes = includes if isinstance(includes, dict) else {}
    return BillableReads(
        posts=len(_dicts(payload.get("data"))) + len(_dicts(includes.get("tweets"))),
        users=len(_dicts(includes.get("users"))),
    )


def parse_flat_tweet(tweet: Mapping[str, Any]) -> tuple[CollectedPost, Author | None]:
    """One line of `twarc2 flatten` output: a tweet with its `author` inline."""
    post = post_of(tweet, {}, {})
    author = tweet.get("author")
    return post, author_of(author) if isinstance(author, dict) else None
