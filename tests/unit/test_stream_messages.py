"""Stream messages (streams/messages.py): buffer entries round-trip, and recorded X messages and
Mastodon statuses become posts and match candidates."""

from __future__ import annotations

import json
from pathlib import Path

import orjson
import pytest

from tagpulse_collector.streams.messages import (
    MESSAGE,
    UNMATCHED_COUNT,
    BadMessage,
    BufferMessage,
    candidate_of,
    parse_message,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
RAW_STREAM = (FIXTURES / "x" / "stream" / "multiple_tweet_stream_example_part1.data").read_bytes()
TWARC_STREAM = (FIXTURES / "x" / "streaming_output_with_error.jsonl").read_bytes()


def test_buffer_entries_round_trip() -> None:
    for message in (
        BufferMessage(MESSAGE, b'{"data": {}}', (0, 2), 17),
        BufferMessage(MESSAGE, b"{", error="unreadable message: truncated"),
        BufferMessage(UNMATCHED_COUNT, position=99, count=12),
    ):
        assert BufferMessage.from_fields(message.fields()) == message
    with pytest.raises(BadMessage):
        BufferMessage.from_fields({b"k": b"?"})
    with pytest.raises(BadMessage):
        BufferMessage.from_fields({b"k": MESSAGE, b"r": b"one"})


def test_stream_messages_become_posts_with_their_place_and_author() -> None:
    line = TWARC_STREAM.splitlines()[0]
    parsed = parse_message("x", line)
    assert (parsed.post.id, parsed.post.place_country_code) == ("1377650090978992134", "MW")
    assert [a.location for a in parsed.authors] == ["Mzuzu, Malawi"]
    raw = RAW_STREAM.split(b"\r\n")[0]
    parsed = parse_message("x", raw)
    assert (parsed.post.language, parsed.authors[0].location) == ("fr", "Luxembourg")
    with pytest.raises(BadMessage, match="not JSON"):
        parse_message("x", TWARC_STREAM.splitlines()[-1])
    with pytest.raises(BadMessage, match="no tweet"):
        parse_message("x", b'{"errors": [{"title": "operational-disconnect"}]}')


def test_mastodon_statuses_become_candidates() -> None:
    bodies = json.loads((FIXTURES / "mastodon" / "timelines.json").read_text())
    status = next(s for r in bodies for s in r["body"] if s["tags"] and s["tags"][0]["name"] == "hoot")
    candidate = candidate_of("mastodon", status)
    assert candidate.hashtags == {"hoot"}
    assert candidate.text == "#hoot (hashtag toot)"
    assert (candidate.language, candidate.is_retweet, candidate.has_geo) == ("ja", False, False)
    assert parse_message("mastodon", orjson.dumps(status)).post.id == status["id"]
