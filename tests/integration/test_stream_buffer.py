"""The buffer's contract, the same for Redis Streams and the in-process buffer."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tagpulse_collector.streams.buffer import MemoryBuffer, RedisBuffer, StreamBuffer, entry_key
from tagpulse_collector.streams.messages import MESSAGE, UNMATCHED_COUNT, BufferMessage


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def buffer(request: pytest.FixtureRequest) -> Iterator[StreamBuffer]:
    if request.param == "memory":
        yield MemoryBuffer()
        return
    redis_buffer = RedisBuffer(
        request.getfixturevalue("redis_server_url"), request.getfixturevalue("redis_prefix")
    )
    yield redis_buffer
    redis_buffer.close()


def message(position: int) -> BufferMessage:
    return BufferMessage(MESSAGE, b'{"n": %d}' % position, (0,), position)


def test_entries_go_to_one_writer_and_come_back_when_it_dies(buffer: StreamBuffer) -> None:
    buffer.ensure(1)
    buffer.append([(1, message(1)), (1, message(2)), (2, message(3))])
    assert buffer.backlog(1).waiting == 2
    first = buffer.read_new([1, 2], "a", 10, 0.05)
    assert {s: [BufferMessage.from_fields(e.fields).position for e in es] for s, es in first.items()} == {
        1: [1, 2],
        2: [3],
    }
    assert buffer.read_new([1, 2], "b", 10, 0.05) == {}  # delivered once
    assert (buffer.backlog(1).waiting, buffer.backlog(1).pending) == (0, 2)
    buffer.ack(1, [first[1][0].id])
    # "a" died holding the second entry: after the idle time, "b" gets it.
    assert buffer.claim_stale(1, "b", 60, 10) == []
    time.sleep(0.06)
    claimed = buffer.claim_stale(1, "b", 0.05, 10)
    assert [e.id for e in claimed] == [first[1][1].id]
    buffer.ack(1, [claimed[0].id])
    assert buffer.backlog(1).total == 0


def test_failures_are_counted_and_dead_letters_leave_the_buffer(buffer: StreamBuffer) -> None:
    buffer.ensure(7)
    buffer.append([(7, message(1))])
    entry = buffer.read_new([7], "a", 10, 0.05)[7][0]
    assert buffer.record_failure(7, entry.id, "first") == 1
    assert buffer.record_failure(7, entry.id, "second") == 2
    assert buffer.failures(7, [entry.id, "0-1"]) == {entry.id: (2, "second")}
    buffer.dead_letter(7, entry, "second", 2)
    assert buffer.backlog(7).total == 0
    assert buffer.dead_letter_count(7) == 1
    assert buffer.failures(7, [entry.id]) == {}


def test_trimming_keeps_what_is_unwritten_and_the_newest_position(buffer: StreamBuffer) -> None:
    buffer.ensure(3)
    buffer.append(
        [(3, message(p)) for p in range(1, 6)] + [(3, BufferMessage(UNMATCHED_COUNT, position=9, count=3))]
    )
    entries = buffer.read_new([3], "a", 3, 0.05)[3]
    buffer.ack(3, [e.id for e in entries[:2]])  # the third stays pending
    floor = buffer.trim(3)
    assert floor == entry_key(entries[2].id)
    rest = buffer.read_new([3], "a", 10, 0.05)[3]
    assert [BufferMessage.from_fields(e.fields).position for e in rest] == [4, 5, 9]
    buffer.ack(3, [entries[2].id, *(e.id for e in rest)])
    buffer.trim(3)
    assert buffer.last_position(3) == 9  # the newest entry stays: it is the resume point
    buffer.delete(3)
    assert buffer.last_position(3) is None
    assert buffer.backlog(3).total == 0


def test_trimming_forgets_idle_consumers_but_never_one_with_pending_entries(
    redis_server_url: str, redis_prefix: str
) -> None:
    buffer = RedisBuffer(redis_server_url, redis_prefix, idle_consumer_seconds=0.05)
    try:
        buffer.ensure(4)
        buffer.append([(4, message(p)) for p in range(1, 4)])
        done = buffer.read_new([4], "restarted-long-ago", 2, 0.05)[4]
        buffer.ack(4, [e.id for e in done])
        holding = buffer.read_new([4], "died-holding-one", 1, 0.05)[4]
        time.sleep(0.06)
        buffer.trim(4)
        names = {c["name"].decode() for c in buffer.client.xinfo_consumers(buffer.key(4), "writers")}
        assert names == {"died-holding-one"}
        assert [e.id for e in buffer.claim_stale(4, "survivor", 0.05, 10)] == [holding[0].id]
    finally:
        buffer.close()


def test_a_buffer_another_writer_deleted_reads_as_empty(redis_server_url: str, redis_prefix: str) -> None:
    # Writer "a" knows the group exists; writer "b" drains the stream and deletes its buffer.
    a = RedisBuffer(redis_server_url, redis_prefix)
    b = RedisBuffer(redis_server_url, redis_prefix)
    try:
        a.ensure(6)
        a.append([(6, message(1))])
        b.ack(6, [e.id for e in b.read_new([6], "b", 10, 0.05)[6]])
        b.delete(6)
        assert a.claim_stale(6, "a", 0, 10) == []
        assert a.trim(6) is None
        assert a.backlog(6).total == 0
        a.ack(6, ["1-0"])
        assert a.read_new([6], "a", 10, 0.05) == {}
    finally:
        a.close()
        b.close()
