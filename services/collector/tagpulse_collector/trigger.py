"""`python -m tagpulse_collector trigger`: start a collection on a running collector and wait
for it — what the Kubernetes CronJob runs.

StartCollection returns the run at once; this polls GetCollection until the run is no longer
RUNNING, riding out a collector restart in between (the run resumes on the new collector),
then prints the run as JSON. A collector that answers StartCollection UNAVAILABLE (a rollout) is
asked again for a while. Exit status: 0 SUCCEEDED, 1 FAILED (or not started),
3 PARTIALLY_SUCCEEDED, 4 still RUNNING when --timeout ran out, 5 STOPPED_BY_BUDGET (the daily
budget or --max-cost-usd stopped it; the next run goes on where it stopped).
"""

from __future__ import annotations

import sys
import time

import grpc
from google.protobuf.json_format import MessageToJson
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tagpulse.v1 import collector_service_pb2, collector_service_pb2_grpc, resources_pb2
from tagpulse_collector.settings import CollectorSettings

State = resources_pb2.CollectionRun.State
EXIT_CODES = {State.SUCCEEDED: 0, State.FAILED: 1, State.PARTIALLY_SUCCEEDED: 3, State.STOPPED_BY_BUDGET: 5}
EXIT_TIMED_OUT = 4
# Errors worth polling through: the collector restarting or briefly unreachable.
TRANSIENT = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED})


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


def _print(run: resources_pb2.CollectionRun) -> None:
    print(MessageToJson(run, indent=None, always_print_fields_with_no_presence=True))


def trigger(
    settings: CollectorSettings,
    hashtags: list[str],
    max_posts: int,
    source: str,
    timeout_seconds: float,
    wait_ready_seconds: float,
    poll_seconds: float = 2.0,
    max_cost_usd: float = 0.0,
    start_retry_seconds: float | None = None,
) -> int:
    """`start_retry_seconds` (default: `wait_ready_seconds`): how long StartCollection is asked
    again while the collector answers UNAVAILABLE (a rollout replacing it), so a scheduled run
    starts late instead of being skipped. Only UNAVAILABLE: the collector did not take the
    request (not serving yet, or its database unreachable before the run was recorded), so a
    retry cannot start a second run; after a DEADLINE_EXCEEDED the run may have started."""
    deadline = time.monotonic() + timeout_seconds
    with grpc.insecure_channel(settings.collector_address) as channel:
        if wait_ready_seconds > 0:
            wait_until_serving(channel, wait_ready_seconds)
        stub = collector_service_pb2_grpc.CollectorServiceStub(channel)
        metadata = (
            [("authorization", f"Bearer {settings.api_token.get_secret_value()}")]
            if settings.api_token
            else []
        )
        request = collector_service_pb2.StartCollectionRequest(
            hashtags=hashtags, max_posts_per_hashtag=max_posts, source=source, max_cost_usd=max_cost_usd
        )
        retry_for = wait_ready_seconds if start_retry_seconds is None else start_retry_seconds
        start_deadline = time.monotonic() + retry_for
        while True:
            try:
                run = stub.StartCollection(request, metadata=metadata, timeout=60)
                break
            except grpc.RpcError as error:
                retry = error.code() == grpc.StatusCode.UNAVAILABLE and time.monotonic() < start_deadline
                print(
                    f"collection {'not started yet' if retry else 'failed to start'}: "
                    f"{error.code().name}: {error.details()}",
                    file=sys.stderr,
                )
                if not retry:
                    return 1
                time.sleep(min(poll_seconds, 2.0))
        print(f"collection {run.id} started; waiting for it", file=sys.stderr)
        while run.state == State.RUNNING and time.monotonic() < deadline:
            time.sleep(min(poll_seconds, max(deadline - time.monotonic(), 0)))
            try:
                run = stub.GetCollection(collector_service_pb2.GetCollectionRequest(id=run.id), timeout=30)
            except grpc.RpcError as error:
                if error.code() not in TRANSIENT:
                    print(f"could not follow collection {run.id}: {error.code().name}", file=sys.stderr)
                    return 1
    _print(run)
    if run.state == State.RUNNING:
        print(f"collection {run.id} still RUNNING after {timeout_seconds:.0f} s", file=sys.stderr)
        return EXIT_TIMED_OUT
    return EXIT_CODES.get(run.state, 1)
