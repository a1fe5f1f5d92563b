"""The X filtered stream's plain pieces (streams/x_stream.py): line splitting over any chunking of
the recorded raw stream bytes, matched rule ids, rules reconciliation over the recorded rules
responses, refused rules and operational disconnects."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

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
