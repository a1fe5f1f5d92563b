"""The gRPC server bootstrap both services use.

`grpc.aio` server with the library health service, reflection, tracing, Prometheus metrics on
their own HTTP port, token checks on mutating calls, and a graceful stop on SIGTERM: health
turns NOT_SERVING first and the server goes on answering for the drain period, so that Envoy's
health checks and Kubernetes' endpoints stop sending it calls before it refuses any; then
in-flight calls get a grace period. Drain and grace together stay shorter than Kubernetes'
termination grace (the chart checks).
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf.descriptor import ServiceDescriptor
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from prometheus_client import disable_created_metrics, start_http_server

from tagpulse.grpc_interceptors import CallInterceptor, TokenCheck, create_method_series, mutating_methods
from tagpulse.settings import Settings

log = logging.getLogger("tagpulse.server")


@dataclass(frozen=True)
class Service:
    """A servicer and the generated function that registers it."""

    descriptor: ServiceDescriptor
    servicer: Any
    add_to_server: Callable[[Any, grpc.aio.Server], None]


def encode_answer(answer: Message | bytes) -> bytes:
    """The response serializer of services that may answer with bytes already encoded."""
    return answer if isinstance(answer, bytes) else answer.SerializeToString()


def add_with_encoded_answers(descriptor: ServiceDescriptor) -> Callable[[Any, grpc.aio.Server], None]:
    """What the generated `add_…Servicer_to_server` does for a service of unary methods, except
    that a method may answer with the bytes of an encoded response, which are sent as they are.
    The query service answers from a cache of encoded answers: parsing each into a message for
    gRPC to encode it again cost more CPU than anything else in a warm answer of a few kB
    (BENCHMARKS.md, "warm answers")."""
    streaming = [m.name for m in descriptor.methods if m.client_streaming or m.server_streaming]
    if streaming:
        raise ValueError(f"{descriptor.full_name}: only unary methods can answer with bytes, not {streaming}")

    def add(servicer: Any, server: grpc.aio.Server) -> None:
        handlers = {
            method.name: grpc.unary_unary_rpc_method_handler(
                getattr(servicer, method.name),
                request_deserializer=GetMessageClass(method.input_type).FromString,
                response_serializer=encode_answer,
            )
            for method in descriptor.methods
        }
        generic = grpc.method_handlers_generic_handler(descriptor.full_name, handlers)
        server.add_generic_rpc_handlers((generic,))
        server.add_registered_method_handlers(descriptor.full_name, handlers)

    return add


class GrpcServer:
    def __init__(
        self,
        settings: Settings,
        services: Sequence[Service],
        on_stop: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.settings = settings
        self.services = services
        self.on_stop = on_stop
        api_token = settings.api_token.get_secret_value() if settings.api_token else None
        tokens = TokenCheck(mutating_methods(s.descriptor for s in services), api_token)
        self.server = grpc.aio.server(
            interceptors=[CallInterceptor(tokens)],
            options=[("grpc.so_reuseport", 0)],
        )
        self.health = health.aio.HealthServicer()
        self.port = 0

    async def start(self) -> int:
        for service in self.services:
            service.add_to_server(service.servicer, self.server)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        names = [s.descriptor.full_name for s in self.services]
        reflection.enable_server_reflection(
            [*names, health.SERVICE_NAME, reflection.SERVICE_NAME], self.server
        )
        address = f"{self.settings.grpc_host}:{self.settings.grpc_port}"
        self.port = self.server.add_insecure_port(address)
        # The *_created series double the output and no dashboard reads them.
        disable_created_metrics()  # type: ignore[no-untyped-call]
        create_method_series(s.descriptor for s in self.services)
        start_http_server(self.settings.metrics_port, addr=self.settings.metrics_host)
        await self.server.start()
        for name in ["", *names]:
            await self.health.set(name, health_pb2.HealthCheckResponse.SERVING)
        log.info(
            "serving",
            extra={
                "grpc_address": f"{self.settings.grpc_host}:{self.port}",
                "metrics_address": f"{self.settings.metrics_host}:{self.settings.metrics_port}",
                "services": names,
            },
        )
        return self.port

    async def stop(self) -> None:
        await self.health.enter_graceful_shutdown()
        log.info(
            "stopping",
            extra={
                "drain_seconds": self.settings.shutdown_drain_seconds,
                "grace_seconds": self.settings.shutdown_grace_seconds,
            },
        )
        # Still serving: a caller that has not yet seen NOT_SERVING is answered, not refused.
        await asyncio.sleep(self.settings.shutdown_drain_seconds)
        await self.server.stop(self.settings.shutdown_grace_seconds)
        if self.on_stop is not None:
            await self.on_stop()
        log.info("stopped")

    async def serve_until_signalled(self) -> None:
        """Serve until SIGTERM or SIGINT, then stop gracefully."""
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        await self.start()
        await stop.wait()
        await self.stop()
