"""Wiring: settings, database, the source catalog, the run executor, the stream manager and the
servicer, on the shared gRPC bootstrap."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import Engine

from tagpulse.db.engine import database_engine
from tagpulse.grpc_server import GrpcServer, Service
from tagpulse.logs import configure_logging
from tagpulse.settings import load_settings
from tagpulse.tracing import configure_tracing
from tagpulse.v1 import collector_service_pb2, collector_service_pb2_grpc
from tagpulse_collector import metrics
from tagpulse_collector.catalog import KNOWN_SOURCES, catalog_from_settings
from tagpulse_collector.deletion.mastodon_rechecks import pass_budget, recheck_loop
from tagpulse_collector.deletion.retention import retention_loop
from tagpulse_collector.deletion.x_compliance import ComplianceJobs, compliance_loop, compliance_policy
from tagpulse_collector.query_client import Invalidations, QueryClient
from tagpulse_collector.runs.executor import RunExecutor, SupervisionPolicy
from tagpulse_collector.runs.store import FINISHED_RUN_STATES
from tagpulse_collector.servicer import CollectorServicer
from tagpulse_collector.settings import CollectorSettings
from tagpulse_collector.spending.ledger import export_spend_gauges
from tagpulse_collector.streams.buffer import MemoryBuffer, RedisBuffer, StreamBuffer
from tagpulse_collector.streams.manager import Invalidator, StreamManager, StreamsConfig
from tagpulse_collector.streams.writer import WriterPolicy


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
    return StreamsConfig(
        poll_seconds=settings.stream_poll_seconds,
        writer=WriterPolicy(
            batch_size=settings.stream_batch_size,
            block_seconds=min(settings.stream_poll_seconds, 1.0),
            claim_idle_seconds=settings.stream_claim_idle_seconds,
            max_attempts=settings.stream_max_attempts,
            refresh_seconds=settings.stream_poll_seconds,
        ),
    )


def build_server(settings: CollectorSettings, after_commit: Callable[[], None] | None = None) -> GrpcServer:
    """The collector on the shared gRPC bootstrap. `after_commit` runs after each stream writer
    commit, before the acknowledgement (tests kill the process there)."""
    metrics.create_series_at_zero(KNOWN_SOURCES, FINISHED_RUN_STATES)
    engine = database_engine(settings)
    api_token = settings.api_token.get_secret_value() if settings.api_token else None
    query_client = QueryClient(settings.query_address, api_token)
    invalidations = Invalidations(
        query_client, asyncio.get_running_loop(), retry_max_seconds=settings.invalidate_retry_max_seconds
    )
    # A collector stopped (or killed) with an invalidation undelivered leaves answers stale:
    # one invalidation at start costs the query service a recount and makes sure they are not.
    invalidations.request("collector started")
    catalog = catalog_from_settings(settings)
    export_spend_gauges(engine, catalog.spend)
    supervision = SupervisionPolicy(settings.run_supervise_seconds, settings.run_max_resumes)
    executor = RunExecutor(engine, catalog, settings.hashtags, invalidations, supervision)
    buffer, unavailable = stream_buffer(settings, engine)
    servicer = CollectorServicer(engine, catalog, executor, buffer, unavailable)
    # Runs a previous collector left RUNNING (killed, or stopped on SIGTERM) go on from
    # their last stored page, and so do runs orphaned later.
    executor.supervise()
    retention = None
    # Interval 0: a scheduler of its own runs the retention command (the chart's CronJob).
    if settings.retention_days and settings.retention_interval_minutes:
        retention = asyncio.create_task(
            retention_loop(
                engine,
                settings.retention_days,
                settings.retention_interval_minutes * 60,
                settings.retention_batch_posts,
                catalog.stop,
                lambda removed: invalidations.request(f"retention deleted {removed.posts} posts"),
            )
        )
    rechecks = None
    if catalog.mastodon is not None and settings.mastodon_rechecks_per_hour:
        rechecks = asyncio.create_task(
            recheck_loop(
                engine,
                catalog.mastodon,
                pass_budget(settings.mastodon_rechecks_per_hour, settings.mastodon_recheck_interval_minutes),
                timedelta(hours=settings.mastodon_recheck_after_hours),
                settings.mastodon_recheck_interval_minutes * 60,
                catalog.stop,
                lambda removed: invalidations.request(f"mastodon re-checks deleted {removed.posts} posts"),
            )
        )
    compliance = None
    compliance_jobs = None
    if catalog.x is not None and settings.x_compliance_interval_hours:
        compliance_jobs = ComplianceJobs.for_access(
            engine, catalog.x, compliance_policy(settings), catalog.stop
        )
        compliance = asyncio.create_task(
            compliance_loop(
                engine,
                compliance_jobs,
                catalog.stop,
                invalidations.request,
            )
        )
    manager = None
    if buffer is not None:
        invalidator = Invalidator(invalidations, settings.stream_invalidate_seconds)
        # The manager has a buffer client of its own: the servicer's serves GetStream's figures.
        manager_buffer = (
            RedisBuffer(settings.redis_url.get_secret_value(), settings.redis_key_prefix)
            if settings.redis_url is not None
            else buffer
        )
        manager = StreamManager(
            engine, manager_buffer, catalog, streams_config(settings), invalidator, after_commit
        )
        manager.start()

    async def on_stop() -> None:
        if retention is not None:
            retention.cancel()
        if rechecks is not None:
            rechecks.cancel()
        if compliance is not None:
            compliance.cancel()
        if compliance_jobs is not None:
            compliance_jobs.close()
        if manager is not None:
            await asyncio.to_thread(manager.stop, settings.shutdown_grace_seconds)
        await executor.shutdown()
        await invalidations.close()
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
