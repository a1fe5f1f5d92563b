"""`python -m tagpulse_collector trigger`: start a collection on a running collector and
wait for it — what the Kubernetes CronJob runs. Exit status 0 only when the run succeeded."""

from __future__ import annotations

import sys
import time

import grpc
from google.protobuf.json_format import MessageToJson
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tagpulse.v1 import collector_service_pb2, collector_service_pb2_grpc, resources_pb2
from tagpulse_collector.settings import CollectorSettings


def wait_until_serving(channel: grpc.Channel, timeout_seconds: float) -> None:
    deadline = time.monotonic() + timeout_seconds
    health = health_pb2_grpc.HealthStub(channel)
    while True:
        try:
            response = health.Check(
                health_pb2.HealthCheckRequest(service="tagpulse.v1.CollectorService"), timeout=2
            )
            if response.status == health_pb2.HealthCheckResponse.SERVING:
                return
        except grpc.RpcError:
            pass
        if time.monotonic() > deadline:
            raise SystemExit(f"collector not serving after {timeout_seconds:.0f} s")
        time.sleep(0.5)


def trigger(
    settings: CollectorSettings,
    hashtags: list[str],
    max_posts: int,
    source: str,
    timeout_seconds: float,
    wait_ready_seconds: float,
) -> int:
    with grpc.insecure_channel(settings.collector_address) as channel:
        if wait_ready_seconds > 0:
            wait_until_serving(channel, wait_ready_seconds)
        metadata = (
            [("authorization", f"Bearer {settings.api_token.get_secret_value()}")]
            if settings.api_token
            else []
        )
        try:
            run = collector_service_pb2_grpc.CollectorServiceStub(channel).StartCollection(
                collector_service_pb2.StartCollectionRequest(
                    hashtags=hashtags, max_posts_per_hashtag=max_posts, source=source
                ),
                metadata=metadata,
                timeout=timeout_seconds,
            )
        except grpc.RpcError as error:
            print(f"collection failed to start: {error.code().name}: {error.details()}", file=sys.stderr)
            return 1
    print(MessageToJson(run, indent=None, always_print_fields_with_no_presence=True))
    return 0 if run.state == resources_pb2.CollectionRun.SUCCEEDED else 1
