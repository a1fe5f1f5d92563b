"""The writer: exact total vs unique counts under redelivery, duplicates, concurrent writers,
posts shared between streams, and dead letters. On SQLite with the in-process buffer and on
PostgreSQL with Redis."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from sqlalchemy import Engine, func, select

from tagpulse.db.engine import create_database_engine
from tagpulse.db.models import Post, SourceCount, StreamEntry
from tagpulse_collector.streams import store
from tagpulse_collector.streams.buffer import MemoryBuffer, RedisBuffer, StreamBuffer
from tagpulse_collector.streams.messages import MESSAGE, UNMATCHED_COUNT, BufferMessage
from tagpulse_collector.streams.sample_feed import sample_message
from tagpulse_collector.streams.writer import StreamWriter
from tests.integration.stream_helpers import FAST_WRITER, counts, drained, new_stream, stream, write_until

START = datetime(2026, 11, 23, 12, tzinfo=UTC)


@pytest.fixture(
    params=[
        "sqlite+memory",
        pytest.param("postgresql+redis", marks=[pytest.mark.postgres, pytest.mark.redis]),
    ]
)
def setup(request: pytest.FixtureRequest) -> Iterator[tuple[Engine, StreamBuffer]]:
    if request.param == "sqlite+memory":
        engine = create_database_engine(request.getfixturevalue("sqlite_url"))
        buffer: StreamBuffer = MemoryBuffer()
    else:
        engine = create_database_engine(request.getfixturevalue("postgres_url"))
        buffer = RedisBuffer(
            request.getfixturevalue("redis_server_url"), request.getfixturevalue("redis_prefix")
        )
    yield engine, buffer
    buffer.close()
    engine.dispose()


def messages(stream_id: int, count: int, seed: int = 5) -> list[dict[str, Any]]:
    return [sample_message(seed, stream_id, k, START) for k in range(count)]


def expected(sent: list[dict[str, Any]], matched: list[int]) -> dict[str, Any]:
    """The figures, counted here from the messages themselves."""
    chosen = [sent[k] for k in matched]
    first: dict[str, dict[str, Any]] = {}
    for message in chosen:
        first.setdefault(message["data"]["id"], message)
    return {
        "received": len(sent),
        "matched": len(chosen),
        "unique": len(first),
        "duplicate": len(chosen) - len(first),
        "languages": Counter(m["data"]["lang"] for m in first.values()),
    }


def fill(buffer: StreamBuffer, stream_id: int, sent: list[dict[str, Any]], matched: list[int]) -> None:
    """Append like a local reader: matched messages, and tallies of the others."""
    items: list[tuple[int, BufferMessage]] = []
    skipped = 0
    for k, message in enumerate(sent):
        if k in matched:
            items.append((stream_id, BufferMessage(MESSAGE, orjson.dumps(message), (0,), k)))
        else:
            skipped += 1
        if k % 37 == 36 and skipped:
            items.append((stream_id, BufferMessage(UNMATCHED_COUNT, position=k, count=skipped)))
            skipped = 0
    if skipped:
        items.append((stream_id, BufferMessage(UNMATCHED_COUNT, position=len(sent) - 1, count=skipped)))
    buffer.ensure(stream_id)
    buffer.append(items)


def finish(engine: Engine, buffer: StreamBuffer, stream_id: int, *writers: StreamWriter) -> None:
    store.stop_stream(engine, stream_id)
    store.mark_reader_stopped(engine, [stream_id])
    write_until(
        writers[0] if writers else StreamWriter(engine, buffer, FAST_WRITER),
        drained(engine, [stream_id]),
        "drain",
    )


class Crash(Exception):
    pass


def test_a_writer_killed_between_commit_and_ack_does_not_count_twice(
    setup: tuple[Engine, StreamBuffer],
) -> None:
    engine, buffer = setup
    record = new_stream(engine, "sample", ("bieber", "b"))
    sent = messages(record.id, 400)
    matched = [k for k, m in enumerate(sent) if "bieber" in m["data"]["text"].lower()]
    fill(buffer, record.id, sent, matched)

    def crash() -> None:
        raise Crash

    dying = StreamWriter(engine, buffer, FAST_WRITER, consumer="dying", after_commit=crash)
    with pytest.raises(Crash):
        dying.step()  # the first batch is committed, not acknowledged
    committed = stream(engine, record.id)
    assert committed.posts_received > 0
    assert buffer.backlog(record.id).pending > 0

    survivor = StreamWriter(engine, buffer, FAST_WRITER, consumer="survivor")
    finish(engine, buffer, record.id, survivor)
    done = stream(engine, record.id)
    want = expected(sent, matched)
    assert (done.posts_received, done.posts_matched) == (want["received"], want["matched"])
    assert (done.posts_unique, done.posts_duplicate, done.posts_new) == (
        want["unique"],
        want["duplicate"],
        want["unique"],
    )
    assert done.posts_duplicate > 0  # the sample repeats itself
    assert counts(done, "rule") == {"b": want["unique"]}
    assert counts(done, "language") == want["languages"]
    assert sum(counts(done, "country").values()) == want["unique"]
    assert done.position == len(sent) - 1
    with engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(Post)).scalar() == want["unique"]
        # Written entries are forgotten once the stream is drained.
        assert connection.execute(select(func.count()).select_from(StreamEntry)).scalar() == 0
        fetched, stored = connection.execute(
            select(SourceCount.posts_fetched, SourceCount.posts_stored)
        ).one()
    assert (fetched, stored) == (want["matched"], want["unique"])
    assert buffer.backlog(record.id).total == 0


def test_a_copy_held_while_another_writer_settles_and_prunes_is_not_counted_again(
    setup: tuple[Engine, StreamBuffer],
) -> None:
    """A writer claims entries that a slow writer is still writing; the slow one commits and
    acknowledges, the buffer is trimmed and the written entries forgotten; then the claimer
    writes its copy. Likewise after the stream is drained."""
    engine, buffer = setup
    record = new_stream(engine, "sample", ("bieber", "b"))
    sent = messages(record.id, 120)
    matched = [k for k, m in enumerate(sent) if "bieber" in m["data"]["text"].lower()]
    fill(buffer, record.id, sent, matched)
    slow = StreamWriter(engine, buffer, FAST_WRITER, consumer="slow")
    claimer = StreamWriter(engine, buffer, FAST_WRITER, consumer="claimer")
    slow.refresh()
    claimer.refresh()
    batch = buffer.read_new([record.id], "slow", FAST_WRITER.batch_size, 0.1)[record.id]
    time.sleep(FAST_WRITER.claim_idle_seconds * 2)
    copy = buffer.claim_stale(record.id, "claimer", FAST_WRITER.claim_idle_seconds, FAST_WRITER.batch_size)
    assert [e.id for e in copy] == [e.id for e in batch]
    assert slow.process(slow.streams[record.id], batch) == len(batch)
    after_first = stream(engine, record.id)
    slow.settle()  # trims the buffer and forgets the settled entries (prune_seconds is 0)
    with engine.connect() as connection:
        # All forgotten but (on Redis) the last one delivered, which the floor keeps.
        assert connection.execute(select(func.count()).select_from(StreamEntry)).scalar() <= 1
    assert claimer.process(claimer.streams[record.id], copy, redelivered=True) == len(copy)
    assert stream(engine, record.id).posts_received == after_first.posts_received

    finish(engine, buffer, record.id, slow)
    done = stream(engine, record.id)
    assert claimer.process(claimer.streams[record.id], copy, redelivered=True) == len(copy)
    want = expected(sent, matched)
    again = stream(engine, record.id)
    assert (again.posts_received, again.posts_matched, again.posts_unique) == (
        done.posts_received,
        done.posts_matched,
        done.posts_unique,
    )
    assert (done.posts_received, done.posts_matched, done.posts_unique) == (
        want["received"],
        want["matched"],
        want["unique"],
    )


def test_giving_up_on_an_entry_another_writer_settled_counts_nothing_twice(
    setup: tuple[Engine, StreamBuffer],
) -> None:
    """A writer gives up on its copy of an entry (its attempts failed) after another writer
    stored it: it is no dead letter. Given up on twice: one dead letter."""
    engine, buffer = setup
    record = new_stream(engine, "x", "dog")
    buffer.ensure(record.id)
    buffer.append(
        [
            (record.id, BufferMessage(MESSAGE, orjson.dumps(sample_message(1, 1, 0, START)), (0,))),
            (record.id, BufferMessage(MESSAGE, b'{"data": {"id": "1"', (0,))),
        ]
    )
    stored_one = StreamWriter(engine, buffer, FAST_WRITER, consumer="stored-one")
    stored_one.refresh()
    good, bad = buffer.read_new([record.id], "stored-one", 10, 0.1)[record.id]
    assert stored_one.process(stored_one.streams[record.id], [good]) == 1
    giving_up = StreamWriter(engine, buffer, FAST_WRITER, consumer="giving-up")
    giving_up.refresh()
    stream_record = giving_up.streams[record.id]
    before = stream(engine, record.id)
    assert giving_up._dead_letter(stream_record, good, "timed out", 3) == 1
    assert giving_up._dead_letter(stream_record, bad, "not JSON", 3) == 1
    assert giving_up._dead_letter(stream_record, bad, "not JSON", 3) == 1
    after = stream(engine, record.id)
    assert (after.posts_received, after.posts_matched) == (before.posts_received + 1, before.posts_matched)
    assert after.messages_dead_lettered == 1
    assert [d.entry_id for d in after.dead_letters] == [bad.id]
    # The bad one only, moved again by the second give-up (the first one's writer could have
    # died before moving it); the stored one never.
    assert buffer.dead_letter_count(record.id) == 2
    assert buffer.backlog(record.id).total == 0


def test_two_streams_sharing_posts_each_count_them_unique_once(setup: tuple[Engine, StreamBuffer]) -> None:
    engine, buffer = setup
    first = new_stream(engine, "sample", "music")
    second = new_stream(engine, "sample", "music")
    sent = messages(first.id, 120)
    matched = list(range(0, 120, 2))
    fill(buffer, first.id, sent, matched)
    fill(buffer, second.id, sent, matched)
    writer = StreamWriter(engine, buffer, FAST_WRITER)
    for record in (first, second):
        store.stop_stream(engine, record.id)
        store.mark_reader_stopped(engine, [record.id])
    write_until(writer, drained(engine, [first.id, second.id]), "both streams to drain")
    want = expected(sent, matched)
    one, two = stream(engine, first.id), stream(engine, second.id)
    assert one.posts_unique == two.posts_unique == want["unique"]
    # Each post is new to the database once, whichever stream stored it first.
    assert one.posts_new + two.posts_new == want["unique"]


def test_concurrent_writers_count_exactly(
    postgres_url: str, redis_server_url: str, redis_prefix: str
) -> None:
    engine = create_database_engine(postgres_url)
    buffer = RedisBuffer(redis_server_url, redis_prefix)
    try:
        record = new_stream(engine, "sample", "bieber", "music")
        sent = messages(record.id, 1500, seed=9)
        matched = [
            k for k, m in enumerate(sent) if {"bieber", "music"} & set(m["data"]["text"].lower().split())
        ]
        fill(buffer, record.id, sent, matched)
        store.stop_stream(engine, record.id)
        store.mark_reader_stopped(engine, [record.id])
        writers = [StreamWriter(engine, buffer, FAST_WRITER, consumer=f"w{i}") for i in range(3)]
        stop = threading.Event()
        threads = [threading.Thread(target=w.run, args=(stop,)) for w in writers]
        for thread in threads:
            thread.start()
        try:
            write_until(
                StreamWriter(engine, buffer, FAST_WRITER, consumer="w3"),
                drained(engine, [record.id]),
                "drain",
            )
        finally:
            stop.set()
            for thread in threads:
                thread.join(10)
        done = stream(engine, record.id)
        want = expected(sent, matched)
        assert (done.posts_received, done.posts_matched, done.posts_unique, done.posts_duplicate) == (
            want["received"],
            want["matched"],
            want["unique"],
            want["duplicate"],
        )
        assert sum(counts(done, "language").values()) == want["unique"]
    finally:
        buffer.close()
        engine.dispose()


def test_a_bad_message_is_dead_lettered_after_its_attempts_and_the_rest_is_written(
    setup: tuple[Engine, StreamBuffer],
) -> None:
    engine, buffer = setup
    record = new_stream(engine, "x", "dog")
    good = orjson.dumps(sample_message(1, 1, 0, START))
    no_author = orjson.loads(good)
    del no_author["data"]["author_id"]
    buffer.ensure(record.id)
    buffer.append(
        [
            (record.id, BufferMessage(MESSAGE, good, (0,))),
            (record.id, BufferMessage(MESSAGE, orjson.dumps(no_author), (0,))),
            (record.id, BufferMessage(MESSAGE, b'{"data": {"id": "1"', (0,))),
        ]
    )
    finish(engine, buffer, record.id)
    done = stream(engine, record.id)
    assert (done.posts_received, done.posts_matched, done.posts_unique, done.messages_dead_lettered) == (
        3,
        1,
        1,
        2,
    )
    reasons = sorted(d.error for d in done.dead_letters)
    assert reasons[0].startswith("not JSON")
    assert "without id or author_id" in reasons[1]
    assert all(d.attempts == FAST_WRITER.max_attempts for d in done.dead_letters)
    assert buffer.dead_letter_count(record.id) == 2
