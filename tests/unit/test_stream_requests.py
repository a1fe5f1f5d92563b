"""What CreateStream accepts, where a collector buffers streams, and the answer without Redis."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from sqlalchemy import create_engine

from tagpulse.errors import FailedPrecondition, InvalidArgument
from tagpulse.v1 import collector_service_pb2 as pb
from tagpulse.v1 import resources_pb2
from tagpulse_collector.catalog import SourceCatalog, catalog_from_settings
from tagpulse_collector.query_client import QueryClient
from tagpulse_collector.runs.executor import RunExecutor
from tagpulse_collector.server import stream_buffer, streams_config
from tagpulse_collector.servicer import CollectorServicer
from tagpulse_collector.settings import CollectorSettings
from tagpulse_collector.sources.x_api import XAccess
from tagpulse_collector.streams.buffer import MemoryBuffer, RedisBuffer
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


def test_streams_are_buffered_in_redis_or_in_the_process_on_sqlite_only() -> None:
    buffer, why = stream_buffer(CollectorSettings(), create_engine("sqlite://"))
    assert isinstance(buffer, MemoryBuffer)
    assert why == ""
    postgres = create_engine("postgresql+psycopg://nobody@127.0.0.1:1/none")
    buffer, why = stream_buffer(CollectorSettings(), postgres)
    assert buffer is None
    assert "TAGPULSE_REDIS_URL" in why
    with_redis = CollectorSettings(redis_url="redis://127.0.0.1:1/0")  # type: ignore[arg-type]
    buffer, why = stream_buffer(with_redis, postgres)
    assert isinstance(buffer, RedisBuffer)
    buffer.close()


def test_create_stream_without_a_buffer_fails_the_precondition() -> None:
    engine, catalog = create_engine("sqlite://"), SourceCatalog()
    servicer = CollectorServicer(
        engine=engine,
        catalog=catalog,
        executor=RunExecutor(engine, catalog, [], QueryClient("127.0.0.1:1", None)),
        stream_buffer=None,
        streams_unavailable="keyword streams need Redis: set TAGPULSE_REDIS_URL",
    )
    request = pb.CreateStreamRequest(rules=[resources_pb2.StreamRule(value="music")], source="sample")
    with pytest.raises(FailedPrecondition, match="TAGPULSE_REDIS_URL"):
        asyncio.run(servicer.CreateStream(request, None))
    bad = pb.CreateStreamRequest(rules=[resources_pb2.StreamRule(value="-music")])
    with pytest.raises(InvalidArgument):  # a bad request is a bad request first
        asyncio.run(servicer.CreateStream(bad, None))


def test_settings_reach_the_stream_config() -> None:
    settings = CollectorSettings(
        x_bearer_token="AAAA-token",  # type: ignore[arg-type]
        redis_key_prefix="prod:",
        stream_backoff_scale=0.5,
        stream_keepalive_seconds=7,
        stream_max_attempts=5,
    )
    config, x = streams_config(settings), catalog_from_settings(settings).x_stream()
    assert x is not None
    assert (x.marker, x.keepalive_seconds, x.reconnect.scale) == ("prod:", 7, 0.5)
    assert config.writer.max_attempts == 5
    assert catalog_from_settings(settings).local_feed(1, "mastodon", datetime.now(UTC), print) is None
