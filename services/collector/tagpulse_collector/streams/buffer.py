"""The buffer between a stream's reader and its writers: a Redis Stream per keyword stream.

The reader appends (XADD); writers in the consumer group `writers` read (XREADGROUP), store, and
acknowledge (XACK) only after the database commit. Entries pending on a writer that died are
claimed by another after `claim_idle_seconds` (XAUTOCLAIM). A failed entry stays pending; its
failures are counted in a hash, and after `max_attempts` it moves to the stream's dead-letter
Stream with its error (XADD + XACK in one MULTI). Keys, under TAGPULSE_REDIS_KEY_PREFIX:

    <prefix>stream:<id>:buffer     the entries (Redis Stream; group `writers`)
    <prefix>stream:<id>:failures   entry id → failed attempts, "<entry id>:error" → the last error
    <prefix>stream:<id>:dead       dead letters: the entry's fields plus `entry`, `error`, `attempts`

None of them has a TTL, so Redis' `volatile-lru` eviction (the chart's) never drops one.

Without Redis (`make run` on SQLite: one collector process) `MemoryBuffer` does the same in the
process. What it holds is lost when the process stops; the readers of the sample and Mastodon
sources resume from the position the writer stored with the figures, so nothing is counted twice.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

import redis

from tagpulse_collector.streams.messages import BufferMessage

log = logging.getLogger("tagpulse.streams")

GROUP = "writers"


def entry_key(entry_id: str) -> tuple[int, int]:
    """A Redis Stream id "1700000000000-3" as (milliseconds, sequence)."""
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


@dataclass(frozen=True)
class Entry:
    id: str
    fields: Mapping[bytes, bytes]


@dataclass(frozen=True)
class Backlog:
    # Appended, not delivered to any writer yet.
    waiting: int
    # Delivered, not acknowledged yet (being written, or on a writer that died).
    pending: int

    @property
    def total(self) -> int:
        return self.waiting + self.pending


class StreamBuffer(Protocol):
    def ensure(self, stream_id: int) -> None:
        """Create the stream's buffer and consumer group if they do not exist."""

    def append(self, items: Sequence[tuple[int, BufferMessage]]) -> None:
        """Append messages, each to its stream's buffer, all or none."""

    def last_position(self, stream_id: int) -> int | None:
        """The position of the newest entry that carries one."""

    def read_new(
        self, stream_ids: Sequence[int], consumer: str, count: int, block_seconds: float
    ) -> dict[int, list[Entry]]:
        """Entries no writer has seen, per stream (waits up to `block_seconds` for some)."""

    def claim_stale(self, stream_id: int, consumer: str, min_idle_seconds: float, count: int) -> list[Entry]:
        """Entries pending for longer than `min_idle_seconds` (their writer died or failed)."""

    def ack(self, stream_id: int, entry_ids: Sequence[str]) -> None: ...

    def record_failure(self, stream_id: int, entry_id: str, error: str) -> int:
        """Count one failed attempt; returns the attempts so far."""

    def failures(self, stream_id: int, entry_ids: Sequence[str]) -> dict[str, tuple[int, str]]:
        """(failed attempts, last error) of the entries that failed before."""

    def dead_letter(self, stream_id: int, entry: Entry, error: str, attempts: int) -> None:
        """Move an entry to the dead-letter buffer and acknowledge it, atomically."""

    def backlog(self, stream_id: int) -> Backlog: ...

    def dead_letter_count(self, stream_id: int) -> int: ...

    def trim(self, stream_id: int) -> tuple[int, int] | None:
        """Drop acknowledged entries, keeping the newest (its position is the resume point).
        Returns the floor: every entry below it is acknowledged (None when nothing is known)."""

    def delete(self, stream_id: int) -> None:
        """Remove a drained stream's buffer (its dead letters stay)."""

    def close(self) -> None: ...


def _newest_position(newest_first: Iterable[Mapping[bytes, bytes]]) -> int | None:
    """The reader's position in the first of these entries that carries one (see messages)."""
    for fields in newest_first:
        if b"p" in fields:
            return int(fields[b"p"])
    return None


# --- Redis ---------------------------------------------------------------------------------


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _buffer_gone(error: redis.ResponseError) -> bool:
    """The buffer or its group was deleted under us: another writer drained the stream.

    Every writer keeps a stream in its list until its next refresh, so a drained stream's buffer
    can vanish between any two commands of a writer, or during a blocking read (UNBLOCKED).
    """
    text = str(error)
    return "NOGROUP" in text or "no such key" in text or "UNBLOCKED" in text


# A consumer with nothing pending and idle this long is removed from the group when the buffer
# is trimmed: every collector process reads under a new name, so restarts would otherwise leave
# their names in the group for the stream's whole life. A live writer that was only idle is
# added back by its next read.
IDLE_CONSUMER_SECONDS = 600.0


class RedisBuffer:
    def __init__(
        self,
        url: str,
        prefix: str,
        timeout_seconds: float = 10.0,
        idle_consumer_seconds: float = IDLE_CONSUMER_SECONDS,
    ) -> None:
        # Reads block for up to a few seconds: the socket timeout must be longer. redis-py types
        # its answers as unions of every reply shape: Any is the honest type here.
        self.client: Any = redis.Redis.from_url(
            url, socket_timeout=timeout_seconds, socket_connect_timeout=timeout_seconds
        )
        self.prefix = prefix
        self.idle_consumer_seconds = idle_consumer_seconds
        self._groups: set[int] = set()

    def key(self, stream_id: int, part: str = "buffer") -> str:
        return f"{self.prefix}stream:{stream_id}:{part}"

    @contextmanager
    def _unless_gone(self, stream_ids: Sequence[int]) -> Iterator[None]:
        """Ends the block early, without an error, when a buffer was deleted under us: what it
        asked for is then simply not there. Its group is made again by the next `ensure`."""
        try:
            yield
        except redis.ResponseError as error:
            if not _buffer_gone(error):
                raise
            self._groups.difference_update(stream_ids)

    def ensure(self, stream_id: int) -> None:
        if stream_id in self._groups:
            return
        try:
            self.client.xgroup_create(self.key(stream_id), GROUP, id="0", mkstream=True)
        except redis.ResponseError as error:
            if "BUSYGROUP" not in str(error):
                raise
        self._groups.add(stream_id)

    def append(self, items: Sequence[tuple[int, BufferMessage]]) -> None:
        if not items:
            return
        pipeline = self.client.pipeline(transaction=True)
        for stream_id, message in items:
            pipeline.xadd(self.key(stream_id), message.fields())
        pipeline.execute()

    def last_position(self, stream_id: int) -> int | None:
        newest_first = (fields for _id, fields in self.client.xrevrange(self.key(stream_id), count=50))
        return _newest_position(newest_first)

    def read_new(
        self, stream_ids: Sequence[int], consumer: str, count: int, block_seconds: float
    ) -> dict[int, list[Entry]]:
        if not stream_ids:
            time.sleep(block_seconds)
            return {}
        for stream_id in stream_ids:
            self.ensure(stream_id)
        keys = {self.key(s): s for s in stream_ids}
        answer = None
        with self._unless_gone(stream_ids):
            answer = self.client.xreadgroup(
                GROUP, consumer, dict.fromkeys(keys, ">"), count=count, block=int(block_seconds * 1000)
            )
        found: dict[int, list[Entry]] = {}
        for key, entries in answer or ():
            found[keys[_text(key)]] = [Entry(_text(i), f) for i, f in entries if f is not None]
        return found

    def claim_stale(self, stream_id: int, consumer: str, min_idle_seconds: float, count: int) -> list[Entry]:
        self.ensure(stream_id)
        claimed: list[Entry] = []
        start = "0-0"
        with self._unless_gone([stream_id]):
            while len(claimed) < count:
                answer = self.client.xautoclaim(
                    self.key(stream_id),
                    GROUP,
                    consumer,
                    int(min_idle_seconds * 1000),
                    start_id=start,
                    count=count - len(claimed),
                )
                start = _text(answer[0])
                claimed.extend(Entry(_text(i), f) for i, f in answer[1] if f is not None)
                # Entries trimmed while pending come back in answer[2]: acknowledge them away.
                if len(answer) > 2 and answer[2]:
                    self.client.xack(self.key(stream_id), GROUP, *answer[2])
                if start == "0-0":
                    break
        return claimed

    def ack(self, stream_id: int, entry_ids: Sequence[str]) -> None:
        if not entry_ids:
            return
        pipeline = self.client.pipeline(transaction=True)
        pipeline.xack(self.key(stream_id), GROUP, *entry_ids)
        pipeline.hdel(self.key(stream_id, "failures"), *entry_ids, *(f"{i}:error" for i in entry_ids))
        pipeline.execute()

    def record_failure(self, stream_id: int, entry_id: str, error: str) -> int:
        key = self.key(stream_id, "failures")
        pipeline = self.client.pipeline(transaction=True)
        pipeline.hincrby(key, entry_id, 1)
        pipeline.hset(key, f"{entry_id}:error", error[:2000])
        attempts, _ = pipeline.execute()
        return int(attempts)

    def failures(self, stream_id: int, entry_ids: Sequence[str]) -> dict[str, tuple[int, str]]:
        if not entry_ids:
            return {}
        names = [name for i in entry_ids for name in (i, f"{i}:error")]
        values = self.client.hmget(self.key(stream_id, "failures"), names)
        found: dict[str, tuple[int, str]] = {}
        for index, entry_id in enumerate(entry_ids):
            attempts, error = values[2 * index], values[2 * index + 1]
            if attempts:
                found[entry_id] = (int(attempts), _text(error) if error else "")
        return found

    def dead_letter(self, stream_id: int, entry: Entry, error: str, attempts: int) -> None:
        fields = {
            **entry.fields,
            b"entry": entry.id.encode(),
            b"error": error.encode(),
            b"attempts": str(attempts).encode(),
        }
        pipeline = self.client.pipeline(transaction=True)
        pipeline.xadd(self.key(stream_id, "dead"), fields)
        pipeline.xack(self.key(stream_id), GROUP, entry.id)
        pipeline.hdel(self.key(stream_id, "failures"), entry.id, f"{entry.id}:error")
        pipeline.execute()

    def _group(self, stream_id: int) -> dict[str, Any] | None:
        try:
            groups = self.client.xinfo_groups(self.key(stream_id))
        except redis.ResponseError:
            return None  # no such key
        for group in groups:
            if _text(group.get("name")) == GROUP:
                return {_text(k): v for k, v in group.items()}
        return None

    def backlog(self, stream_id: int) -> Backlog:
        group = self._group(stream_id)
        if group is None:
            return Backlog(waiting=int(self.client.xlen(self.key(stream_id))), pending=0)
        pending = int(group.get("pending") or 0)
        lag = group.get("lag")
        if lag is None:  # Redis cannot tell after some deletions: count what is after the cursor
            last = _text(group.get("last-delivered-id") or "0-0")
            lag = len(self.client.xrange(self.key(stream_id), min=f"({last}", count=1_000_000))
        return Backlog(waiting=int(lag), pending=pending)

    def dead_letter_count(self, stream_id: int) -> int:
        return int(self.client.xlen(self.key(stream_id, "dead")))

    def trim(self, stream_id: int) -> tuple[int, int] | None:
        floor = None
        with self._unless_gone([stream_id]):
            floor = self._trim(stream_id)
        return floor

    def _trim(self, stream_id: int) -> tuple[int, int] | None:
        group = self._group(stream_id)
        newest = self.client.xrevrange(self.key(stream_id), count=1)
        if group is None or not newest:
            return None
        floor = entry_key(_text(group.get("last-delivered-id") or "0-0"))
        summary = self.client.xpending(self.key(stream_id), GROUP)
        if summary and summary.get("pending"):
            floor = min(floor, entry_key(_text(summary["min"])))
        floor = min(floor, entry_key(_text(newest[0][0])))
        if floor > (0, 0):
            self.client.xtrim(self.key(stream_id), minid=f"{floor[0]}-{floor[1]}", approximate=False)
        self._forget_idle_consumers(stream_id)
        return floor

    def _forget_idle_consumers(self, stream_id: int) -> None:
        idle_ms = self.idle_consumer_seconds * 1000
        for consumer in self.client.xinfo_consumers(self.key(stream_id), GROUP):
            if int(consumer.get("pending") or 0) == 0 and int(consumer.get("idle") or 0) >= idle_ms:
                # XGROUP DELCONSUMER drops its pending entries too: only a consumer that has none.
                self.client.xgroup_delconsumer(self.key(stream_id), GROUP, consumer["name"])

    def delete(self, stream_id: int) -> None:
        self.client.delete(self.key(stream_id), self.key(stream_id, "failures"))
        self._groups.discard(stream_id)

    def close(self) -> None:
        self.client.close()


# --- in the process --------------------------------------------------------------------------


@dataclass
class _Pending:
    consumer: str
    since: float


@dataclass
class _MemoryStream:
    entries: dict[str, dict[bytes, bytes]] = field(default_factory=dict)
    delivered: set[str] = field(default_factory=set)
    pending: dict[str, _Pending] = field(default_factory=dict)
    failures: dict[str, tuple[int, str]] = field(default_factory=dict)
    dead: list[dict[bytes, bytes]] = field(default_factory=list)


class MemoryBuffer:
    """The same contract in one process, for a collector without Redis."""

    def __init__(self) -> None:
        self._streams: dict[int, _MemoryStream] = {}
        self._changed = threading.Condition()
        self._last = (0, 0)

    def _stream(self, stream_id: int) -> _MemoryStream:
        return self._streams.setdefault(stream_id, _MemoryStream())

    def _next_id(self) -> str:
        now = int(time.time() * 1000)
        self._last = (now, 0) if now > self._last[0] else (self._last[0], self._last[1] + 1)
        return f"{self._last[0]}-{self._last[1]}"

    def ensure(self, stream_id: int) -> None:
        with self._changed:
            self._stream(stream_id)

    def append(self, items: Sequence[tuple[int, BufferMessage]]) -> None:
        with self._changed:
            for stream_id, message in items:
                self._stream(stream_id).entries[self._next_id()] = message.fields()
            self._changed.notify_all()

    def last_position(self, stream_id: int) -> int | None:
        with self._changed:
            return _newest_position(reversed(list(self._stream(stream_id).entries.values())))

    def read_new(
        self, stream_ids: Sequence[int], consumer: str, count: int, block_seconds: float
    ) -> dict[int, list[Entry]]:
        deadline = time.monotonic() + block_seconds
        with self._changed:
            while True:
                found: dict[int, list[Entry]] = {}
                for stream_id in stream_ids:
                    stream = self._stream(stream_id)
                    fresh = [i for i in stream.entries if i not in stream.delivered][:count]
                    for entry_id in fresh:
                        stream.delivered.add(entry_id)
                        stream.pending[entry_id] = _Pending(consumer, time.monotonic())
                    if fresh:
                        found[stream_id] = [Entry(i, stream.entries[i]) for i in fresh]
                remaining = deadline - time.monotonic()
                if found or remaining <= 0:
                    return found
                self._changed.wait(remaining)

    def claim_stale(self, stream_id: int, consumer: str, min_idle_seconds: float, count: int) -> list[Entry]:
        now = time.monotonic()
        with self._changed:
            stream = self._stream(stream_id)
            stale = [i for i, p in stream.pending.items() if now - p.since >= min_idle_seconds][:count]
            for entry_id in stale:
                stream.pending[entry_id] = _Pending(consumer, now)
            return [Entry(i, stream.entries[i]) for i in stale if i in stream.entries]

    def ack(self, stream_id: int, entry_ids: Sequence[str]) -> None:
        with self._changed:
            stream = self._stream(stream_id)
            for entry_id in entry_ids:
                stream.pending.pop(entry_id, None)
                stream.failures.pop(entry_id, None)

    def record_failure(self, stream_id: int, entry_id: str, error: str) -> int:
        with self._changed:
            stream = self._stream(stream_id)
            attempts = stream.failures.get(entry_id, (0, ""))[0] + 1
            stream.failures[entry_id] = (attempts, error)
            return attempts

    def failures(self, stream_id: int, entry_ids: Sequence[str]) -> dict[str, tuple[int, str]]:
        with self._changed:
            known = self._stream(stream_id).failures
            return {i: known[i] for i in entry_ids if i in known}

    def dead_letter(self, stream_id: int, entry: Entry, error: str, attempts: int) -> None:
        with self._changed:
            stream = self._stream(stream_id)
            stream.dead.append(
                {
                    **entry.fields,
                    b"entry": entry.id.encode(),
                    b"error": error.encode(),
                    b"attempts": str(attempts).encode(),
                }
            )
            stream.pending.pop(entry.id, None)
            stream.failures.pop(entry.id, None)

    def backlog(self, stream_id: int) -> Backlog:
        with self._changed:
            stream = self._streams.get(stream_id)
            if stream is None:
                return Backlog(0, 0)
            waiting = sum(1 for i in stream.entries if i not in stream.delivered)
            return Backlog(waiting=waiting, pending=len(stream.pending))

    def dead_letter_count(self, stream_id: int) -> int:
        with self._changed:
            stream = self._streams.get(stream_id)
            return len(stream.dead) if stream else 0

    def trim(self, stream_id: int) -> tuple[int, int] | None:
        with self._changed:
            stream = self._stream(stream_id)
            ids = list(stream.entries)
            if not ids:
                return None
            unfinished = [i for i in ids if i not in stream.delivered or i in stream.pending]
            floor = min(entry_key(i) for i in [*unfinished, ids[-1]])
            for entry_id in ids:
                if entry_key(entry_id) < floor:
                    del stream.entries[entry_id]
                    stream.delivered.discard(entry_id)
            return floor

    def delete(self, stream_id: int) -> None:
        with self._changed:
            stream = self._streams.get(stream_id)
            if stream is not None:
                stream.entries.clear()
                stream.delivered.clear()
                stream.pending.clear()
                stream.failures.clear()

    def close(self) -> None:
        return None


def buffered_messages(buffer: StreamBuffer | None, stream_id: int, drained_at: object | None) -> int:
    """A stream's buffer backlog for its figures: 0 once drained, and 0 (with a warning) when the
    buffer cannot say, since a figure is not worth failing the call for."""
    if drained_at is not None or buffer is None:
        return 0
    try:
        return buffer.backlog(stream_id).total
    except Exception:
        log.warning("stream backlog unknown", extra={"stream_id": stream_id}, exc_info=True)
        return 0
