"""The reader of a stream whose rules tagpulse matches itself (the sample source, Mastodon,
Bluesky).

It reads the source's messages in order, from just after the last position the stream reached,
matches each against the stream's rules, and appends the matched ones to the buffer; the others
are only counted, in an unmatched-count entry. Everything read is appended in small batches, each
in one MULTI, with the unmatched count (and so the furthest position) last: a reader killed at any
point resumes from the newest entry's position and reads every message exactly once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol

import orjson

from tagpulse_collector.streams import metrics
from tagpulse_collector.streams.buffer import StreamBuffer
from tagpulse_collector.streams.matcher import RuleSet
from tagpulse_collector.streams.messages import (
    DELETED,
    MESSAGE,
    UNMATCHED_COUNT,
    BadMessage,
    BufferMessage,
    candidate_of,
)
from tagpulse_collector.streams.store import StreamRecord

log = logging.getLogger("tagpulse.streams")

# Append at least this often, and at most this many messages at a time.
FLUSH_SECONDS = 0.2
FLUSH_MESSAGES = 200


@dataclass(frozen=True)
class FeedItem:
    """One message of a source and its position there (message number, status id, Jetstream's
    time_us)."""

    position: int
    body: bytes
    # The message says the post whose id is `body` was deleted (Bluesky's `delete` commits).
    deleted: bool = False


class Stop(Protocol):
    """What a feed waits on: set when the stream stops or the collector shuts down."""

    def is_set(self) -> bool: ...

    def wait(self, timeout: float) -> bool: ...


# A source's messages after a position (None: from its start, or from now), until `stop` is set;
# None items are heartbeats that let the reader flush and look at its events.
Feed = Callable[[int | None, Stop], Iterator[FeedItem | None]]


class LocalReader:
    def __init__(
        self,
        stream: StreamRecord,
        buffer: StreamBuffer,
        feed: Feed,
        retry_seconds: float = 1.0,
    ) -> None:
        self.stream = stream
        self.buffer = buffer
        self.feed = feed
        self.retry_seconds = retry_seconds
        self.rules = RuleSet.parse(rule.value for rule in stream.rules)
        # Set by the manager when the stream is no longer RUNNING.
        self.stream_stopped = threading.Event()
        self._pending: list[BufferMessage] = []
        self._unmatched = 0
        self._position: int | None = None
        self._flushed_at = time.monotonic()

    def resume_position(self) -> int | None:
        """Where the last reader got to: the newest buffered entry, else what the writer stored."""
        positions = [
            p for p in (self.buffer.last_position(self.stream.id), self.stream.position) if p is not None
        ]
        return max(positions) if positions else None

    def run(self, shutdown: threading.Event) -> bool:
        """Read until the stream stops (True) or the collector shuts down (False)."""
        self.buffer.ensure(self.stream.id)
        after = self.resume_position()
        log.info(
            "stream reader started",
            extra={"stream_id": self.stream.id, "source": self.stream.source, "after": after},
        )
        either = _Either(shutdown, self.stream_stopped)
        for item in self.feed(after, either):
            if item is not None:
                self._read(item)
            if self._due():
                self._flush(shutdown)
            if either.is_set():
                break
        self._flush(shutdown)
        stopped = self.stream_stopped.is_set()
        log.info(
            "stream reader stopped",
            extra={"stream_id": self.stream.id, "reason": "stream stopped" if stopped else "shutdown"},
        )
        return stopped

    def _read(self, item: FeedItem) -> None:
        source = self.stream.source
        self._position = item.position
        if item.deleted:
            # No post to match: the writer counts it when the post was stored.
            self._pending.append(BufferMessage(DELETED, item.body, position=item.position))
            return
        metrics.MESSAGES_RECEIVED.labels(source=source).inc()
        try:
            payload = orjson.loads(item.body)
            if not isinstance(payload, dict):
                raise BadMessage("not a JSON object")
            matched = self.rules.matching(candidate_of(source, payload))
        except (orjson.JSONDecodeError, BadMessage) as error:
            # The writer tries it too, and dead-letters it with this reason.
            self._pending.append(
                BufferMessage(
                    MESSAGE, item.body, position=item.position, error=f"unreadable message: {error}"
                )
            )
            return
        if matched:
            metrics.MESSAGES_MATCHED.labels(source=source).inc()
            self._pending.append(BufferMessage(MESSAGE, item.body, tuple(matched), item.position))
        else:
            self._unmatched += 1

    def _due(self) -> bool:
        return len(self._pending) >= FLUSH_MESSAGES or time.monotonic() - self._flushed_at >= FLUSH_SECONDS

    def _flush(self, shutdown: threading.Event) -> None:
        batch = list(self._pending)
        if self._unmatched:
            # Last, so the newest entry holds the furthest position read.
            batch.append(BufferMessage(UNMATCHED_COUNT, position=self._position, count=self._unmatched))
        self._flushed_at = time.monotonic()
        if not batch:
            return
        while True:
            try:
                self.buffer.append([(self.stream.id, message) for message in batch])
                break
            except Exception as error:  # noqa: BLE001 - Redis down: keep the batch and retry
                log.warning(
                    "stream buffer append failed; retrying",
                    extra={"stream_id": self.stream.id, "reason": f"{type(error).__name__}: {error}"},
                )
                if shutdown.wait(self.retry_seconds):
                    return  # not appended: the next reader reads these messages again
        self._pending, self._unmatched = [], 0


class _Either:
    """Set when either event is: what a feed waits on."""

    def __init__(self, *events: threading.Event) -> None:
        self.events = events

    def is_set(self) -> bool:
        return any(event.is_set() for event in self.events)

    def wait(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while not self.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            self.events[0].wait(min(remaining, 0.05))
        return True
