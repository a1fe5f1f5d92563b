"""Wiring: settings, database, sources and the servicer on the shared gRPC bootstrap."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable

from tagpulse.db.engine import create_database_engine
from tagpulse.grpc_server import GrpcServer, Service
from tagpulse.logs import configure_logging
from tagpulse.settings import load_settings
from tagpulse.tracing import configure_tracing
from tagpulse.v1 import collector_service_pb2, collector_service_pb2_grpc
from tagpulse_collector.query_client import QueryClient
from tagpulse_collector.servicer import CollectorServicer
from tagpulse_collector.settings import CollectorSettings
from tagpulse_collector.sources.api_client import HttpPolicy
from tagpulse_collector.sources.base import Source
from tagpulse_collector.sources.mastodon import MastodonSource
from tagpulse_collector.sources.rate_limits import WaitPolicy
from tagpulse_collector.sources.sample import SampleSource
from tagpulse_collector.sources.x_api import XApiSource


def http_policy(settings: CollectorSettings) -> HttpPolicy:
    return HttpPolicy(
        timeout_seconds=settings.source_timeout_seconds,
        attempts=settings.source_attempts,
        backoff_initial_seconds=settings.source_backoff_initial_seconds,
        backoff_max_seconds=settings.source_backoff_max_seconds,
        rate_limit=WaitPolicy(
            max_wait_seconds=settings.rate_limit_max_wait_seconds,
            margin_seconds=settings.rate_limit_margin_seconds,
        ),
        max_rate_limit_waits=settings.rate_limit_max_waits,
    )


def configured_sources(settings: CollectorSettings, stop: threading.Event) -> dict[str, Callable[[], Source]]:
    """The sources this collector has what it needs for; the sample source always."""
    policy = http_policy(settings)
    sources: dict[str, Callable[[], Source]] = {"sample": lambda: SampleSource(seed=settings.sample_seed)}
    x_token = settings.x_bearer_token.get_secret_value() if settings.x_bearer_token else ""
    if x_token:
        sources["x"] = lambda: XApiSource(
            x_token, settings.x_api_base_url, policy, settings.x_include_retweets, stop
        )
    if settings.mastodon_base_url:
        mastodon_url = settings.mastodon_base_url
        token = settings.mastodon_access_token.get_secret_value() if settings.mastodon_access_token else None
        sources["mastodon"] = lambda: MastodonSource(mastodon_url, token, policy, stop)
    return sources


def default_source(settings: CollectorSettings) -> str:
    """What an empty `source` means: the platform with credentials, X first, else the sample."""
    if settings.x_bearer_token and settings.x_bearer_token.get_secret_value():
        return "x"
    if settings.mastodon_base_url:
        return "mastodon"
    return "sample"


def build_server(settings: CollectorSettings) -> GrpcServer:
    engine = create_database_engine(settings.database_url.get_secret_value())
    api_token = settings.api_token.get_secret_value() if settings.api_token else None
    query_client = QueryClient(settings.query_address, api_token)
    stop = threading.Event()
    servicer = CollectorServicer(
        engine=engine,
        sources=configured_sources(settings, stop),
        tracked_hashtags=settings.hashtags,
        query_client=query_client,
        default_source=default_source(settings),
        stop=stop,
    )
    # Runs a previous collector left RUNNING (killed, or stopped on SIGTERM) go on from
    # their last stored page.
    servicer.start_background_work()

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
