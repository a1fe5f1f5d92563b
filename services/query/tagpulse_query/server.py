"""Wiring: settings, database, cache and the servicer on the shared gRPC bootstrap."""

from __future__ import annotations

import asyncio

from tagpulse.db.engine import database_engine
from tagpulse.grpc_server import GrpcServer, Service, add_with_encoded_answers
from tagpulse.logs import configure_logging
from tagpulse.settings import load_settings
from tagpulse.tracing import configure_tracing
from tagpulse.v1 import query_service_pb2
from tagpulse_query.cache import AnswerCache, LocalAnswerCache, NearCache, RedisAnswerCache
from tagpulse_query.servicer import QueryServicer
from tagpulse_query.settings import QuerySettings

QUERY_SERVICE = query_service_pb2.DESCRIPTOR.services_by_name["QueryService"]


def build_cache(settings: QuerySettings) -> AnswerCache:
    if settings.redis_url is None:
        return LocalAnswerCache(settings.cache_ttl_seconds)
    return RedisAnswerCache(
        settings.redis_url.get_secret_value(),
        prefix=settings.redis_key_prefix,
        ttl_seconds=settings.cache_ttl_seconds,
        timeout_seconds=settings.redis_timeout_seconds,
    )


def build_server(settings: QuerySettings) -> GrpcServer:
    engine = database_engine(settings)
    cache = build_cache(settings)
    budgets = {} if settings.x_daily_budget_usd is None else {"x": settings.x_daily_budget_usd}
    servicer = QueryServicer(engine, cache, NearCache(settings.cache_ttl_seconds), budgets)

    async def on_stop() -> None:
        await cache.close()
        engine.dispose()

    return GrpcServer(
        settings,
        [Service(QUERY_SERVICE, servicer, add_with_encoded_answers(QUERY_SERVICE))],
        on_stop=on_stop,
    )


def serve() -> None:
    settings = load_settings(QuerySettings)
    configure_logging(settings)
    configure_tracing("tagpulse-query")

    async def main() -> None:
        # The server must be built inside the running event loop.
        await build_server(settings).serve_until_signalled()

    asyncio.run(main())
