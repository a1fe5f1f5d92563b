"""The collector's settings: the shared ones plus its ports and where the query service is."""

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
