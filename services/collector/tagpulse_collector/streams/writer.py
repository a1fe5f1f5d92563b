"""The writer: reads the stream buffers as a member of the consumer group, stores each batch
(`accounting.write_entries`), and acknowledges it only after the commit.

A message that cannot be written stays pending and is tried again when it is claimed; after
`max_attempts` failures it goes to the dead-letter buffer with its error (recorded once in
`stream_dead_letters`). A database or Redis outage is not the message's fault: the writer
waits and nothing counts as an attempt.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial

import redis
from sqlalchemy import Engine
from sqlalchemy.engine import Connection

from tagpulse.db.engine import DATABASE_OUTAGES
from tagpulse_collector.catalog import KNOWN_SOURCES
from tagpulse_collector.ingestion.batches import in_transaction
from tagpulse_collector.ingestion.statistics import analyze_grown
from tagpulse_collector.streams import metrics, store
from tagpulse_collector.streams.accounting import (
    DEAD_LETTERED,
    WRITTEN_ELSEWHERE,
    ParsedEntry,
    WriteResult,
    forget_entries,
    parse_entry,
    prune_entries,
    record_dead_letter,
    write_entries,
)
from tagpulse_collector.streams.buffer import Entry, StreamBuffer
from tagpulse_collector.streams.messages import BadMessage
from tagpulse_collector.streams.store import StreamRecord

log = logging.getLogger("tagpulse.streams")

# Failures that say nothing about the message: the writer waits for the dependency instead.
OUTAGES: tuple[type[Exception], ...] = (*DATABASE_OUTAGES, redis.RedisError)


@dataclass(frozen=True)
class WriterPolicy:
    # Entries read and stored per transaction (a read takes what is there, up to this many):
    # a batch has some twenty statements whatever its size, so at a high rate bigger batches
    # store more per second (200 → 1,000 took one writer from about 4,500 to 8,000 matched
    # posts/s, BENCHMARKS.md); at a low rate batches stay small and quick.
    batch_size: int = 1000
    # How long a read waits for new entries.
    block_seconds: float = 1.0
    # How long an entry stays pending before another writer (or this one, for a failed entry)
    # takes it over.
    claim_idle_seconds: float = 30.0
    # Failed attempts before an entry goes to the dead-letter buffer.
    max_attempts: int = 3
    # How often the list of streams to read is refreshed.
    refresh_seconds: float = 1.0
    # How often written entries are trimmed from the buffer and from `stream_entries`.
    prune_seconds: float = 30.0
    # Pause after an outage before trying again.
    outage_pause_seconds: float = 1.0


def consumer_name() -> str:
    """This writer's name in the consumer group: host, process and a random part."""
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


@dataclass
class StreamWriter:
    """One writer of the consumer group; `run` loops until `stop` is set."""

    engine: Engine
    buffer: StreamBuffer
    policy: WriterPolicy = field(default_factory=WriterPolicy)
    consumer: str = field(default_factory=consumer_name)
    # Called with the number of new posts after each commit that stored some.
    on_new_posts: Callable[[int], None] = lambda _new: None
    # Called after each commit, before the acknowledgement (tests kill the process there).
    after_commit: Callable[[], None] | None = None

    def __post_init__(self) -> None:
        self.streams: dict[int, StreamRecord] = {}
        self._refreshed = 0.0
        self._claimed = 0.0
        self._pruned: dict[int, float] = {}

    def run(self, stop: threading.Event) -> None:
        log.info("stream writer started", extra={"consumer": self.consumer})
        while not stop.is_set():
            try:
                self.step()
            except OUTAGES as error:
                reason = f"{type(error).__name__}: {error}"
                log.warning("stream writer waits for an outage", extra={"reason": reason})
                stop.wait(self.policy.outage_pause_seconds)
            except Exception:
                log.exception("stream writer step failed")
                stop.wait(self.policy.outage_pause_seconds)
        log.info("stream writer stopped", extra={"consumer": self.consumer})

    def step(self) -> int:
        """One round: refresh, claim stale entries, read new ones, settle stopped streams."""
        now = time.monotonic()
        if now - self._refreshed >= self.policy.refresh_seconds or not self.streams:
            self.refresh()
        handled = 0
        if now - self._claimed >= min(self.policy.claim_idle_seconds / 2, 5.0):
            self._claimed = now
            for stream in list(self.streams.values()):
                claimed = self.buffer.claim_stale(
                    stream.id, self.consumer, self.policy.claim_idle_seconds, self.policy.batch_size
                )
                handled += self.process(stream, claimed, redelivered=True)
        fresh = self.buffer.read_new(
            sorted(self.streams), self.consumer, self.policy.batch_size, self.policy.block_seconds
        )
        for stream_id, entries in fresh.items():
            reading = self.streams.get(stream_id)
            if reading is not None:
                handled += self.process(reading, entries)
        self.settle()
        return handled

    def refresh(self) -> None:
        previous = set(self.streams)
        self.streams = {s.id: s for s in store.active_streams(self.engine)}
        self._refreshed = time.monotonic()
        # Drained by another writer: a read of ours may have made its buffer again, empty.
        for stream_id in previous - set(self.streams):
            self.buffer.delete(stream_id)
        waiting: Counter[str] = Counter()
        pending: Counter[str] = Counter()
        for stream in self.streams.values():
            backlog = self.buffer.backlog(stream.id)
            waiting[stream.source] += backlog.waiting
            pending[stream.source] += backlog.pending
        for source in KNOWN_SOURCES:
            metrics.BUFFERED.labels(source=source, state="waiting").set(waiting[source])
            metrics.BUFFERED.labels(source=source, state="pending").set(pending[source])

    def process(self, stream: StreamRecord, entries: Sequence[Entry], redelivered: bool = False) -> int:
        """Write entries of one stream; returns how many were acknowledged or dead-lettered."""
        if not entries:
            return 0
        good: list[ParsedEntry] = []
        done = 0
        # Only entries delivered before can have failed before.
        failed = self.buffer.failures(stream.id, [e.id for e in entries]) if redelivered else {}
        for entry in entries:
            attempts, last_error = failed.get(entry.id, (0, ""))
            if attempts >= self.policy.max_attempts:
                done += self._dead_letter(stream, entry, last_error or "failed too many times", attempts)
                continue
            try:
                good.append(parse_entry(stream, entry))
            except BadMessage as error:
                done += self._failed(stream, entry, str(error))
        if good:
            done += self._write(stream, good)
        return done

    def _write(self, stream: StreamRecord, entries: list[ParsedEntry]) -> int:
        try:
            result = in_transaction(self.engine, partial(write_entries, stream=stream, entries=entries))
        except OUTAGES:
            raise
        except Exception as error:  # noqa: BLE001 - any other failure is the message's
            if len(entries) == 1:
                return self._failed(stream, entries[0].entry, f"{type(error).__name__}: {error}")
            # One bad message must not hold up the rest of the batch: write them one by one.
            return sum(self._write(stream, [e]) for e in entries)
        if self.after_commit is not None:
            self.after_commit()
        self.buffer.ack(stream.id, [e.entry.id for e in entries])
        if result.new:
            analyze_grown(self.engine)
        self._observe(stream, result, len(entries))
        return len(entries)

    def _observe(self, stream: StreamRecord, result: WriteResult, entries: int) -> None:
        source = stream.source
        metrics.MESSAGES_WRITTEN.labels(source=source).inc(result.entries)
        metrics.POSTS_UNIQUE.labels(source=source).inc(result.unique)
        metrics.POSTS_DUPLICATE.labels(source=source).inc(result.duplicate)
        if result.new:
            self.on_new_posts(result.new)
        log.debug(
            "stream batch written",
            extra={
                "stream_id": stream.id,
                "entries": entries,
                "redelivered": entries - result.entries,
                "received": result.received,
                "matched": result.matched,
                "unique": result.unique,
                "duplicate": result.duplicate,
                "new": result.new,
            },
        )

    def _failed(self, stream: StreamRecord, entry: Entry, error: str) -> int:
        attempts = self.buffer.record_failure(stream.id, entry.id, error)
        log.warning(
            "stream message failed",
            extra={"stream_id": stream.id, "entry": entry.id, "attempt": attempts, "reason": error},
        )
        if attempts >= self.policy.max_attempts:
            return self._dead_letter(stream, entry, error, attempts)
        return 0

    def _dead_letter(self, stream: StreamRecord, entry: Entry, error: str, attempts: int) -> int:
        record = partial(record_dead_letter, stream=stream, entry=entry, error=error, attempts=attempts)
        outcome = in_transaction(self.engine, record)
        if outcome == WRITTEN_ELSEWHERE:
            self.buffer.ack(stream.id, [entry.id])
            return 1
        # Also when it was dead-lettered before: that writer may have died before moving it.
        self.buffer.dead_letter(stream.id, entry, error, attempts)
        if outcome == DEAD_LETTERED:
            metrics.DEAD_LETTERED.labels(source=stream.source).inc()
            log.error(
                "stream message dead-lettered",
                extra={"stream_id": stream.id, "entry": entry.id, "attempts": attempts, "reason": error},
            )
        return 1

    def settle(self) -> None:
        """Finish stopped streams whose buffer is written out; trim the others now and then."""
        now = time.monotonic()
        for stream in list(self.streams.values()):
            reader_done = stream.state != store.RUNNING and stream.reader_stopped_at is not None
            if reader_done and self.buffer.backlog(stream.id).total == 0:
                self._drained(stream)
                continue
            if now - self._pruned.get(stream.id, 0.0) >= self.policy.prune_seconds:
                self._pruned[stream.id] = now
                floor = self.buffer.trim(stream.id)
                if floor is not None:
                    in_transaction(self.engine, partial(prune_entries, stream_id=stream.id, floor=floor))

    def _drained(self, stream: StreamRecord) -> None:
        def finish(connection: Connection) -> None:
            store.mark_drained(connection, stream.id)
            forget_entries(connection, stream.id)

        in_transaction(self.engine, finish)
        self.buffer.delete(stream.id)
        self.streams.pop(stream.id, None)
        self._pruned.pop(stream.id, None)
        self.on_new_posts(0)
        log.info("stream drained", extra={"stream_id": stream.id, "state": stream.state})
