"""Cached answers leave the query service as the bytes they were stored as (issue 15): the query
server as `build_server` wires it, on a real PostgreSQL and Redis, called over gRPC on loopback.
A near-cache hit, a Redis hit and a fresh answer must be the same bytes on the wire, and decode
to the answer another servicer computes afresh; errors and the interceptor's metrics must not
notice that the handlers answer bytes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from google.protobuf.message import Message
from grpc_health.v1 import health_pb2

from tagpulse.db.engine import create_database_engine
from tagpulse.grpc_interceptors import SERVER_HANDLED
from tagpulse.grpc_server import GrpcServer, add_with_encoded_answers, encode_answer
from tagpulse.v1 import query_service_pb2 as pb
from tagpulse.v1 import query_service_pb2_grpc, resources_pb2
from tagpulse_query.cache import CACHE_NEAR_HITS, CACHE_REQUESTS, LocalAnswerCache
from tagpulse_query.server import QUERY_SERVICE, build_server
from tagpulse_query.servicer import QueryServicer
from tagpulse_query.settings import QuerySettings
from tests.support.polling import wait_until_async
from tests.support.processes import free_port
from tests.support.random_posts import random_data

# One request per kind of answer: a large page, a small list, a series and the figures.
QUERIES: list[tuple[str, Message, type[Message]]] = [
    ("CountPostsByHashtag", pb.CountPostsByHashtagRequest(page_size=1000), pb.CountPostsByHashtagResponse),
    ("ListTopUsers", pb.ListTopUsersRequest(limit=5, hashtag="#DevOps"), pb.ListTopUsersResponse),
    ("CountPostsByHour", pb.CountPostsByHourRequest(time_zone="Asia/Kolkata"), pb.CountPostsByHourResponse),
    ("GetStats", pb.GetStatsRequest(), pb.Stats),
]


@pytest.fixture
async def query_server(
    postgres_url: str, redis_server_url: str, redis_prefix: str
) -> AsyncIterator[tuple[GrpcServer, grpc.aio.Channel]]:
    engine = create_database_engine(postgres_url)
    random_data(seed=31, posts=600).ingest(engine)
    engine.dispose()
    settings = QuerySettings(
        database_url=postgres_url,  # type: ignore[arg-type]
        redis_url=redis_server_url,  # type: ignore[arg-type]
        redis_key_prefix=redis_prefix,
        grpc_port=0,
        metrics_port=free_port(),
    )
    server = build_server(settings)
    port = await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield server, channel
    finally:
        await server.server.stop(0)
        assert server.on_stop is not None
        await server.on_stop()


def _value(counter: Any) -> float:
    return float(counter._value.get())


def _raw(channel: grpc.aio.Channel, rpc: str) -> Any:
    """The method called without a response deserializer: the answer's bytes as they came."""
    return channel.unary_unary(
        f"/{QUERY_SERVICE.full_name}/{rpc}", request_serializer=encode_answer, response_deserializer=None
    )


async def test_a_cached_answer_is_sent_as_the_bytes_it_was_stored_as(
    query_server: tuple[GrpcServer, grpc.aio.Channel],
) -> None:
    server, channel = query_server
    servicer: QueryServicer = server.services[0].servicer
    # The near cache is used only under a generation the Redis watch has confirmed.
    await wait_until_async(
        lambda: servicer.cache.confirmed_generation() is not None,
        message="the query service to confirm the cache generation",
        timeout=10,
    )
    stub = query_service_pb2_grpc.QueryServiceStub(channel)
    for rpc, request, response_type in QUERIES:
        misses = _value(CACHE_REQUESTS.labels(rpc=rpc, result="miss"))
        hits = _value(CACHE_REQUESTS.labels(rpc=rpc, result="hit"))
        near_hits = _value(CACHE_NEAR_HITS.labels(rpc=rpc))

        fresh = await _raw(channel, rpc)(request)
        assert _value(CACHE_REQUESTS.labels(rpc=rpc, result="miss")) == misses + 1, rpc
        [stored] = [answer for (_, key), answer in servicer.near.entries.items() if key.startswith(f"{rpc}:")]
        assert stored == fresh, rpc

        # A near hit: the very object the near cache holds, and those bytes on the wire.
        assert await getattr(servicer, rpc)(request, None) is stored, rpc
        assert await _raw(channel, rpc)(request) == stored, rpc
        assert _value(CACHE_NEAR_HITS.labels(rpc=rpc)) == near_hits + 2, rpc

        # A Redis hit (the near cache emptied, as in another replica): the same bytes again.
        servicer.near.entries.clear()
        assert await _raw(channel, rpc)(request) == stored, rpc
        assert _value(CACHE_REQUESTS.labels(rpc=rpc, result="hit")) == hits + 3, rpc
        assert _value(CACHE_NEAR_HITS.labels(rpc=rpc)) == near_hits + 2, rpc

        # A generated client decodes the cached bytes to what another servicer computes afresh.
        decoded = await getattr(stub, rpc)(request)
        elsewhere = QueryServicer(servicer.engine, LocalAnswerCache(ttl_seconds=60))
        computed = response_type.FromString(await getattr(elsewhere, rpc)(request, None))
        assert decoded == computed, rpc
        assert decoded.ListFields(), f"{rpc}: an empty answer proves nothing"


async def test_errors_and_metrics_are_the_same_for_handlers_that_answer_bytes(
    query_server: tuple[GrpcServer, grpc.aio.Channel],
) -> None:
    _, channel = query_server
    stub = query_service_pb2_grpc.QueryServiceStub(channel)
    ok = SERVER_HANDLED.labels("unary", QUERY_SERVICE.full_name, "GetStats", "OK")
    before = _value(ok)
    assert (await stub.GetStats(pb.GetStatsRequest())).posts > 0
    assert (await stub.GetStats(pb.GetStatsRequest())).posts > 0
    assert _value(ok) == before + 2

    with pytest.raises(grpc.aio.AioRpcError) as missing:
        await stub.GetPost(pb.GetPostRequest(id="no-such-post", source="x"))
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.aio.AioRpcError) as invalid:
        await stub.ListTopUsers(pb.ListTopUsersRequest(limit=-1))
    assert invalid.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    # A method that still answers a message (it caches nothing) is encoded as before.
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await stub.InvalidateAggregates(pb.InvalidateAggregatesRequest(reason="test"))
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_the_serializer_passes_bytes_through_and_encodes_messages() -> None:
    encoded = pb.Stats(posts=3).SerializeToString()
    assert encode_answer(encoded) is encoded
    assert encode_answer(resources_pb2.Post(id="1")) == resources_pb2.Post(id="1").SerializeToString()
    with pytest.raises(ValueError, match="Watch"):
        add_with_encoded_answers(health_pb2.DESCRIPTOR.services_by_name["Health"])
