"""The `trigger` command against a real gRPC server that is not ready at first: the CronJob's
run starts late instead of being skipped when it meets a collector being replaced."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent import futures

import grpc
import pytest

from tagpulse.v1 import collector_service_pb2, collector_service_pb2_grpc, resources_pb2
from tagpulse_collector.settings import CollectorSettings
from tagpulse_collector.trigger import trigger

State = resources_pb2.CollectionRun.State


class StartingCollector(collector_service_pb2_grpc.CollectorServiceServicer):
    """Answers StartCollection with `refusals` (in order) before it starts a run that has ended."""

    def __init__(self, refusals: list[grpc.StatusCode]) -> None:
        self.refusals = list(refusals)
        self.starts = 0
        self.lock = threading.Lock()

    def StartCollection(
        self, request: collector_service_pb2.StartCollectionRequest, context: grpc.ServicerContext
    ) -> resources_pb2.CollectionRun:
        with self.lock:
            self.starts += 1
            if self.refusals:
                context.abort(self.refusals.pop(0), "not now")
        return resources_pb2.CollectionRun(id="7", state=State.RUNNING)

    def GetCollection(
        self, request: collector_service_pb2.GetCollectionRequest, context: grpc.ServicerContext
    ) -> resources_pb2.CollectionRun:
        return resources_pb2.CollectionRun(id=request.id, state=State.SUCCEEDED)


@pytest.fixture
def serve() -> Iterator[Callable[[StartingCollector], CollectorSettings]]:
    servers: list[grpc.Server] = []

    def start(servicer: StartingCollector) -> CollectorSettings:
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
        collector_service_pb2_grpc.add_CollectorServiceServicer_to_server(servicer, server)
        port = server.add_insecure_port("127.0.0.1:0")
        server.start()
        servers.append(server)
        return CollectorSettings(collector_address=f"127.0.0.1:{port}")

    yield start
    for server in servers:
        server.stop(None)


def run_trigger(settings: CollectorSettings) -> int:
    return trigger(
        settings,
        ["devops"],
        10,
        "",
        timeout_seconds=10,
        wait_ready_seconds=0,
        poll_seconds=0.05,
        start_retry_seconds=10,
    )


def test_a_collector_answering_unavailable_is_asked_again_until_it_starts_the_run(
    serve: Callable[[StartingCollector], CollectorSettings],
) -> None:
    collector = StartingCollector([grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.UNAVAILABLE])
    assert run_trigger(serve(collector)) == 0
    assert collector.starts == 3


@pytest.mark.parametrize("code", [grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.INVALID_ARGUMENT])
def test_other_refusals_are_not_retried_since_the_run_may_have_started(
    serve: Callable[[StartingCollector], CollectorSettings], code: grpc.StatusCode
) -> None:
    collector = StartingCollector([code])
    assert run_trigger(serve(collector)) == 1
    assert collector.starts == 1
