"""Bluesky as a stream: Jetstream's posts, over a websocket, matched here.

Jetstream (`…/subscribe?wantedCollections=app.bsky.feed.post`) sends every post created or
deleted on the network as JSON events carrying `time_us`, and replays from a `cursor` (a
time_us) on request. That makes the stream gap-free, unlike X's: the feed's position is the
highest time_us it read, and after a disconnect, or when a restarted collector resumes a stream
at the last stored position, it asks for the events from `overlap_seconds` before that position,
because Jetstream's order by time_us is not strict. The events it read already in this
connection's life are recognised by their commit (repo, revision, record) and skipped; after a
restart the few read again in the overlap are posts the stream has delivered already, and count
once among its unique posts (the dedupe of `accounting.py`).

Post creates become messages; post deletes become deletion entries (counted when the post was
stored); identity, account and other events only move the position. No zstd: the plain JSON
endpoint.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlencode

import orjson
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI
from websockets.sync.client import ClientConnection, connect

from tagpulse_collector.sources.bluesky import POST_COLLECTION, SOURCE_NAME
from tagpulse_collector.streams import metrics
from tagpulse_collector.streams.backoff import HTTP_ERROR, NETWORK, Backoff, ReconnectPolicy
from tagpulse_collector.streams.local_feed import Feed, FeedItem, Stop
from tagpulse_collector.streams.messages import deleted_post

log = logging.getLogger("tagpulse.streams")

# How long one receive waits before the reader gets a heartbeat (to flush and look at its events).
RECEIVE_SECONDS = 0.2
OPEN_TIMEOUT_SECONDS = 10.0


def subscribe_url(base_url: str, cursor: int | None) -> str:
    query: dict[str, str | int] = {"wantedCollections": POST_COLLECTION}
    if cursor is not None:
        query["cursor"] = cursor
    separator = "&" if "?" in base_url else "?"
    return f"{base_url}{separator}{urlencode(query)}"


def commit_key(event: dict[str, Any]) -> tuple[str, ...] | None:
    """What tells an event read twice from a new one: the repository, its revision, the record."""
    commit = event.get("commit")
    if not isinstance(commit, dict):
        return None
    return (
        str(event.get("did")),
        str(commit.get("rev")),
        str(commit.get("operation")),
        str(commit.get("collection")),
        str(commit.get("rkey")),
    )


class _Reading:
    """The feed's state across connections: the position and the commits of the overlap."""

    def __init__(self, after: int | None, overlap_us: int) -> None:
        self.position = after
        self.overlap_us = overlap_us
        # Commits read, by time_us: those within the overlap of the position are kept.
        self.seen: dict[tuple[str, ...], int] = {}

    def cursor(self) -> int | None:
        return None if self.position is None else max(self.position - self.overlap_us, 0)

    def take(self, raw: bytes | str) -> FeedItem | None:
        """The item an event makes (None for one to skip), moving the position."""
        body = raw.encode() if isinstance(raw, str) else raw
        try:
            event = orjson.loads(body)
        except orjson.JSONDecodeError:
            # The reader dead-letters it, with the reason.
            return FeedItem(self.position or 0, body)
        if not isinstance(event, dict) or not isinstance(event.get("time_us"), int):
            return FeedItem(self.position or 0, body)
        time_us = event["time_us"]
        key = commit_key(event)
        if key is not None and key in self.seen:
            return None
        self.position = time_us if self.position is None else max(self.position, time_us)
        if key is None:
            return None  # identity and account events: nothing to store
        self.seen[key] = time_us
        if len(self.seen) > 10_000:
            floor = self.position - 2 * self.overlap_us
            self.seen = {k: t for k, t in self.seen.items() if t >= floor}
        deleted = deleted_post(event)
        if deleted is not None:
            return FeedItem(self.position, deleted.encode(), deleted=True)
        commit = event["commit"]
        if commit.get("collection") != POST_COLLECTION or commit.get("operation") != "create":
            return None  # an edit, or a collection asked for by no one
        return FeedItem(self.position, body)


def jetstream_feed(
    url: str,
    overlap_seconds: float,
    reconnect: ReconnectPolicy,
    on_error: Callable[[str], None] = lambda _error: None,
) -> Feed:
    def feed(after: int | None, stop: Stop) -> Iterator[FeedItem | None]:
        reading = _Reading(after, int(overlap_seconds * 1_000_000))
        backoff = Backoff(reconnect)
        while not stop.is_set():
            cursor = reading.cursor()
            try:
                with connect(subscribe_url(url, cursor), open_timeout=OPEN_TIMEOUT_SECONDS) as connection:
                    log.info("jetstream connected", extra={"cursor": cursor})
                    yield from _events(connection, reading, backoff, stop)
                    if stop.is_set():
                        return
                    cause, reason = NETWORK, "the connection ended"
            except (ConnectionClosed, OSError, TimeoutError) as error:
                cause, reason = NETWORK, f"{type(error).__name__}: {error}"
            except (InvalidHandshake, InvalidURI) as error:
                cause, reason = HTTP_ERROR, f"{type(error).__name__}: {error}"
            wait = backoff.wait_for(cause)
            metrics.RECONNECTS.labels(source=SOURCE_NAME, cause=cause).inc()
            log.warning(
                "jetstream disconnected; reconnecting",
                extra={"reason": reason, "wait_seconds": wait, "position": reading.position},
            )
            on_error(f"Jetstream: {reason}")
            stop.wait(wait)

    return feed


def _events(
    connection: ClientConnection, reading: _Reading, backoff: Backoff, stop: Stop
) -> Iterator[FeedItem | None]:
    while not stop.is_set():
        try:
            raw = connection.recv(timeout=RECEIVE_SECONDS)
        except TimeoutError:
            yield None
            continue
        backoff.reset()
        item = reading.take(raw)
        if item is not None:
            yield item
