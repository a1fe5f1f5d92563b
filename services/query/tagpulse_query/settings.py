"""The query service's settings: the shared ones plus its ports and cache lifetime."""

from __future__ import annotations

from pydantic import Field

from tagpulse.settings import Settings


class QuerySettings(Settings):
    grpc_port: int = Field(default=50051, ge=0, le=65535)
    metrics_port: int = Field(default=9101, ge=0, le=65535)
    # Cached answers expire even without an invalidation, so a missed one heals itself.
    cache_ttl_seconds: int = Field(default=3600, ge=1)
    # Redis must answer within this, or the request goes to the database instead.
    redis_timeout_seconds: float = Field(default=0.25, gt=0)
