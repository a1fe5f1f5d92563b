"""The plain pieces of the stream readers: line splitting on the recorded raw stream bytes, rule
reconciliation on the recorded rules responses, X's reconnect schedule, buffer entries, parsing."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tagpulse_collector.streams.backoff import (
    ENDED,
    HTTP_ERROR,
    NETWORK,
    OPERATIONAL_DISCONNECT,
    RATE_LIMITED,
    STALL,
    Backoff,
    ReconnectPolicy,
)
from tagpulse_collector.streams.messages import (
    MESSAGE,
    UNMATCHED_COUNT,
    BadMessage,
    BufferMessage,
    candidate_of,
    parse_message,
)
from tagpulse_collector.streams.sample_feed import TEMPLATES, original_of, sample_message
from tagpulse_collector.streams.x_stream import (
    LineSplitter,
    XRule,
    is_operational_disconnect,
    matched_rule_ids,
    plan_rule_changes,
    refused_rules,
    rules_of,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
RAW_STREAM = (FIXTURES / "x" / "stream" / "multiple_tweet_stream_example_part1.data").read_bytes()
TWARC_STREAM = (FIXTURES / "x" / "streaming_output_with_error.jsonl").read_bytes()


def recorded(name: str) -> dict[str, object]:
    return dict(json.loads((FIXTURES / "x" / "stream" / name).read_text()))


# --- lines ------------------------------------------------------------------------------------


def test_the_raw_stream_has_three_messages_and_a_keep_alive() -> None:
    lines = LineSplitter().feed(RAW_STREAM)
    assert [bool(line) for line in lines] == [True, False, True, True]
    ids = [json.loads(line)["data"]["id"] for line in lines if line]
    assert ids == ["1359610003892670465", "1359610108666388490", "1359610122113343489"]


@given(st.lists(st.integers(min_value=0, max_value=len(RAW_STREAM)), max_size=40))
def test_any_chunking_gives_the_same_lines(cuts: list[int]) -> None:
    splitter, lines = LineSplitter(), []
    bounds = [0, *sorted(cuts), len(RAW_STREAM)]
    for start, end in itertools.pairwise(bounds):
        lines.extend(splitter.feed(RAW_STREAM[start:end]))
    assert lines == LineSplitter().feed(RAW_STREAM)
    assert splitter.rest == b""


def test_a_line_cut_by_a_dropped_connection_never_comes_out() -> None:
    first, second = RAW_STREAM.split(b"\r\n")[0], RAW_STREAM.split(b"\r\n")[2]
    splitter = LineSplitter()
    assert splitter.feed(first + b"\r\n" + second[:100]) == [first]
    assert splitter.rest == second[:100]


def test_twarc_stream_output_splits_into_seven_messages_and_a_truncated_line() -> None:
    splitter = LineSplitter()
    lines = [line for line in splitter.feed(TWARC_STREAM) if line]
    # The file has no newline after the truncated line: it is not a line yet.
    assert len(lines) == 7
    assert splitter.rest.startswith(b'{"data": {"author_id": "1021159080151404544"')
    lines.extend(splitter.feed(b"\r\n"))
    readable = [orjson.loads(line) for line in lines[:7]]
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(lines[7])
    # numeric rule ids in 2021; the spec says strings: both are read
    assert matched_rule_ids(readable[0]) == ["1377649934414049282"]
    assert matched_rule_ids({"matching_rules": [{"id": "42", "tag": "x"}, {"id": True}]}) == ["42"]


# --- rules ------------------------------------------------------------------------------------


def test_rules_responses_are_read() -> None:
    assert rules_of(recorded("get_rules.json")) == [
        XRule("1165037377523306497", "dog has:images", "dog pictures"),
        XRule("1165037377523306498", "cat has:images -grumpy", ""),
    ]
    assert [r.tag for r in rules_of(recorded("stream_rules_example.json"))] == ["1", "2"]
    assert len(rules_of(recorded("post_rules.json"))) == 4
    assert rules_of(recorded("delete_rules.json")) == []
    assert rules_of(recorded("delete_error.json")) == []


def test_reconciliation_adds_the_missing_and_deletes_only_our_stale_rules() -> None:
    current = [
        *rules_of(recorded("get_rules.json")),  # another app's rules: left alone
        XRule("1", '"justin bieber" music', "tagpulse:"),
        XRule("2", "old rule", "tagpulse:"),
        XRule("3", "old rule of another deployment", "other:"),
    ]
    changes = plan_rule_changes(current, ['"justin bieber" music', "new rule", "dog has:images"], "tagpulse:")
    # "dog has:images" exists (another app's): X refuses a duplicate, so it is reused, not added.
    assert changes.add == ["new rule"]
    assert changes.delete == ["2"]
    assert plan_rule_changes(current, [], "tagpulse:").delete == ["1", "2"]


def test_refused_rules_carry_xs_reason() -> None:
    # The shape X documents for a rule it cannot accept (POST …/rules, 200 with `errors`).
    answer = {
        "meta": {
            "sent": "2021-02-10T20:00:00.000Z",
            "summary": {"created": 0, "not_created": 1, "invalid": 1},
        },
        "errors": [
            {
                "value": "cat has:nothing",
                "id": "1",
                "title": "UnprocessableEntity",
                "details": ["Reference to invalid operator 'has:nothing'"],
                "type": "https://api.twitter.com/2/problems/invalid-rules",
            }
        ],
    }
    assert refused_rules(answer) == {
        "cat has:nothing": "UnprocessableEntity: Reference to invalid operator 'has:nothing'"
    }
    assert refused_rules(recorded("post_rules.json")) == {}


def test_operational_disconnects_are_recognised() -> None:
    # The in-stream error X documents for an operational disconnect.
    message = {
        "errors": [
            {
                "title": "operational-disconnect",
                "disconnect_type": "UpstreamOperationalDisconnect",
                "detail": "This stream has been disconnected upstream for operational reasons.",
                "type": "https://api.twitter.com/2/problems/operational-disconnect",
            }
        ]
    }
    assert is_operational_disconnect(message)
    assert not is_operational_disconnect(recorded("delete_error.json"))


# --- reconnect schedule -----------------------------------------------------------------------


def test_reconnect_waits_follow_xs_guidance() -> None:
    backoff = Backoff()
    assert [backoff.wait_for(NETWORK) for _ in range(3)] == [0.25, 0.5, 0.75]
    assert backoff.wait_for(STALL) == 1.0  # a stall is a network error
    assert max(backoff.wait_for(ENDED) for _ in range(100)) == 16.0
    backoff.reset()
    assert [backoff.wait_for(HTTP_ERROR) for _ in range(8)] == [5, 10, 20, 40, 80, 160, 320, 320]
    assert [backoff.wait_for(RATE_LIMITED) for _ in range(6)] == [60, 120, 240, 480, 960, 960]
    assert backoff.wait_for(OPERATIONAL_DISCONNECT) == 0
    backoff.reset()
    assert backoff.wait_for(HTTP_ERROR) == 5
    assert Backoff(ReconnectPolicy(scale=0.001)).wait_for(RATE_LIMITED) == pytest.approx(0.06)


# --- buffer entries and messages -------------------------------------------------------------


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


def test_mastodon_statuses_become_candidates() -> None:
    bodies = json.loads((FIXTURES / "mastodon" / "timelines.json").read_text())
    status = next(s for r in bodies for s in r["body"] if s["tags"] and s["tags"][0]["name"] == "hoot")
    candidate = candidate_of("mastodon", status)
    assert candidate.hashtags == {"hoot"}
    assert candidate.text == "#hoot (hashtag toot)"
    assert (candidate.language, candidate.is_retweet, candidate.has_geo) == ("ja", False, False)
    assert parse_message("mastodon", orjson.dumps(status)).post.id == status["id"]
