"""The collector's one call to the query service: retire cached answers after new data."""

from __future__ import annotations

import logging

import grpc
from opentelemetry.instrumentation.grpc import aio_client_interceptors

from tagpulse.v1 import query_service_pb2, query_service_pb2_grpc
from tagpulse_collector.metrics import CACHE_INVALIDATIONS

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

        A failure does not fail the run: the posts are stored, and the answers catch up when
        the cached entries expire.
        """
        metadata = [("authorization", f"Bearer {self.api_token}")] if self.api_token else []
        try:
            response = await self._stub().InvalidateAggregates(
                query_service_pb2.InvalidateAggregatesRequest(reason=reason),
                metadata=metadata,
                timeout=self.timeout_seconds,
            )
        except grpc.aio.AioRpcError as error:
            CACHE_INVALIDATIONS.labels(result="error").inc()
            log.warning(
                "could not invalidate the query cache",
                extra={"query_address": self.address, "code": error.code().name, "details": error.details()},
            )
            return False
        CACHE_INVALIDATIONS.labels(result="ok").inc()
        log.info("query cache invalidated", extra={"generation": response.generation, "reason": reason})
        return True

    async def close(self) -> None:
        if self._channel is not None:
            await self._channel.close()
