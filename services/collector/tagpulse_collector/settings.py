"""The collector's settings: the shared ones plus its ports, where the query service is, and
how patient the platform sources are."""

from __future__ import annotations

from pydantic import Field

from tagpulse.settings import Settings


class CollectorSettings(Settings):
    grpc_port: int = Field(default=50052, ge=0, le=65535)
    metrics_port: int = Field(default=9102, ge=0, le=65535)
    # The query service, told to retire its cache after each run.
    query_address: str = "127.0.0.1:50051"
    # The collector, for the `trigger` command the CronJob runs.
    collector_address: str = "127.0.0.1:50052"
    # X search: also collect retweets (their hashtags then come from the retweeted post).
    x_include_retweets: bool = False
    # HTTP to X and Mastodon.
    source_timeout_seconds: float = Field(default=30.0, gt=0)
    source_attempts: int = Field(default=5, ge=1, le=20)
    source_backoff_initial_seconds: float = Field(default=1.0, ge=0)
    source_backoff_max_seconds: float = Field(default=60.0, ge=0)
    # Rate limits: the longest single wait for a window to reset, and how many in a row.
    rate_limit_max_wait_seconds: float = Field(default=960.0, ge=0)
    rate_limit_margin_seconds: float = Field(default=1.0, ge=0)
    rate_limit_max_waits: int = Field(default=3, ge=0, le=100)
    # Keyword streams (see streams/): how often the manager and writers look at the streams,
    # the writers' batches, claims and dead letters, and the readers' patience.
    stream_poll_seconds: float = Field(default=1.0, gt=0, le=60)
    stream_batch_size: int = Field(default=200, ge=1, le=5000)
    stream_claim_idle_seconds: float = Field(default=30.0, gt=0)
    stream_max_attempts: int = Field(default=3, ge=1, le=100)
    stream_keepalive_seconds: float = Field(default=20.0, gt=0)
    # Multiplies every reconnect wait of X's guidance (tests shrink them).
    stream_backoff_scale: float = Field(default=1.0, gt=0, le=10)
    stream_sample_rate: float = Field(default=20.0, gt=0, le=10_000)
    stream_mastodon_poll_seconds: float = Field(default=5.0, gt=0)
    # The query service's cache is retired at most this often while streams store posts.
    stream_invalidate_seconds: float = Field(default=10.0, ge=0)
    # X's backfill of missed posts after a reconnect (Pro and Enterprise access only): 0-5.
    x_stream_backfill_minutes: int = Field(default=0, ge=0, le=5)
