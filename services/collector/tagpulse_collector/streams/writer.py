"""The writer: reads the stream buffers as a member of the consumer group, stores each batch
through the one ingestion path, and acknowledges it only after the commit.

Exactly-once figures on at-least-once delivery: in the same transaction as the posts, the writer

1. records the batch's buffer entry ids in `stream_entries` (`settle_entries`); entries already
   there were written before (a writer died between the commit and the acknowledgement, or
   another writer claimed them while this one was still writing) and are only acknowledged;
2. stores the matched posts with `ingest.ingest_pages` (dedupe, rollups, country): `posts_new`
   counts the posts new to the database;
3. inserts (stream, source, post id) into `stream_posts` with ON CONFLICT DO NOTHING: the rows
   that insert created are the stream's unique posts, and only they add to the counts per rule,
   language and country; every other matched message is a duplicate;
4. adds the figures and the reader's position to the stream's row.

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
from datetime import UTC, datetime
from functools import partial

import redis
from sqlalchemy import ColumnElement, Engine, and_, case, delete, or_, select, tuple_, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from tagpulse.db.engine import upsert
from tagpulse.db.models import Post, Stream, StreamCount, StreamDeadLetter, StreamEntry, StreamPost
from tagpulse_collector.ingest import in_transaction, ingest_pages
from tagpulse_collector.sources.base import Page
from tagpulse_collector.sources.catalog import KNOWN_SOURCES
from tagpulse_collector.streams import metrics, store
from tagpulse_collector.streams.buffer import Entry, StreamBuffer, entry_key
from tagpulse_collector.streams.messages import (
    MESSAGE,
    BadMessage,
    BufferMessage,
    ParsedMessage,
    parse_message,
)
from tagpulse_collector.streams.store import StreamRecord

log = logging.getLogger("tagpulse.streams")

# Failures that say nothing about the message: the writer waits for the dependency instead.
OUTAGES = (OperationalError, InterfaceError, PoolTimeout, redis.RedisError)
MAX_DEAD_LETTER_BODY = 64 * 1024


@dataclass(frozen=True)
class WriterPolicy:
    batch_size: int = 200
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


@dataclass(frozen=True)
class ParsedEntry:
    entry: Entry
    message: BufferMessage
    # The post of a matched message; None for a tally or a message that matched no rule.
    parsed: ParsedMessage | None


@dataclass(frozen=True)
class WriteResult:
    entries: int = 0
    received: int = 0
    matched: int = 0
    unique: int = 0
    new: int = 0

    @property
    def duplicate(self) -> int:
        return self.matched - self.unique


def consumer_name() -> str:
    """This writer's name in the consumer group: host, process and a random part."""
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


def parse_entry(stream: StreamRecord, entry: Entry) -> ParsedEntry:
    """Raises BadMessage when the entry or its message cannot be written."""
    message = BufferMessage.from_fields(entry.fields)
    if message.error:
        raise BadMessage(message.error)
    parsed = None
    if message.kind == MESSAGE and message.rules:
        parsed = parse_message(stream.source, message.body)
    return ParsedEntry(entry, message, parsed)


def write_entries(
    connection: Connection, stream: StreamRecord, entries: Sequence[ParsedEntry]
) -> WriteResult:
    """Store a batch of one stream's entries in the connection's transaction (see the module)."""
    fresh_keys = settle_entries(connection, stream.id, [entry_key(e.entry.id) for e in entries])
    fresh = [e for e in entries if entry_key(e.entry.id) in fresh_keys]
    if not fresh:
        return WriteResult()
    received = sum(e.message.count if e.message.kind != MESSAGE else 1 for e in fresh)
    matched = [e for e in fresh if e.parsed is not None]
    positions = [e.message.position for e in fresh if e.message.position is not None]
    unique, new = 0, 0
    if matched:
        posts = [e.parsed.post for e in matched if e.parsed is not None]
        authors = [a for e in matched if e.parsed is not None for a in e.parsed.authors]
        new = ingest_pages(connection, [Page(posts=posts, authors=authors)]).new
        unique = _count_unique(connection, stream, matched)
    streams = Stream.table()
    values: dict[str, object] = {
        "posts_received": streams.c.posts_received + received,
        "posts_matched": streams.c.posts_matched + len(matched),
        "posts_duplicate": streams.c.posts_duplicate + (len(matched) - unique),
        "posts_unique": streams.c.posts_unique + unique,
        "posts_new": streams.c.posts_new + new,
    }
    if positions:
        furthest = max(positions)
        values["position"] = _greatest(streams.c.position, furthest)
    connection.execute(update(streams).where(streams.c.id == stream.id).values(**values))
    return WriteResult(len(fresh), received, len(matched), unique, new)


def settle_entries(
    connection: Connection, stream_id: int, keys: Sequence[tuple[int, int]]
) -> set[tuple[int, int]]:
    """Record buffer entries as settled; returns the ones nobody settled before.

    The stream's row is locked first, as pruning and draining lock it: an entry that was
    settled and then forgotten (below `settled_below_*`, or after the drain) is never taken for
    a new one, however long a writer held its copy."""
    floor = _lock_settled_floor(connection, stream_id)
    if floor is None:
        return set()
    candidates = sorted({key for key in keys if key >= floor})
    if not candidates:
        return set()
    table = StreamEntry.table()
    # Rows as execute() parameters, not .values(): the statement is compiled once and cached
    # (SQLAlchemy's "insertmanyvalues" still sends one INSERT per 1,000 rows).
    inserted = connection.execute(
        upsert(connection, table).on_conflict_do_nothing().returning(table.c.entry_ms, table.c.entry_seq),
        [{"stream_id": stream_id, "entry_ms": ms, "entry_seq": seq} for ms, seq in candidates],
    )
    return {(int(ms), int(seq)) for ms, seq in inserted}


def _lock_settled_floor(connection: Connection, stream_id: int) -> tuple[int, int] | None:
    """Lock the stream's row, which settling, pruning and draining all take first, and return
    the entry id below which every entry is settled and forgotten; None once the stream is
    drained (then all of them are)."""
    streams = Stream.table()
    row = connection.execute(
        select(streams.c.drained_at, streams.c.settled_below_ms, streams.c.settled_below_seq)
        .where(streams.c.id == stream_id)
        .with_for_update()
    ).one()
    return None if row.drained_at is not None else (row.settled_below_ms, row.settled_below_seq)


def _greatest(column: ColumnElement[int | None], value: int) -> ColumnElement[int | None]:
    # GREATEST on PostgreSQL, MAX(a, b) on SQLite: spelled out once for both.
    return case((or_(column.is_(None), column < value), value), else_=column)


def _count_unique(connection: Connection, stream: StreamRecord, matched: Sequence[ParsedEntry]) -> int:
    """Insert the stream's first sight of each post; count and roll up only those."""
    rule_keys: dict[tuple[str, str], set[str]] = {}
    for e in matched:
        assert e.parsed is not None
        keys = rule_keys.setdefault((e.parsed.post.source, e.parsed.post.id), set())
        keys.update(stream.rules[i].key for i in e.message.rules if 0 <= i < len(stream.rules))
    posts = Post.table()
    stored = {
        (row.source, row.id): (row.language, row.country_code)
        for row in connection.execute(
            select(posts.c.source, posts.c.id, posts.c.language, posts.c.country_code).where(
                tuple_(posts.c.source, posts.c.id).in_(sorted(rule_keys))
            )
        )
    }
    now = datetime.now(UTC)
    seen = StreamPost.table()
    rows = [
        {
            "stream_id": stream.id,
            "source": source,
            "post_id": post_id,
            "language": stored[(source, post_id)][0],
            "country_code": stored[(source, post_id)][1],
            "first_seen_at": now,
        }
        for source, post_id in sorted(rule_keys)
        if (source, post_id) in stored
    ]
    if not rows:
        return 0
    first_seen = connection.execute(
        upsert(connection, seen)
        .on_conflict_do_nothing()
        .returning(seen.c.source, seen.c.post_id, seen.c.language, seen.c.country_code),
        rows,
    ).all()
    counts: Counter[tuple[str, str]] = Counter()
    for source, post_id, language, country in first_seen:
        counts.update(("rule", key) for key in rule_keys[(source, post_id)])
        counts[("language", language)] += 1
        counts[("country", country)] += 1
    if counts:
        table = StreamCount.table()
        statement = upsert(connection, table)
        connection.execute(
            statement.on_conflict_do_update(
                index_elements=["stream_id", "dimension", "key"],
                set_={"post_count": table.c.post_count + statement.excluded.post_count},
            ),
            [
                {"stream_id": stream.id, "dimension": dimension, "key": key[:512], "post_count": n}
                for (dimension, key), n in sorted(counts.items())
            ],
        )
    return len(first_seen)


# What became of an entry given up on (record_dead_letter).
DEAD_LETTERED, ALREADY_DEAD_LETTERED, WRITTEN_ELSEWHERE = "dead-lettered", "already dead-lettered", "written"


def record_dead_letter(
    connection: Connection, stream: StreamRecord, entry: Entry, error: str, attempts: int
) -> str:
    """Record a dead letter once and count it (DEAD_LETTERED). An entry that another writer
    settled first is not counted again: ALREADY_DEAD_LETTERED, or WRITTEN_ELSEWHERE when that
    writer stored it after all (then it is no dead letter)."""
    table = StreamDeadLetter.table()
    if not settle_entries(connection, stream.id, [entry_key(entry.id)]):
        known = connection.execute(
            select(table.c.entry_id).where(table.c.stream_id == stream.id, table.c.entry_id == entry.id)
        ).first()
        return ALREADY_DEAD_LETTERED if known is not None else WRITTEN_ELSEWHERE
    body = entry.fields.get(b"b", b"") or repr(dict(entry.fields)).encode()
    connection.execute(
        upsert(connection, table)
        .values(
            stream_id=stream.id,
            entry_id=entry.id,
            error=error[:2000],
            attempts=attempts,
            body=body[:MAX_DEAD_LETTER_BODY].decode("utf-8", "replace").replace("\x00", ""),
            dead_lettered_at=datetime.now(UTC),
        )
        .on_conflict_do_nothing()
    )
    streams = Stream.table()
    connection.execute(
        update(streams)
        .where(streams.c.id == stream.id)
        .values(
            posts_received=streams.c.posts_received + 1,
            messages_dead_lettered=streams.c.messages_dead_lettered + 1,
            last_error=f"message {entry.id} dead-lettered after {attempts} failed attempts: {error}"[:2000],
        )
    )
    return DEAD_LETTERED


def prune_entries(connection: Connection, stream_id: int, floor: tuple[int, int]) -> None:
    """Forget settled entries below `floor`: they are acknowledged and never delivered again.
    The floor is kept on the stream's row, so a copy of one that a writer still holds is known
    for what it is (see `settle_entries`)."""
    settled = _lock_settled_floor(connection, stream_id)
    if settled is None or floor <= settled:
        return
    streams = Stream.table()
    connection.execute(
        update(streams)
        .where(streams.c.id == stream_id)
        .values(settled_below_ms=floor[0], settled_below_seq=floor[1])
    )
    table = StreamEntry.table()
    connection.execute(
        delete(table).where(
            table.c.stream_id == stream_id,
            or_(
                table.c.entry_ms < floor[0],
                and_(table.c.entry_ms == floor[0], table.c.entry_seq < floor[1]),
            ),
        )
    )


def _forget_entries(connection: Connection, stream_id: int) -> None:
    table = StreamEntry.table()
    connection.execute(delete(table).where(table.c.stream_id == stream_id))


@dataclass
class StreamWriter:
    """One writer of the consumer group; `run` loops until `stop` is set."""

    engine: Engine
    buffer: StreamBuffer
    policy: WriterPolicy = field(default_factory=WriterPolicy)
    consumer: str = field(default_factory=consumer_name)
    # Called with the number of new posts after each commit that stored some.
    on_new_posts: Callable[[int], None] = lambda _new: None
    # Tests only: called after each commit, before the acknowledgement (see server.py).
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
            _forget_entries(connection, stream.id)

        in_transaction(self.engine, finish)
        self.buffer.delete(stream.id)
        self.streams.pop(stream.id, None)
        self._pruned.pop(stream.id, None)
        self.on_new_posts(0)
        log.info("stream drained", extra={"stream_id": stream.id, "state": stream.state})
