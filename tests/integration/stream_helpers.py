"""Shared by the stream tests: buffers, streams in a database, a writer driven step by step."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from sqlalchemy import Engine

from tagpulse_collector.streams import store
from tagpulse_collector.streams.buffer import StreamBuffer
from tagpulse_collector.streams.store import Rule, StreamPlan, StreamRecord
from tagpulse_collector.streams.writer import StreamWriter, WriterPolicy
from tests.support.polling import wait_until

# Claims and retries in milliseconds: a failed entry is tried again almost at once.
FAST_WRITER = WriterPolicy(
    batch_size=50,
    block_seconds=0.02,
    claim_idle_seconds=0.05,
    max_attempts=3,
    refresh_seconds=0.02,
    prune_seconds=0.0,
    outage_pause_seconds=0.05,
)


def new_stream(engine: Engine, source: str, *rules: str | tuple[str, str]) -> StreamRecord:
    parsed = tuple(Rule(r) if isinstance(r, str) else Rule(*r) for r in rules)
    record = store.get_stream(engine, store.create_stream(engine, StreamPlan(source, parsed)))
    assert record is not None
    return record


def stream(engine: Engine, stream_id: int) -> StreamRecord:
    record = store.get_stream(engine, stream_id)
    assert record is not None
    return record


def write_until(writer: StreamWriter, condition: Callable[[], bool], what: str, timeout: float = 30) -> None:
    """Step the writer until `condition` holds: the writer's own step is the wait."""

    def stepped() -> bool:
        if condition():
            return True
        writer.step()
        return False

    wait_until(stepped, message=what, timeout=timeout, interval=0)


def drained(engine: Engine, stream_ids: Sequence[int]) -> Callable[[], bool]:
    return lambda: all(stream(engine, i).drained_at is not None for i in stream_ids)


def buffer_empty(buffer: StreamBuffer, stream_id: int) -> Callable[[], bool]:
    return lambda: buffer.backlog(stream_id).total == 0


def counts(record: StreamRecord, dimension: str) -> dict[str, int]:
    return dict(record.counts.get(dimension, []))
