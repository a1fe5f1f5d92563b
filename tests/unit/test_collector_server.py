"""The collector's wiring of keyword streams (server.py): where streams are buffered, and which
settings reach the stream configuration."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import create_engine

from tagpulse_collector.catalog import catalog_from_settings
from tagpulse_collector.server import stream_buffer, streams_config
from tagpulse_collector.settings import CollectorSettings
from tagpulse_collector.streams.buffer import MemoryBuffer, RedisBuffer


def test_streams_are_buffered_in_redis_or_in_the_process_on_sqlite_only() -> None:
    buffer, why = stream_buffer(CollectorSettings(), create_engine("sqlite://"))
    assert isinstance(buffer, MemoryBuffer)
    assert why == ""
    postgres = create_engine("postgresql+psycopg://nobody@127.0.0.1:1/none")
    buffer, why = stream_buffer(CollectorSettings(), postgres)
    assert buffer is None
    assert "TAGPULSE_REDIS_URL" in why
    with_redis = CollectorSettings(redis_url="redis://127.0.0.1:1/0")  # type: ignore[arg-type]
    buffer, why = stream_buffer(with_redis, postgres)
    assert isinstance(buffer, RedisBuffer)
    buffer.close()


def test_settings_reach_the_stream_config() -> None:
    settings = CollectorSettings(
        x_bearer_token="AAAA-token",  # type: ignore[arg-type]
        redis_key_prefix="prod:",
        stream_backoff_scale=0.5,
        stream_keepalive_seconds=7,
        stream_max_attempts=5,
    )
    config, x = streams_config(settings), catalog_from_settings(settings).x_stream()
    assert x is not None
    assert (x.marker, x.keepalive_seconds, x.reconnect.scale) == ("prod:", 7, 0.5)
    assert config.writer.max_attempts == 5
    assert catalog_from_settings(settings).local_feed(1, "mastodon", datetime.now(UTC), print) is None
