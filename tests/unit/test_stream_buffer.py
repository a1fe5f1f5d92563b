"""Buffer entry ids (streams/buffer.py). The buffers themselves are tested on Redis and in the
process in tests/integration/test_stream_buffer.py."""

from __future__ import annotations

from tagpulse_collector.streams.buffer import Entry, entry_key


def test_entry_ids_sort_as_numbers() -> None:
    assert entry_key("1700000000000-10") > entry_key("1700000000000-9")
    assert isinstance(Entry("1-0", {}), Entry)
