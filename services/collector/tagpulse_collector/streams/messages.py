"""Stream messages: what a reader puts in the buffer, and the posts the writer gets out of them.

A buffer entry is either one message as the source sent it (its raw JSON bytes, with the rules
it matched and the reader's position in the source), or a count of messages that matched no rule
(kept out of the buffer, but counted: posts_received stays exact), or the id of a post the
platform says was deleted (Bluesky's `delete` commits: the writer counts those it had stored).

Per source: `x` and `sample` messages are X API v2 filtered-stream messages (`{data, includes,
matching_rules}`; the sample generator writes that shape too), `mastodon` messages are Statuses,
`bluesky` messages are Jetstream commit events creating an `app.bsky.feed.post` record.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from tagpulse.db.models import PLATFORM_ID, width
from tagpulse_collector.sources import bluesky, mastodon, x_payloads
from tagpulse_collector.sources.base import Author, CollectedPost
from tagpulse_collector.sources.errors import MalformedResponse
from tagpulse_collector.streams.matcher import Candidate, mentions_in

MESSAGE, UNMATCHED_COUNT, DELETED = b"m", b"n", b"d"
# Ids longer than the schema's columns cannot be stored: such a message is refused, not cut.
MAX_ID = width(PLATFORM_ID)


class BadMessage(ValueError):
    """A message the writer cannot turn into a post (not JSON, no tweet, no author, …)."""


@dataclass(frozen=True)
class BufferMessage:
    """One buffer entry as the reader writes it."""

    kind: bytes
    body: bytes = b""
    # Indexes (in the stream's rules) of the rules the message matched.
    rules: tuple[int, ...] = ()
    # The reader's position in the source after this entry (None where the source has none).
    position: int | None = None
    # For an UNMATCHED_COUNT entry: how many messages matched no rule.
    count: int = 0
    # Why the reader could not read the message (the writer dead-letters it after its attempts).
    error: str = ""

    def fields(self) -> dict[bytes, bytes]:
        fields = {b"k": self.kind}
        if self.kind == DELETED:
            fields[b"b"] = self.body
        elif self.kind == MESSAGE:
            fields[b"b"] = self.body
            fields[b"r"] = ",".join(map(str, self.rules)).encode()
            if self.error:
                fields[b"e"] = self.error.encode()
        else:
            fields[b"c"] = str(self.count).encode()
        if self.position is not None:
            fields[b"p"] = str(self.position).encode()
        return fields

    @classmethod
    def from_fields(cls, fields: Mapping[bytes, bytes]) -> BufferMessage:
        """Raises BadMessage for fields no reader writes."""
        try:
            kind = fields[b"k"]
            position = int(fields[b"p"]) if b"p" in fields else None
            if kind == MESSAGE:
                raw_rules = fields.get(b"r", b"")
                rules = tuple(int(i) for i in raw_rules.split(b",")) if raw_rules else ()
                error = fields.get(b"e", b"").decode("utf-8", "replace")
                return cls(MESSAGE, fields.get(b"b", b""), rules, position, error=error)
            if kind == UNMATCHED_COUNT:
                return cls(UNMATCHED_COUNT, position=position, count=int(fields[b"c"]))
            if kind == DELETED:
                return cls(DELETED, fields[b"b"], position=position)
        except (KeyError, ValueError) as error:
            raise BadMessage(f"not a buffer entry ({error!r})") from None
        raise BadMessage(f"unknown buffer entry kind {kind!r}")


@dataclass(frozen=True)
class ParsedMessage:
    post: CollectedPost
    authors: tuple[Author, ...]


def _json(body: bytes) -> dict[str, Any]:
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise BadMessage(f"not JSON ({error})") from None
    if not isinstance(payload, dict):
        raise BadMessage("not a JSON object")
    return payload


def _check_ids(post: CollectedPost) -> None:
    if len(post.id) > MAX_ID or len(post.author_id) > MAX_ID:
        raise BadMessage(f"an id longer than {MAX_ID} characters")


def bluesky_post(event: Mapping[str, Any]) -> CollectedPost:
    """The post a Jetstream event creates; raises BadMessage for any other event."""
    commit = event.get("commit")
    if (
        event.get("kind") != "commit"
        or not isinstance(commit, dict)
        or commit.get("operation") != "create"
        or commit.get("collection") != bluesky.POST_COLLECTION
        or not isinstance(commit.get("record"), dict)
    ):
        raise BadMessage("not the creation of a post")
    did, rkey = str(event.get("did") or ""), str(commit.get("rkey") or "")
    try:
        return bluesky.post_of(bluesky.post_uri(did, rkey) if did and rkey else "", did, commit["record"])
    except ValueError as error:
        raise BadMessage(f"not a post ({error})") from None


def deleted_post(event: Mapping[str, Any]) -> str | None:
    """The id of the post a Jetstream event deletes; None for any other event."""
    commit = event.get("commit")
    if (
        event.get("kind") == "commit"
        and isinstance(commit, dict)
        and commit.get("operation") == "delete"
        and commit.get("collection") == bluesky.POST_COLLECTION
        and event.get("did")
        and commit.get("rkey")
    ):
        return bluesky.post_uri(str(event["did"]), str(commit["rkey"]))
    return None


def parse_message(source: str, body: bytes) -> ParsedMessage:
    """The post (and its author) of one message; raises BadMessage."""
    payload = _json(body)
    if source == bluesky.SOURCE_NAME:
        post = bluesky_post(payload)
        _check_ids(post)
        # Jetstream carries no profile: the author's stored one (if any) is kept as it is.
        return ParsedMessage(post, ())
    if source == "mastodon":
        try:
            post, author = mastodon.parse_status(payload)
        except (ValueError, TypeError, KeyError) as error:
            raise BadMessage(f"not a status ({error})") from None
        _check_ids(post)
        return ParsedMessage(post, (author,))
    if not isinstance(payload.get("data"), dict):
        raise BadMessage("no tweet in the message (`data` is not an object)")
    try:
        page = x_payloads.parse_page(payload, source)
    except MalformedResponse as error:
        raise BadMessage(str(error)) from None
    if len(page.posts) != 1:
        raise BadMessage("; ".join(page.errors) or "no tweet in the message")
    post, authors = page.posts[0], tuple(page.authors)
    _check_ids(post)
    return ParsedMessage(post, authors)


def _x_candidate(payload: Mapping[str, Any]) -> Candidate:
    tweet = payload.get("data")
    if not isinstance(tweet, dict):
        raise BadMessage("no tweet in the message")
    parsed = x_payloads.parse_page({"data": tweet, "includes": payload.get("includes") or {}})
    if len(parsed.posts) != 1:
        raise BadMessage("; ".join(parsed.errors) or "no tweet in the message")
    post = parsed.posts[0]
    entities = tweet.get("entities") if isinstance(tweet.get("entities"), dict) else {}
    assert isinstance(entities, dict)
    named = {
        str(m["username"]).casefold()
        for m in entities.get("mentions") or ()
        if isinstance(m, dict) and m.get("username")
    }
    geo = tweet.get("geo") if isinstance(tweet.get("geo"), dict) else {}
    assert isinstance(geo, dict)
    references = tweet.get("referenced_tweets") or ()
    return Candidate(
        text=post.text,
        language=post.language,
        hashtags=frozenset(post.hashtags),
        mentions=frozenset(named) | mentions_in(post.text),
        is_retweet=any(isinstance(r, dict) and r.get("type") == "retweeted" for r in references),
        has_geo=bool(post.place_country_code or geo.get("coordinates") or geo.get("place_id")),
    )


def _mastodon_candidate(status: Mapping[str, Any]) -> Candidate:
    try:
        post, _author = mastodon.parse_status(status)
    except (ValueError, TypeError, KeyError) as error:
        raise BadMessage(f"not a status ({error})") from None
    shown = status.get("reblog") if isinstance(status.get("reblog"), dict) else status
    assert isinstance(shown, dict)
    named: set[str] = set()
    for mention in shown.get("mentions") or ():
        if isinstance(mention, dict):
            for key in ("acct", "username"):
                if mention.get(key):
                    named.add(str(mention[key]).casefold())
    return Candidate(
        text=post.text,
        language=post.language,
        hashtags=frozenset(post.hashtags),
        mentions=frozenset(named) | mentions_in(post.text),
        is_retweet=isinstance(status.get("reblog"), dict),
    )


def _bluesky_candidate(event: Mapping[str, Any]) -> Candidate:
    post = bluesky_post(event)
    return Candidate(
        text=post.text,
        language=post.language,
        hashtags=frozenset(post.hashtags),
        mentions=mentions_in(post.text),
    )


def candidate_of(source: str, payload: Mapping[str, Any]) -> Candidate:
    """What local rules look at in a message; raises BadMessage."""
    if source == bluesky.SOURCE_NAME:
        return _bluesky_candidate(payload)
    return _mastodon_candidate(payload) if source == "mastodon" else _x_candidate(payload)
