"""Fixtures the stream tests share: an engine on the test's own PostgreSQL database, and stream
managers started on it (stopped at the end of the test). Not `engine`: that one (tests/conftest.py)
runs a test on SQLite and PostgreSQL both."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import Engine

from tagpulse.db.engine import create_database_engine
from tagpulse_collector.catalog import SourceCatalog
from tagpulse_collector.streams.buffer import RedisBuffer
from tagpulse_collector.streams.manager import StreamManager, StreamsConfig
from tests.integration.stream_helpers import FAST_WRITER


@pytest.fixture
def postgres_engine(postgres_url: str) -> Iterator[Engine]:
    engine = create_database_engine(postgres_url)
    yield engine
    engine.dispose()


@pytest.fixture
def start_manager(
    postgres_engine: Engine, redis_server_url: str, redis_prefix: str
) -> Iterator[Callable[[SourceCatalog], StreamManager]]:
    """Start a collector's stream manager (supervisor and writer) with the catalog given, polling
    every 50 ms."""
    started: list[StreamManager] = []

    def start(catalog: SourceCatalog) -> StreamManager:
        config = StreamsConfig(poll_seconds=0.05, writer=FAST_WRITER)
        manager = StreamManager(postgres_engine, RedisBuffer(redis_server_url, redis_prefix), catalog, config)
        manager.start()
        started.append(manager)
        return manager

    yield start
    for manager in started:
        if not manager.stop_event.is_set():
            manager.stop()
