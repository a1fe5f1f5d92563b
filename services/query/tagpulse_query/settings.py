"""The query service's settings: the shared ones plus its ports and cache lifetime. Every
field's description is the configuration reference (docs/configuration.md, written by
`make docs`)."""

from __future__ import annotations

from pydantic import Field

from tagpulse.settings import GRPC_PORT_DESCRIPTION, METRICS_PORT_DESCRIPTION, Settings


class QuerySettings(Settings):
    grpc_port: int = Field(default=50051, ge=0, le=65535, description=GRPC_PORT_DESCRIPTION)
    metrics_port: int = Field(default=9101, ge=0, le=65535, description=METRICS_PORT_DESCRIPTION)
    cache_ttl_seconds: int = Field(
        default=3600,
        ge=1,
        description=(
            "Lifetime of a cached answer, even without an invalidation, so a missed invalidation "
            "heals itself."
        ),
    )
    redis_timeout_seconds: float = Field(
        default=0.25,
        gt=0,
        description="If Redis takes longer than this, the answer comes from the database instead.",
    )
