"""Cache invalidations are delivered until the query service has them, and the requests that
pile up while it is down are folded into one call (query_client.Invalidations); a command's
one invalidation waits a bounded time for a query service that is not there yet."""

from __future__ import annotations

import asyncio
import socket
import threading
from concurrent import futures

import grpc

from tagpulse.v1 import query_service_pb2, query_service_pb2_grpc
from tagpulse_collector.metrics import CACHE_INVALIDATIONS_PENDING
from tagpulse_collector.query_client import Invalidations, QueryClient, invalidate_once


class QueryServiceDownFor(QueryClient):
    """Refuses the first `failures` calls, like a query service that is down, then accepts."""

    def __init__(self, failures: int) -> None:
        super().__init__("127.0.0.1:1", None)
        self.failures = failures
        self.attempts: list[str] = []
        self.delivered: list[str] = []

    async def invalidate_aggregates(self, reason: str) -> bool:
        self.attempts.append(reason)
        if len(self.attempts) <= self.failures:
            return False
        self.delivered.append(reason)
        return True


def pending_gauge() -> float:
    return float(CACHE_INVALIDATIONS_PENDING._value.get())


async def until_delivered(invalidations: Invalidations) -> None:
    for _ in range(500):
        delivery = invalidations._delivery
        if not invalidations.pending and delivery is not None and delivery.done():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the invalidation was never delivered")


def test_requests_made_while_the_query_service_is_down_are_retried_and_folded_into_one() -> None:
    async def scenario() -> QueryServiceDownFor:
        client = QueryServiceDownFor(failures=3)
        invalidations = Invalidations(
            client, asyncio.get_running_loop(), retry_initial_seconds=0.01, retry_max_seconds=0.02
        )
        invalidations.request("collection 1 stored 10 new posts")
        await asyncio.sleep(0)
        assert pending_gauge() == 1
        invalidations.request("collection 2 stored 5 new posts")
        invalidations.request_threadsafe("keyword streams stored 7 new posts")
        await until_delivered(invalidations)
        assert pending_gauge() == 0
        await invalidations.close()
        return client

    client = asyncio.run(scenario())
    assert len(client.attempts) == 4  # three refused, then delivered
    assert client.delivered == ["keyword streams stored 7 new posts (and 2 earlier requests)"]


def test_a_delivered_request_is_not_sent_again() -> None:
    async def scenario() -> QueryServiceDownFor:
        client = QueryServiceDownFor(failures=0)
        invalidations = Invalidations(client, asyncio.get_running_loop())
        invalidations.request("collection 1 stored 10 new posts")
        await until_delivered(invalidations)
        invalidations.request("collection 2 stored 0 new posts")
        await until_delivered(invalidations)
        await invalidations.close()
        return client

    client = asyncio.run(scenario())
    assert client.delivered == ["collection 1 stored 10 new posts", "collection 2 stored 0 new posts"]


def test_closing_stops_the_retries_and_keeps_nothing_running() -> None:
    async def scenario() -> tuple[QueryServiceDownFor, Invalidations]:
        client = QueryServiceDownFor(failures=10**6)
        invalidations = Invalidations(client, asyncio.get_running_loop(), retry_initial_seconds=0.01)
        invalidations.request("collection 1 stored 10 new posts")
        while len(client.attempts) < 2:
            await asyncio.sleep(0.01)
        await invalidations.close()
        invalidations.request("after close")  # ignored
        return client, invalidations

    client, invalidations = asyncio.run(scenario())
    assert invalidations.pending  # undelivered, and said so in the log
    assert invalidations._delivery is not None
    assert invalidations._delivery.done()
    assert "after close" not in client.attempts


class CountingQueryService(query_service_pb2_grpc.QueryServiceServicer):
    def __init__(self) -> None:
        self.reasons: list[str] = []

    def InvalidateAggregates(
        self, request: query_service_pb2.InvalidateAggregatesRequest, context: grpc.ServicerContext
    ) -> query_service_pb2.InvalidateAggregatesResponse:
        self.reasons.append(request.reason)
        return query_service_pb2.InvalidateAggregatesResponse(generation=1)


def test_a_command_waits_for_a_query_service_that_starts_late_and_gives_up_after_its_window() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    address = f"127.0.0.1:{port}"
    assert not invalidate_once(address, None, "nobody listens", retry_seconds=0.5)

    service = CountingQueryService()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=1))
    query_service_pb2_grpc.add_QueryServiceServicer_to_server(service, server)
    server.add_insecure_port(address)
    starting = threading.Timer(1.0, server.start)
    starting.start()
    try:
        assert invalidate_once(address, None, "retention deleted 3 posts", retry_seconds=30)
        assert service.reasons == ["retention deleted 3 posts"]
    finally:
        starting.join()
        server.stop(None)
