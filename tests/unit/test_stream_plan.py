"""What CreateStream accepts: planning a stream from its rules and source (streams/store.py
plan_stream), every problem reported at once."""

from __future__ import annotations

import pytest

from tagpulse.errors import InvalidArgument
from tagpulse_collector.catalog import SourceCatalog
from tagpulse_collector.sources.x_api import XAccess
from tagpulse_collector.streams.store import Rule, plan_stream


def violations(
    rules: list[tuple[str, str]], source: str = "sample", catalog: SourceCatalog | None = None
) -> dict[str, str]:
    with pytest.raises(InvalidArgument) as raised:
        plan_stream(rules, source, catalog or SourceCatalog())
    return raised.value.violations


def test_a_good_request_is_planned() -> None:
    plan = plan_stream([(' "justin bieber" music ', "bieber"), ("#music", "")], "", SourceCatalog())
    assert plan.source == "sample"
    assert plan.rules == (Rule('"justin bieber" music', "bieber"), Rule("#music", ""))
    assert plan.rules[1].key == "#music"  # counted under the rule when it has no tag


def test_every_problem_is_reported_at_once() -> None:
    found = violations([('"open', ""), ("music", "x" * 101), ("music", ""), ("cat from:x", "")], "nowhere")
    assert set(found) == {"source", "rules[0].value", "rules[1].tag", "rules[2].value", "rules[3].value"}
    assert "never closed" in found["rules[0].value"]
    assert found["rules[2].value"] == "the same rule twice"
    assert violations([]) == {"rules": "give at least one rule"}
    assert "at most 25" in violations([(f"word{i}", "") for i in range(26)])["rules"]


def test_x_rules_may_use_every_x_operator_but_need_x() -> None:
    with_x = SourceCatalog(x=XAccess("AAAA-token"))
    assert plan_stream([("cat from:bieber has:images", "")], "x", with_x).source == "x"
    assert "from:" in violations([("cat from:bieber", "")], "sample", with_x)["rules[0].value"]
    assert "TAGPULSE_X_BEARER_TOKEN" in violations([("cat", "")], "x")["source"]
    assert "TAGPULSE_MASTODON_BASE_URL" in violations([("cat", "")], "mastodon")["source"]
