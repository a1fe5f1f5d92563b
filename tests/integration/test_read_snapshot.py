"""read_snapshot: every read of one answer sees the same committed state, on both databases."""

from __future__ import annotations

from sqlalchemy import Engine, select, update

from tagpulse.db.engine import read_snapshot
from tagpulse.db.models import Stream
from tests.integration.stream_helpers import new_stream


def test_a_commit_during_a_snapshot_is_not_seen_by_its_later_reads(engine: Engine) -> None:
    record = new_stream(engine, "sample", "music")
    streams = Stream.table()
    received = select(streams.c.posts_received).where(streams.c.id == record.id)
    with read_snapshot(engine) as snapshot:
        assert snapshot.execute(received).scalar_one() == 0
        with engine.begin() as writer:
            writer.execute(update(streams).where(streams.c.id == record.id).values(posts_received=7))
        assert snapshot.execute(received).scalar_one() == 0
    with engine.connect() as connection:
        assert connection.execute(received).scalar_one() == 7
