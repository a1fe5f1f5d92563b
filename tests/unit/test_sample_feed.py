"""The sample source's stream feed (streams/sample_feed.py): deterministic X-shaped messages."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson

from tagpulse_collector.streams.messages import candidate_of, parse_message
from tagpulse_collector.streams.sample_feed import TEMPLATES, original_of, sample_message


def test_sample_messages_are_deterministic_x_messages_of_the_sample_source() -> None:
    start = datetime(2026, 11, 23, tzinfo=UTC)
    first = [sample_message(7, 3, k, start) for k in range(300)]
    assert first == [sample_message(7, 3, k, start) for k in range(300)]
    assert first != [sample_message(8, 3, k, start) for k in range(300)]
    texts = {m["data"]["text"] for m in first}
    assert texts <= {t.text for t in TEMPLATES}
    repeats = [k for k in range(300) if original_of(7, 3, k) != k]
    assert 10 <= len(repeats) <= 60
    assert all(first[k] == first[original_of(7, 3, k)] for k in repeats)
    assert any("places" in m["includes"] for m in first)
    parsed = parse_message("sample", orjson.dumps(first[0]))
    assert parsed.post.source == parsed.authors[0].source == "sample"
    retweets = [m for m in first if "referenced_tweets" in m["data"]]
    assert retweets
    assert candidate_of("sample", retweets[0]).is_retweet
    assert "bieberfan" in candidate_of("sample", retweets[0]).mentions
