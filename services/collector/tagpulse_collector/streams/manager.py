"""Runs the keyword streams of this collector, and shares them with the other replicas.

Every collector runs a supervisor thread and a writer thread:

- The supervisor looks at the streams every `poll_seconds`. A running stream needs one reader
  across all replicas: the replica that takes the stream's advisory lock (on one database
  session of the supervisor's) starts the reader; the others leave it. When that replica dies,
  its session ends, PostgreSQL releases the lock, and the next supervisor to look takes it over:
  the new reader resumes where the buffer says the old one got to. The x streams share one
  reader (X allows one connection), under one lock. A stream that is no longer RUNNING gets no
  more messages; once its reader has stopped, `reader_stopped_at` is set (by the supervisor that
  held, or can take, its lock), which lets the writers finish it.
- The writer (`writer.py`) writes every stream's buffer, as one consumer of the group.

With SQLite (one collector process) the locks are the process's own.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import Engine

from tagpulse_collector import locks
from tagpulse_collector.catalog import SourceCatalog
from tagpulse_collector.query_client import Invalidations
from tagpulse_collector.spending.stream_meter import StreamMeter
from tagpulse_collector.streams import metrics, store
from tagpulse_collector.streams.buffer import StreamBuffer
from tagpulse_collector.streams.local_feed import Feed, LocalReader
from tagpulse_collector.streams.store import StreamRecord
from tagpulse_collector.streams.writer import StreamWriter, WriterPolicy
from tagpulse_collector.streams.x_stream import MOST_PER_MESSAGE, XStreamReader

log = logging.getLogger("tagpulse.streams")

# A local reader that crashed is started again after this long.
RESTART_SECONDS = 5.0
# The x streams share one reader under one lock.
X_KEY = locks.feed_key("x")


@dataclass(frozen=True)
class StreamsConfig:
    # How often the supervisor looks at the streams.
    poll_seconds: float = 1.0
    writer: WriterPolicy = field(default_factory=WriterPolicy)


@dataclass
class _ReaderThread:
    reader: LocalReader
    thread: threading.Thread
    halt: threading.Event
    # True: it stopped because the stream did; False: halted; None: it crashed.
    outcome: bool | None = None


class Invalidator:
    """Retires the query service's cached answers while streams store posts, at most every
    `every_seconds` (and once more when a stream is drained)."""

    def __init__(self, invalidations: Invalidations | None, every_seconds: float) -> None:
        self.invalidations = invalidations
        self.every_seconds = every_seconds
        self._lock = threading.Lock()
        self._new = 0
        self._last = 0.0

    def notify(self, new_posts: int) -> None:
        with self._lock:
            self._new += new_posts
        self.flush(force=new_posts == 0)

    def flush(self, force: bool = False) -> None:
        with self._lock:
            due = force or time.monotonic() - self._last >= self.every_seconds
            if not self._new or not due or self.invalidations is None:
                return
            new, self._new, self._last = self._new, 0, time.monotonic()
        self.invalidations.request_threadsafe(f"keyword streams stored {new} new posts")


class StreamManager:
    def __init__(
        self,
        engine: Engine,
        buffer: StreamBuffer,
        catalog: SourceCatalog,
        config: StreamsConfig,
        invalidator: Invalidator | None = None,
        after_commit: Callable[[], None] | None = None,
    ) -> None:
        self.engine = engine
        self.buffer = buffer
        self.catalog = catalog
        self.x_config = catalog.x_stream()
        self.config = config
        self.invalidator = invalidator or Invalidator(None, 0)
        self.stop_event = threading.Event()
        self.writer = StreamWriter(
            engine, buffer, config.writer, on_new_posts=self.invalidator.notify, after_commit=after_commit
        )
        self.lease: locks.Lease = locks.lease(engine)
        self._held: set[tuple[int, int]] = set()
        self.local_readers: dict[int, _ReaderThread] = {}
        self._restart_at: dict[int, float] = {}
        self.x: XStreamReader | None = None
        self._x_thread: threading.Thread | None = None
        self._x_served: set[int] = set()
        self._warned: set[int] = set()
        self._threads: list[threading.Thread] = []

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        for name, target in (("stream-writer", self._write), ("stream-supervisor", self._supervise)):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop reading and writing: the writer finishes its batch; nothing in flight is lost."""
        self.stop_event.set()
        for running in self.local_readers.values():
            running.halt.set()
        if self.x is not None:
            self.x.close()
        deadline = time.monotonic() + timeout
        for thread in [*self._threads, *(r.thread for r in self.local_readers.values()), self._x_thread]:
            if thread is not None:
                thread.join(max(deadline - time.monotonic(), 0.1))
        self.lease.close()
        self.buffer.close()

    def _write(self) -> None:
        self.writer.run(self.stop_event)

    def _supervise(self) -> None:
        while not self.stop_event.is_set():
            try:
                self.tick()
            except Exception:
                log.exception("stream supervisor tick failed")
            self.stop_event.wait(self.config.poll_seconds)

    # --- locks -----------------------------------------------------------------------------

    def _take(self, key: tuple[int, int]) -> bool:
        # PostgreSQL advisory locks are re-entrant per session: never ask twice for one we hold.
        if key in self._held:
            return False
        if self.lease.try_lock(key):
            self._held.add(key)
            return True
        return False

    def _release(self, key: tuple[int, int]) -> None:
        if key in self._held:
            self._held.discard(key)
            self.lease.unlock(key)

    def _check_lease(self) -> None:
        if self.lease.alive():
            return
        log.error("stream locks lost (database session broken); stopping this collector's readers")
        for running in self.local_readers.values():
            running.halt.set()
        if self.x is not None:
            self.x.close()
        for running in self.local_readers.values():
            running.thread.join(5)
        if self._x_thread is not None:
            self._x_thread.join(5)
        self.local_readers.clear()
        self.x, self._x_thread, self._x_served = None, None, set()
        self._held.clear()
        self.lease.close()
        self.lease = locks.lease(self.engine)

    # --- the supervisor's round ----------------------------------------------------------

    def tick(self) -> None:
        self._check_lease()
        streams = store.active_streams(self.engine)
        running = {s.id: s for s in streams if s.state == store.RUNNING}
        self._tick_local(streams, running)
        self._tick_x(streams, running)
        self.invalidator.flush()

    def _feed_for(self, stream: StreamRecord) -> Feed | None:
        return self.catalog.local_feed(
            stream.id,
            stream.source,
            stream.started_at,
            on_error=lambda error: store.set_last_error(self.engine, [stream.id], error),
        )

    def _not_configured(self, streams: list[StreamRecord], key: tuple[int, int]) -> None:
        """Say so on streams nobody can read (when this collector can take their lock, no other
        collector reads them: none has the source configured)."""
        fresh = [s.id for s in streams if s.id not in self._warned]
        if fresh and self._take(key):
            self._release(key)
            self._warned.update(fresh)
            store.set_last_error(
                self.engine,
                fresh,
                f"source {streams[0].source!r} is not configured on any running collector; "
                "the stream waits for one that has it",
            )

    def _tick_local(self, streams: list[StreamRecord], running: dict[int, StreamRecord]) -> None:
        now = time.monotonic()
        for stream_id, reader_thread in list(self.local_readers.items()):
            if stream_id not in running:
                reader_thread.reader.stream_stopped.set()
            if reader_thread.thread.is_alive():
                continue
            del self.local_readers[stream_id]
            if reader_thread.outcome is True:
                store.mark_reader_stopped(self.engine, [stream_id])
            elif reader_thread.outcome is None:
                self._restart_at[stream_id] = now + RESTART_SECONDS
            self._release(locks.stream_key(stream_id))
        metrics.READERS.labels(source="sample").set(
            sum(r.reader.stream.source == "sample" for r in self.local_readers.values())
        )
        for stream in running.values():
            if not self.catalog.matched_here(stream.source) or stream.id in self.local_readers:
                continue
            if now < self._restart_at.get(stream.id, 0.0) or self.stop_event.is_set():
                continue
            feed = self._feed_for(stream)
            if feed is None:
                self._not_configured([stream], locks.stream_key(stream.id))
                continue
            if self._take(locks.stream_key(stream.id)):
                self._start_local(stream, feed)
        for stream in streams:
            # Stopped while no reader of ours had it: if nobody holds its lock, nobody reads it.
            if (
                stream.state != store.RUNNING
                and stream.reader_stopped_at is None
                and self.catalog.matched_here(stream.source)
                and stream.id not in self.local_readers
                and self._take(locks.stream_key(stream.id))
            ):
                store.mark_reader_stopped(self.engine, [stream.id])
                self._release(locks.stream_key(stream.id))

    def _start_local(self, stream: StreamRecord, feed: Feed) -> None:
        reader = LocalReader(stream, self.buffer, feed)
        halt = threading.Event()
        reader_thread = _ReaderThread(reader, threading.Thread(), halt)

        def target() -> None:
            try:
                reader_thread.outcome = reader.run(halt)
            except Exception:
                log.exception("stream reader crashed", extra={"stream_id": stream.id})
                reader_thread.outcome = None

        reader_thread.thread = threading.Thread(target=target, name=f"stream-reader-{stream.id}", daemon=True)
        self.local_readers[stream.id] = reader_thread
        reader_thread.thread.start()

    def _tick_x(self, streams: list[StreamRecord], running: dict[int, StreamRecord]) -> None:
        x_running = [s for s in running.values() if s.source == "x"]
        unfinished = [
            s.id
            for s in streams
            if s.source == "x" and s.state != store.RUNNING and s.reader_stopped_at is None
        ]
        now = time.monotonic()
        if self.x is not None and (self._x_thread is None or not self._x_thread.is_alive()):
            self._stop_x()  # it crashed: start again below
        if self.x is None:
            if x_running and self.x_config is None:
                self._not_configured(x_running, X_KEY)
            elif x_running and not self.stop_event.is_set() and self._take(X_KEY):
                self._start_x(x_running, now)
            elif unfinished and self._take(X_KEY):
                store.mark_reader_stopped(self.engine, unfinished)
                self._release(X_KEY)
            return
        self.x.serve(x_running, now)
        # Serve returned: the streams left out get nothing more.
        store.mark_reader_stopped(self.engine, unfinished)
        self._x_served = {s.id for s in x_running}
        if not x_running:
            self.x.delete_rules()
            self._stop_x()

    def _start_x(self, streams: list[StreamRecord], now: float) -> None:
        assert self.x_config is not None
        reader = XStreamReader(
            self.x_config,
            self.buffer,
            on_error=lambda ids, error: store.set_last_error(self.engine, ids, error),
            on_refused=lambda stream_id, error: store.fail_stream(self.engine, stream_id, error),
            meter=StreamMeter(self.engine, self.catalog.spend, "x", MOST_PER_MESSAGE),
        )
        reader.serve(streams, now)
        self.x = reader
        self._x_served = {s.id for s in streams}
        self._x_thread = threading.Thread(
            target=reader.run, args=(self.stop_event,), name="stream-reader-x", daemon=True
        )
        self._x_thread.start()

    def _stop_x(self) -> None:
        if self.x is not None:
            self.x.close()
        if self._x_thread is not None:
            self._x_thread.join(10)
        self.x, self._x_thread, self._x_served = None, None, set()
        self._release(X_KEY)
