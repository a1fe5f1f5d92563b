"""The collector servicer's answer to CreateStream when the collector has no stream buffer
(servicer.py): a failed precondition that says what to set, after the request's own checks."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import create_engine

from tagpulse.errors import FailedPrecondition, InvalidArgument
from tagpulse.v1 import collector_service_pb2 as pb
from tagpulse.v1 import resources_pb2
from tagpulse_collector.catalog import SourceCatalog
from tagpulse_collector.query_client import Invalidations, QueryClient
from tagpulse_collector.runs.executor import RunExecutor
from tagpulse_collector.servicer import CollectorServicer


def test_create_stream_without_a_buffer_fails_the_precondition() -> None:
    engine, catalog = create_engine("sqlite://"), SourceCatalog()
    servicer = CollectorServicer(
        engine=engine,
        catalog=catalog,
        executor=RunExecutor(
            engine, catalog, [], Invalidations(QueryClient("127.0.0.1:1", None), asyncio.new_event_loop())
        ),
        stream_buffer=None,
        streams_unavailable="keyword streams need Redis: set TAGPULSE_REDIS_URL",
    )
    request = pb.CreateStreamRequest(rules=[resources_pb2.StreamRule(value="music")], source="sample")
    with pytest.raises(FailedPrecondition, match="TAGPULSE_REDIS_URL"):
        asyncio.run(servicer.CreateStream(request, None))
    bad = pb.CreateStreamRequest(rules=[resources_pb2.StreamRule(value="-music")])
    with pytest.raises(InvalidArgument):  # a bad request is a bad request first
        asyncio.run(servicer.CreateStream(bad, None))
