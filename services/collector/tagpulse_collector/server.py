"""Wiring: settings, database, sources and the servicer on the shared gRPC bootstrap."""

from __future__ import annotations

import asyncio

from tagpulse.db.engine import create_database_engine
from tagpulse.grpc_server import GrpcServer, Service
from tagpulse.logs import configure_logging
from tagpulse.settings import load_settings
from tagpulse.tracing import configure_tracing
from tagpulse.v1 import collector_service_pb2, collector_service_pb2_grpc
from tagpulse_collector.query_client import QueryClient
from tagpulse_collector.servicer import CollectorServicer
from tagpulse_collector.settings import CollectorSettings
from tagpulse_collector.sources.sample import SampleSource


def build_server(settings: CollectorSettings) -> GrpcServer:
    engine = create_database_engine(settings.database_url.get_secret_value())
    api_token = settings.api_token.get_secret_value() if settings.api_token else None
    query_client = QueryClient(settings.query_address, api_token)
    servicer = CollectorServicer(
        engine=engine,
        sources={"sample": lambda: SampleSource(seed=settings.sample_seed)},
        tracked_hashtags=settings.hashtags,
        query_client=query_client,
    )

    async def on_stop() -> None:
        await servicer.wait_for_runs()
        await query_client.close()
        engine.dispose()

    return GrpcServer(
        settings,
        [
            Service(
                collector_service_pb2.DESCRIPTOR.services_by_name["CollectorService"],
                servicer,
                collector_service_pb2_grpc.add_CollectorServiceServicer_to_server,
            )
        ],
        on_stop=on_stop,
    )


def serve() -> None:
    settings = load_settings(CollectorSettings)
    configure_logging(settings)
    configure_tracing("tagpulse-collector")

    async def main() -> None:
        # The server must be built inside the running event loop.
        await build_server(settings).serve_until_signalled()

    asyncio.run(main())
