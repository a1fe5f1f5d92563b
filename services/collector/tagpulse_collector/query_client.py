"""The collector's one call to the query service: retire cached answers after new data.

`QueryClient` makes the call once. `Invalidations` is what the collector uses: it delivers every
request until the query service has it, retrying with backoff while the query service is down
or restarting, and folds the requests that pile up meanwhile into one call, since a single
invalidation retires everything cached before it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

import grpc
from opentelemetry.instrumentation.grpc import aio_client_interceptors

from tagpulse.v1 import query_service_pb2, query_service_pb2_grpc
from tagpulse_collector.metrics import (
    CACHE_INVALIDATIONS,
    CACHE_INVALIDATIONS_PENDING,
    INVALIDATION_DELIVERED,
    INVALIDATION_FAILED,
)

log = logging.getLogger("tagpulse.query_client")


class QueryClient:
    def __init__(self, address: str, api_token: str | None, timeout_seconds: float = 5.0) -> None:
        self.address = address
        self.api_token = api_token
        self.timeout_seconds = timeout_seconds
        self._channel: grpc.aio.Channel | None = None

    def _stub(self) -> query_service_pb2_grpc.QueryServiceStub:
        if self._channel is None:
            self._channel = grpc.aio.insecure_channel(self.address, interceptors=aio_client_interceptors())
        return query_service_pb2_grpc.QueryServiceStub(self._channel)

    async def invalidate_aggregates(self, reason: str) -> bool:
        """Ask the query service to retire its cache; False (and a log line) when it cannot.

        A failure does not fail the run: the posts are stored, and `Invalidations` tries again.
        """
        metadata = [("authorization", f"Bearer {self.api_token}")] if self.api_token else []
        try:
            response = await self._stub().InvalidateAggregates(
                query_service_pb2.InvalidateAggregatesRequest(reason=reason),
                metadata=metadata,
                timeout=self.timeout_seconds,
            )
        except grpc.aio.AioRpcError as error:
            CACHE_INVALIDATIONS.labels(result=INVALIDATION_FAILED).inc()
            log.warning(
                "could not invalidate the query cache",
                extra={"query_address": self.address, "code": error.code().name, "details": error.details()},
            )
            return False
        CACHE_INVALIDATIONS.labels(result=INVALIDATION_DELIVERED).inc()
        log.info("query cache invalidated", extra={"generation": response.generation, "reason": reason})
        return True

    async def close(self) -> None:
        if self._channel is not None:
            await self._channel.close()


class Invalidations:
    """Invalidations delivered until the query service has them.

    `request` may be called from the event loop, `request_threadsafe` from any thread; both
    return at once. One task delivers: on a failure it waits (from `retry_initial_seconds`,
    doubling up to `retry_max_seconds`) and tries again, for as long as the collector runs. A
    collector stopped with an invalidation undelivered leaves it to the next collector start,
    which asks for one (`server.py`).
    """

    def __init__(
        self,
        client: QueryClient,
        loop: asyncio.AbstractEventLoop,
        retry_initial_seconds: float = 0.5,
        retry_max_seconds: float = 15.0,
    ) -> None:
        self.client = client
        self.loop = loop
        self.retry_initial_seconds = retry_initial_seconds
        self.retry_max_seconds = retry_max_seconds
        self._reasons: list[str] = []
        self._delivery: asyncio.Task[None] | None = None
        self._closed = False

    def request(self, reason: str) -> None:
        if self._closed:
            return
        self._reasons.append(reason)
        CACHE_INVALIDATIONS_PENDING.set(1)
        if self._delivery is None or self._delivery.done():
            self._delivery = self.loop.create_task(self._deliver())

    def request_threadsafe(self, reason: str) -> None:
        self.loop.call_soon_threadsafe(self.request, reason)

    @property
    def pending(self) -> bool:
        return bool(self._reasons)

    async def _deliver(self) -> None:
        wait = self.retry_initial_seconds
        while self._reasons and not self._closed:
            reasons, self._reasons = self._reasons, []
            if await self.client.invalidate_aggregates(_one_reason(reasons)):
                wait = self.retry_initial_seconds
                continue
            # Requests that came meanwhile are folded into the next attempt.
            self._reasons = reasons + self._reasons
            log.info(
                "cache invalidation will be retried",
                extra={"retry_in_seconds": wait, "requests_pending": len(self._reasons)},
            )
            await asyncio.sleep(wait)
            wait = min(wait * 2, self.retry_max_seconds)
        CACHE_INVALIDATIONS_PENDING.set(1 if self._reasons else 0)

    async def close(self) -> None:
        """Stop retrying (on shutdown); an undelivered request is logged."""
        self._closed = True
        if self._delivery is not None and not self._delivery.done():
            self._delivery.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._delivery
        if self._reasons:
            log.warning(
                "collector stopped with a cache invalidation undelivered; the next collector "
                "start asks for one",
                extra={"reasons": self._reasons[:5]},
            )


def _one_reason(reasons: list[str]) -> str:
    if len(reasons) == 1:
        return reasons[0]
    return f"{reasons[-1]} (and {len(reasons) - 1} earlier requests)"


def invalidate_once(address: str, api_token: str | None, reason: str, retry_seconds: float = 0.0) -> bool:
    """An invalidation from a command that runs and exits (import, retention), tried again with
    backoff for up to `retry_seconds` (a query service restarting); False when the query service
    did not take it by then. Until one is delivered, cached answers last their TTL."""

    async def call() -> bool:
        client = QueryClient(address, api_token, timeout_seconds=3.0)
        deadline = time.monotonic() + retry_seconds
        wait = 0.25
        try:
            while not await client.invalidate_aggregates(reason):
                if time.monotonic() + wait > deadline:
                    return False
                await asyncio.sleep(wait)
                wait = min(wait * 2, 5.0)
            return True
        finally:
            await client.close()

    return asyncio.run(call())
