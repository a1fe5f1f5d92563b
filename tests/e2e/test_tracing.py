"""Traces leave by OTLP when an endpoint is set, and log lines carry the same trace id."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path

import grpc
import pytest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

from tagpulse.v1 import query_service_pb2, query_service_pb2_grpc
from tests.support.polling import wait_until
from tests.support.processes import Process, free_port, wait_for_grpc_serving


class FakeCollector(trace_service_pb2_grpc.TraceServiceServicer):  # type: ignore[misc]
    def __init__(self) -> None:
        self.spans: list[tuple[str, str]] = []

    def Export(self, request, context):  # type: ignore[no-untyped-def]
        for resource_spans in request.resource_spans:
            for scope_spans in resource_spans.scope_spans:
                self.spans.extend((span.name, span.trace_id.hex()) for span in scope_spans.spans)
        return trace_service_pb2.ExportTraceServiceResponse()


@pytest.fixture
def otlp_collector() -> Iterator[tuple[str, FakeCollector]]:
    collector = FakeCollector()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(collector, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield f"http://127.0.0.1:{port}", collector
    server.stop(0)


def test_spans_are_exported_and_logs_share_the_trace_id(
    otlp_collector: tuple[str, FakeCollector], sqlite_url: str, tmp_path: Path
) -> None:
    endpoint, collector = otlp_collector
    port = free_port()
    query = Process(
        "query",
        [sys.executable, "-m", "tagpulse_query"],
        {
            "TAGPULSE_DATABASE_URL": sqlite_url,
            "TAGPULSE_GRPC_PORT": str(port),
            "TAGPULSE_METRICS_PORT": str(free_port()),
            "TAGPULSE_API_TOKEN": "trace-test-token",
            "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
            "OTEL_EXPORTER_OTLP_INSECURE": "true",
            "OTEL_BSP_SCHEDULE_DELAY": "100",
        },
        tmp_path / "query.log",
    ).start()
    try:
        wait_for_grpc_serving(query, f"127.0.0.1:{port}")
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = query_service_pb2_grpc.QueryServiceStub(channel)
            stub.ListTopUsers(query_service_pb2.ListTopUsersRequest(), timeout=5)
            stub.InvalidateAggregates(
                query_service_pb2.InvalidateAggregatesRequest(reason="tracing test"),
                metadata=[("authorization", "Bearer trace-test-token")],
                timeout=5,
            )
        wait_until(
            lambda: len(collector.spans) >= 2,
            message="two spans at the OTLP collector",
            timeout=10,
            interval=0.1,
        )
    finally:
        query.stop()
    traces = dict(collector.spans)
    assert set(traces) >= {
        "/tagpulse.v1.QueryService/ListTopUsers",
        "/tagpulse.v1.QueryService/InvalidateAggregates",
    }
    [logged] = [
        json.loads(line) for line in query.log().splitlines() if '"message": "cache invalidated"' in line
    ]
    assert logged["reason"] == "tracing test"
    assert logged["trace_id"] == traces["/tagpulse.v1.QueryService/InvalidateAggregates"]
