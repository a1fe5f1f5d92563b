"""Both services, started on SQLite, expose at once and at zero every series whose label values
are known in advance: the alerts' `increase()` and `rate()` need a sample before the first
increment, or the first failed run (dead letter, server error) after a restart goes unseen."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import grpc
import httpx
import pytest
from google.protobuf.descriptor import ServiceDescriptor
from prometheus_client.parser import text_string_to_metric_families

from tagpulse.migrate import upgrade
from tagpulse.v1 import collector_service_pb2, query_service_pb2
from tagpulse_collector.catalog import KNOWN_SOURCES
from tagpulse_collector.metrics import run_outcome
from tagpulse_collector.runs.store import FINISHED_RUN_STATES
from tests.support.processes import ROOT, Process, free_port, wait_for_http

ALERT_RULES = ROOT / "charts" / "tagpulse" / "templates" / "prometheusrule.yaml"

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def _samples_at_start(module: list[str], tmp_path: Path, database_url: str) -> Samples:
    metrics_port = free_port()
    process = Process(
        module[0],
        [sys.executable, "-m", *module],
        {
            "TAGPULSE_DATABASE_URL": database_url,
            "TAGPULSE_GRPC_PORT": str(free_port()),
            "TAGPULSE_METRICS_PORT": str(metrics_port),
            "TAGPULSE_API_TOKEN": "series-at-start",
            # Nowhere to deliver the collector's cache invalidation: no RPC reaches a service.
            "TAGPULSE_QUERY_ADDRESS": f"127.0.0.1:{free_port()}",
            "TAGPULSE_SHUTDOWN_DRAIN_SECONDS": "0",
        },
        tmp_path / f"{module[0]}.log",
    ).start()
    try:
        url = f"http://127.0.0.1:{metrics_port}/metrics"
        wait_for_http(process, url)
        text = httpx.get(url).text
    finally:
        process.stop()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


@pytest.fixture(scope="module")
def started(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Samples]:
    tmp_path = tmp_path_factory.mktemp("series-at-start")
    database_url = f"sqlite:///{tmp_path / 'tagpulse.db'}"
    upgrade(database_url)
    return {
        "query": _samples_at_start(["tagpulse_query"], tmp_path, database_url),
        "collector": _samples_at_start(["tagpulse_collector", "serve"], tmp_path, database_url),
    }


def _value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


@pytest.mark.parametrize(
    ("process", "service"),
    [
        ("query", query_service_pb2.DESCRIPTOR.services_by_name["QueryService"]),
        ("collector", collector_service_pb2.DESCRIPTOR.services_by_name["CollectorService"]),
    ],
)
def test_every_method_has_its_grpc_series_at_zero(
    started: dict[str, Samples], process: str, service: ServiceDescriptor
) -> None:
    samples = started[process]
    missing = [
        f"{method.name} {code.name}"
        for method in service.methods
        for code in grpc.StatusCode
        if _value(
            samples,
            "grpc_server_handled_total",
            grpc_type="unary",
            grpc_service=service.full_name,
            grpc_method=method.name,
            grpc_code=code.name,
        )
        != 0
    ]
    assert not missing, f"grpc_server_handled_total not at zero at start: {missing}"
    for method in service.methods:
        labels = {"grpc_type": "unary", "grpc_service": service.full_name, "grpc_method": method.name}
        assert _value(samples, "grpc_server_handling_seconds_count", **labels) == 0, method.name
        assert _value(samples, "grpc_server_started_total", **labels) == 0, method.name


def test_the_collectors_alert_series_start_at_zero(started: dict[str, Samples]) -> None:
    samples = started["collector"]
    for source in KNOWN_SOURCES:
        for state in FINISHED_RUN_STATES:
            outcome = run_outcome(state)
            assert _value(samples, "tagpulse_collection_runs_total", source=source, outcome=outcome) == 0, (
                source,
                outcome,
            )
        assert _value(samples, "tagpulse_stream_messages_dead_lettered_total", source=source) == 0, source
        assert _value(samples, "tagpulse_stream_messages_written_total", source=source) == 0, source


def test_the_rate_limit_gauge_is_not_invented_at_zero(started: dict[str, Samples]) -> None:
    """Zero requests left would fire TagpulseSourceRateLimitExhausted: the gauge waits for a platform."""
    assert not [key for key in started["collector"] if key[0] == "tagpulse_source_rate_limit_remaining"]


def _counters_the_alerts_increase() -> set[str]:
    """tagpulse's counters that an alert reads through increase() or rate(), read from the chart's
    template: a new alert on a new counter is held to the same rule without anyone listing it."""
    return set(re.findall(r"\b(?:increase|rate)\((tagpulse_\w+_total)\{", ALERT_RULES.read_text()))


def test_every_counter_an_alert_increases_starts_at_zero_for_every_source(
    started: dict[str, Samples],
) -> None:
    counters = _counters_the_alerts_increase()
    assert "tagpulse_collection_runs_total" in counters, f"{ALERT_RULES.name}: the pattern finds no counter"
    samples = started["query"] | started["collector"]
    for counter in sorted(counters):
        series = {labels: value for (name, labels), value in samples.items() if name == counter}
        assert series, f"{counter}: no series at start, so its first increment is no increase"
        assert set(series.values()) == {0}, counter
        sources = {value for labels in series for key, value in labels if key == "source"}
        if sources:
            assert sources == set(KNOWN_SOURCES), (counter, sources)
