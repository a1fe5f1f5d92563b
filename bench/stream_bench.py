"""The keyword-stream benchmark: how fast a reader matches and buffers messages, and how fast
the writers store them, on PostgreSQL and Redis; writes its section of BENCHMARKS.md.

    python -m bench.stream_bench                        # 100,000 sample messages per case
    python -m bench.stream_bench --messages 20000 --out /tmp/BENCHMARKS.md

Each case starts from a fresh, migrated database (see bench/run.py) and a Redis key prefix of
its own, both removed afterwards. A warm-up stream (a fifth as many messages, other posts) is
stored first and the database ANALYZEd, so that the measured writes see a database with posts
and current planner statistics, as a live one has. Then:

1. the reader: a `LocalReader` over the sample feed (unthrottled) with the seed rule
   `"justin bieber" (music OR #music)` matches the messages and appends the matched ones (and
   tallies of the rest) to each stream's Redis Stream;
2. the streams are stopped, and `--writers` writer processes (each a `StreamWriter`, as a
   collector runs one) store the buffers through the ingestion path until every stream is
   drained; the figures are then checked against what the reader saw.

Cases: one stream and four streams (the messages split between them), with one and with two
writer processes. Writers of one stream take turns on its row (the price of exact counts
under redelivery, see streams/writer.py); writers of different streams do not. Not a test:
nothing is timed against a threshold.
"""

from __future__ import annotations

import argparse
import itertools
import multiprocessing
import os
import resource
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from multiprocessing.synchronize import Barrier
from pathlib import Path

import redis
from sqlalchemy import Engine

from bench.run import ROOT, Databases, machine
from bench.sections import replace_section
from tagpulse.db.engine import create_database_engine
from tagpulse_collector.ingestion.batches import country_of_location
from tagpulse_collector.streams import store
from tagpulse_collector.streams.buffer import RedisBuffer
from tagpulse_collector.streams.local_feed import Feed, FeedItem, LocalReader, Stop
from tagpulse_collector.streams.sample_feed import sample_feed
from tagpulse_collector.streams.store import Rule, StreamPlan
from tagpulse_collector.streams.writer import StreamWriter, WriterPolicy

REDIS_URL = os.environ.get("TAGPULSE_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
SEED_RULE = '"justin bieber" (music OR #music)'
BEGIN = "<!-- streams:begin -->"
END = "<!-- streams:end -->"
HEADER = (
    "| case | messages | matched | unique posts | reader: messages/s (match + buffer) "
    "| writers: messages/s | writers: matched posts/s | peak RSS of a writer (MiB) | figures |\n"
    "|---|---|---|---|---|---|---|---|---|"
)
STARTED = datetime(2026, 11, 26, tzinfo=UTC)
# A collector's writer, as server.py configures it by default.
POLICY = WriterPolicy(block_seconds=0.2, refresh_seconds=0.5)


@dataclass
class Case:
    streams: int
    writers: int
    messages: int
    matched: int = 0
    unique: int = 0
    read_seconds: float = 0.0
    write_seconds: float = 0.0
    writer_rss_mb: float = 0.0
    check: str = ""

    @property
    def name(self) -> str:
        streams = f"{self.streams} stream{'s' * (self.streams > 1)}"
        return f"{streams}, {self.writers} writer{'s' * (self.writers > 1)}"


def limited(feed: Feed, count: int) -> Feed:
    """The feed's first `count` messages (its heartbeats dropped), then the end."""

    def first(after: int | None, stop: Stop) -> Iterator[FeedItem | None]:
        items = (item for item in feed(after, stop) if item is not None)
        yield from itertools.islice(items, count)

    return first


def write_until_drained(
    database_url: str,
    prefix: str,
    stream_ids: list[int],
    consumer: str,
    start: Barrier,
    peaks: multiprocessing.Queue[float],
) -> None:
    """One writer process: once every writer is ready (the clock starts at the barrier, not at
    the interpreter's start), store the buffers until every stream is drained; report its peak
    RSS."""
    engine = create_database_engine(database_url)
    buffer = RedisBuffer(REDIS_URL, prefix)
    writer = StreamWriter(engine, buffer, POLICY, consumer=consumer)
    writer.refresh()
    # The country gazetteer loads on first use (2 s): a running collector has it already.
    country_of_location("Paris")
    start.wait()
    looked = 0.0
    try:
        while True:
            writer.step()
            if time.monotonic() - looked < 0.2:
                continue
            looked = time.monotonic()
            records = [store.get_stream(engine, i) for i in stream_ids]
            if all(r is not None and r.drained_at is not None for r in records):
                break
    finally:
        buffer.close()
        engine.dispose()
    peaks.put(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def read_into_buffer(engine: Engine, buffer: RedisBuffer, stream_id: int, messages: int) -> None:
    record = store.get_stream(engine, stream_id)
    assert record is not None
    feed = limited(sample_feed(2026, stream_id, STARTED, rate=1e9), messages)
    LocalReader(record, buffer, feed).run(threading.Event())


def warm_up(engine: Engine, buffer: RedisBuffer, messages: int) -> None:
    """Store a stream of other posts first, then ANALYZE, as autovacuum does on a live database:
    on a fresh one the planner's statistics say the tables are empty, and the foreign-key checks
    of every insert take a plan that scans (about 100 times slower) until autovacuum runs."""
    stream_id = store.create_stream(engine, StreamPlan("sample", (Rule(SEED_RULE),)), STARTED)
    read_into_buffer(engine, buffer, stream_id, messages)
    store.stop_stream(engine, stream_id)
    store.mark_reader_stopped(engine, [stream_id])
    writer = StreamWriter(engine, buffer, POLICY, consumer="warm-up")
    while (record := store.get_stream(engine, stream_id)) is not None and record.drained_at is None:
        writer.step()
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.exec_driver_sql("ANALYZE")


def run_case(case: Case, databases: Databases) -> Case:
    url = databases.fresh()
    prefix = f"tagpulse-bench-{uuid.uuid4().hex[:8]}:"
    engine = create_database_engine(url)
    buffer = RedisBuffer(REDIS_URL, prefix)
    try:
        warm_up(engine, buffer, case.messages // 5)
        ids = [
            store.create_stream(engine, StreamPlan("sample", (Rule(SEED_RULE, "bieber-music"),)), STARTED)
            for _ in range(case.streams)
        ]
        per_stream = case.messages // case.streams
        started = time.monotonic()
        for stream_id in ids:
            read_into_buffer(engine, buffer, stream_id, per_stream)
        case.read_seconds = time.monotonic() - started
        for stream_id in ids:
            store.stop_stream(engine, stream_id)
        store.mark_reader_stopped(engine, ids)

        context = multiprocessing.get_context("spawn")
        peaks: multiprocessing.Queue[float] = context.Queue()
        start = context.Barrier(case.writers + 1)
        writers = [
            context.Process(target=write_until_drained, args=(url, prefix, ids, f"bench-{n}", start, peaks))
            for n in range(case.writers)
        ]
        for process in writers:
            process.start()
        start.wait()
        started = time.monotonic()
        for process in writers:
            process.join()
            if process.exitcode != 0:
                raise SystemExit(f"a writer failed with exit code {process.exitcode}")
        case.write_seconds = time.monotonic() - started
        case.writer_rss_mb = max(peaks.get(timeout=10) for _ in writers)

        done = [store.get_stream(engine, i) for i in ids]
        received = sum(s.posts_received for s in done if s)
        case.matched = sum(s.posts_matched for s in done if s)
        case.unique = sum(s.posts_unique for s in done if s)
        problems = (
            [f"received {received:,} of {per_stream * case.streams:,}"]
            if received != per_stream * case.streams
            else []
        )
        problems += [
            f"stream {s.id}: matched {s.posts_matched} != "
            f"unique {s.posts_unique} + duplicate {s.posts_duplicate}"
            for s in done
            if s and s.posts_matched != s.posts_unique + s.posts_duplicate
        ]
        case.check = "; ".join(problems) or "exact"
    finally:
        buffer.close()
        engine.dispose()
        databases.drop(url)
        client = redis.Redis.from_url(REDIS_URL)
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        if keys:
            client.delete(*keys)
        client.close()
    return case


def render(cases: list[Case], before: dict[str, str], after: dict[str, str], repeat: int) -> str:
    rows = "\n".join(
        f"| {c.name} | {c.messages:,} | {c.matched:,} | {c.unique:,} | {c.messages / c.read_seconds:,.0f} "
        f"| {c.messages / c.write_seconds:,.0f} | **{c.matched / c.write_seconds:,.0f}** "
        f"| {c.writer_rss_mb:.0f} | {c.check} |"
        for c in cases
    )
    return f"""{BEGIN}
# Benchmarks: keyword streams

Generated by `python -m bench.stream_bench` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC. Each row
starts from a fresh database and Redis prefix; every case ran {repeat} times, interleaved, and the
best run is shown. The messages come from the sample source with the seed rule
`{SEED_RULE}`: about a quarter match, one matched message in ten repeats an earlier post.

| machine | |
|---|---|
| CPU | {before["cpu"]} |
| memory | {before["memory"]} |
| OS, Python | {before["os"]}, Python {before["python"]} |
| PostgreSQL | {before["postgresql"]} (same machine, shared); Redis on the same machine |
| load average (1, 5, 15 min) | before {before["load"]}; after {after["load"]} (shared machine) |

{HEADER}
{rows}

- The reader is one thread per stream; its rate is matching and appending to Redis, in one
  process for all the streams of a case.
- The writers store what the reader buffered: parse, the ingestion path (users, posts, hashtag
  links, rollups, country), the stream's dedupe and figures, then the acknowledgement. Tallies
  of the messages that matched nothing cost one row update per batch. "matched posts/s" is the
  figure to compare with the collection import in the previous section.
- "figures" checks every stream against what the reader read: received = messages, and
  matched = unique + duplicate.
{END}"""


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--out", type=Path, default=ROOT / "BENCHMARKS.md")
    args = parser.parse_args()
    before = machine()
    databases = Databases()
    best: dict[tuple[int, int], Case] = {}
    for _ in range(args.repeat):
        for streams, writers in ((1, 1), (1, 2), (4, 1), (4, 2)):
            case = run_case(Case(streams, writers, args.messages), databases)
            print(
                f"{case.name}: read {args.messages / case.read_seconds:,.0f}/s, "
                f"wrote {case.matched / case.write_seconds:,.0f} matched posts/s ({case.check})",
                file=sys.stderr,
            )
            key = (streams, writers)
            if key not in best or case.write_seconds < best[key].write_seconds:
                best[key] = case
    replace_section(args.out, BEGIN, END, render(list(best.values()), before, machine(), args.repeat))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
