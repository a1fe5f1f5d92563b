"""Wiring: settings, database, sources and the servicer on the shared gRPC bootstrap."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable

from sqlalchemy import Engine

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
from tagpulse_collector.streams.backoff import ReconnectPolicy
from tagpulse_collector.streams.buffer import MemoryBuffer, RedisBuffer, StreamBuffer
from tagpulse_collector.streams.manager import (
    Invalidator,
    MastodonStreamConfig,
    StreamManager,
    StreamsConfig,
)
from tagpulse_collector.streams.writer import WriterPolicy
from tagpulse_collector.streams.x_stream import XStreamConfig

log = logging.getLogger("tagpulse.streams")


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


def stream_buffer(settings: CollectorSettings, engine: Engine) -> tuple[StreamBuffer | None, str]:
    """Redis when configured; in the process on SQLite (one collector); else none, and why."""
    if settings.redis_url is not None:
        return RedisBuffer(settings.redis_url.get_secret_value(), settings.redis_key_prefix), ""
    if engine.dialect.name == "sqlite":
        return MemoryBuffer(), ""
    return None, (
        "keyword streams need Redis: set TAGPULSE_REDIS_URL. Redis buffers their messages so that "
        "none is lost when a collector dies, and lets the collector replicas share the work"
    )


def streams_config(settings: CollectorSettings) -> StreamsConfig:
    reconnect = ReconnectPolicy(scale=settings.stream_backoff_scale)
    x_token = settings.x_bearer_token.get_secret_value() if settings.x_bearer_token else ""
    mastodon_token = (
        settings.mastodon_access_token.get_secret_value() if settings.mastodon_access_token else None
    )
    return StreamsConfig(
        poll_seconds=settings.stream_poll_seconds,
        writer=WriterPolicy(
            batch_size=settings.stream_batch_size,
            block_seconds=min(settings.stream_poll_seconds, 1.0),
            claim_idle_seconds=settings.stream_claim_idle_seconds,
            max_attempts=settings.stream_max_attempts,
            refresh_seconds=settings.stream_poll_seconds,
        ),
        reconnect=reconnect,
        sample_seed=settings.sample_seed,
        sample_rate=settings.stream_sample_rate,
        x=XStreamConfig(
            bearer_token=x_token,
            base_url=settings.x_api_base_url,
            marker=settings.redis_key_prefix,
            keepalive_seconds=settings.stream_keepalive_seconds,
            request_timeout_seconds=settings.source_timeout_seconds,
            reconnect=reconnect,
            backfill_minutes=settings.x_stream_backfill_minutes,
        )
        if x_token
        else None,
        mastodon=MastodonStreamConfig(
            settings.mastodon_base_url,
            mastodon_token,
            http_policy(settings),
            settings.stream_mastodon_poll_seconds,
        )
        if settings.mastodon_base_url
        else None,
    )


def build_server(settings: CollectorSettings, after_commit: Callable[[], None] | None = None) -> GrpcServer:
    """The collector on the shared gRPC bootstrap. `after_commit` runs after each stream writer
    commit, before the acknowledgement (tests kill the process there)."""
    engine = create_database_engine(settings.database_url.get_secret_value())
    api_token = settings.api_token.get_secret_value() if settings.api_token else None
    query_client = QueryClient(settings.query_address, api_token)
    stop = threading.Event()
    buffer, unavailable = stream_buffer(settings, engine)
    servicer = CollectorServicer(
        engine=engine,
        sources=configured_sources(settings, stop),
        tracked_hashtags=settings.hashtags,
        query_client=query_client,
        default_source=default_source(settings),
        stop=stop,
        stream_buffer=buffer,
        streams_unavailable=unavailable,
    )
    # Runs a previous collector left RUNNING (killed, or stopped on SIGTERM) go on from
    # their last stored page.
    servicer.start_background_work()
    manager = None
    if buffer is not None:
        invalidator = Invalidator(
            asyncio.get_running_loop(), query_client, settings.stream_invalidate_seconds
        )
        # The manager has a buffer client of its own: the servicer's serves GetStream's figures.
        manager_buffer = (
            RedisBuffer(settings.redis_url.get_secret_value(), settings.redis_key_prefix)
            if settings.redis_url is not None
            else buffer
        )
        manager = StreamManager(engine, manager_buffer, streams_config(settings), invalidator, after_commit)
        manager.start()

    async def on_stop() -> None:
        if manager is not None:
            await asyncio.to_thread(manager.stop, settings.shutdown_grace_seconds)
        await servicer.wait_for_runs()
        await query_client.close()
        if buffer is not None:
            buffer.close()
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


def serve(after_commit: Callable[[], None] | None = None) -> None:
    settings = load_settings(CollectorSettings)
    configure_logging(settings)
    configure_tracing("tagpulse-collector")

    async def main() -> None:
        # The server must be built inside the running event loop.
        await build_server(settings, after_commit).serve_until_signalled()

    asyncio.run(main())
