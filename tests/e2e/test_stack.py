"""The whole slice: REST through Envoy to both services, PostgreSQL and Redis."""

from __future__ import annotations

import signal
from collections.abc import Callable
from typing import Any

import grpc
import httpx
import pytest
from alembic.script import ScriptDirectory
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from sqlalchemy import create_engine, func, select, text

from tagpulse.db.models import Post
from tagpulse.migrate import alembic_config
from tests.conftest import FAKE_X_TOKEN as X_TOKEN
from tests.support.collections import wait_for_run
from tests.support.fake_x import FakeXApi
from tests.support.policies import FAST_ENV
from tests.support.polling import wait_until
from tests.support.processes import Stack


@pytest.fixture
def stack(start_stack: Callable[..., Stack], fake_x: FakeXApi) -> Stack:
    # An X bearer token makes "x" the default source; X is the fake on loopback.
    return start_stack(TAGPULSE_X_BEARER_TOKEN=X_TOKEN, TAGPULSE_X_API_BASE_URL=fake_x.base_url, **FAST_ENV)


def collect(stack: Stack, body: dict[str, object] | None = None, token: str | None = "") -> httpx.Response:
    """POST /v1/collections: the answer comes at once, with the run RUNNING."""
    headers = {} if token is None else {"Authorization": f"Bearer {token or stack.api_token}"}
    return httpx.post(
        f"{stack.rest_url}/v1/collections", json=body or {"source": "sample"}, headers=headers, timeout=30
    )


def collect_and_wait(stack: Stack, body: dict[str, object] | None = None) -> dict[str, Any]:
    response = collect(stack, body)
    assert response.status_code == 200, response.text
    started = response.json()
    assert started["state"] == "RUNNING"
    return wait_for_run(stack.rest_url, started["id"])


def get(stack: Stack, path: str) -> httpx.Response:
    return httpx.get(f"{stack.rest_url}{path}", timeout=30)


def stored_posts(stack: Stack) -> int:
    engine = create_engine(stack.database_url)
    with engine.connect() as connection:
        count = connection.execute(select(func.count()).select_from(Post.table())).scalar_one()
    engine.dispose()
    return int(count)


def test_collect_then_summaries_add_up_and_a_second_run_changes_nothing(stack: Stack) -> None:
    # A cached answer from before any data must be retired by the collection.
    assert get(stack, "/v1/users:top").json() == {"users": []}

    first = collect(stack)
    assert first.status_code == 200, first.text
    started = first.json()
    # StartCollection answers at once: the run is RUNNING, its hashtags not done yet.
    assert started["state"] == "RUNNING"
    assert started["source"] == "sample"
    assert "endTime" not in started
    assert {h["state"] for h in started["hashtagFigures"]} <= {"PENDING", "RUNNING", "SUCCEEDED"}
    run = wait_for_run(stack.rest_url, started["id"])
    assert run["state"] == "SUCCEEDED"
    assert run["id"] == started["id"]
    assert {h["state"] for h in run["hashtagFigures"]} == {"SUCCEEDED"}
    figures = {k: int(v) for k, v in run["figures"].items()}
    assert figures["postsNew"] == stored_posts(stack) > 0
    assert figures["postsFetched"] == figures["postsNew"] + figures["postsDuplicate"]
    assert figures["postsDuplicate"] > 0

    top = get(stack, "/v1/users:top").json()["users"]
    assert len(top) == 5
    assert len({u["id"] for u in top}) == 5
    followers = [int(u["followersCount"]) for u in top]
    assert followers == sorted(followers, reverse=True)

    by_hour = get(stack, "/v1/posts:countByHour").json()
    assert [h["hourOfDay"] for h in by_hour["hours"]] == list(range(24))
    assert (
        sum(int(h["postCount"]) for h in by_hour["hours"])
        == int(by_hour["totalPosts"])
        == stored_posts(stack)
    )
    timeline = get(stack, "/v1/posts:countByHour?mode=TIMELINE&timeZone=Asia/Kolkata").json()
    assert int(timeline["totalPosts"]) == stored_posts(stack)
    assert all(h["localHourStart"].endswith("+05:30") for h in timeline["hours"])

    by_hashtag = get(stack, "/v1/posts:countByHashtag?pageSize=1000").json()["counts"]
    devops = get(stack, "/v1/posts:countByHashtag?hashtag=%23DevOps").json()["counts"]
    assert {c["hashtag"] for c in devops} == {"devops"}
    assert sorted(map(str, devops)) == sorted(str(c) for c in by_hashtag if c["hashtag"] == "devops")
    assert sum(int(c["postCount"]) for c in by_hashtag) >= stored_posts(stack)  # posts carry several hashtags

    summaries = [
        get(stack, path).json()
        for path in ("/v1/users:top", "/v1/posts:countByHour", "/v1/posts:countByHashtag")
    ]
    second = collect_and_wait(stack)
    assert int(second["figures"]["postsNew"]) == 0
    assert (
        second["figures"]["postsDuplicate"]
        == second["figures"]["postsFetched"]
        == run["figures"]["postsFetched"]
    )
    assert [
        get(stack, p).json() for p in ("/v1/users:top", "/v1/posts:countByHour", "/v1/posts:countByHashtag")
    ] == summaries

    listed = get(stack, "/v1/collections").json()["collections"]
    assert [c["id"] for c in listed] == [second["id"], run["id"]]
    assert get(stack, f"/v1/collections/{run['id']}").json() == run

    # A new hashtag: its answer was cached empty, and the collection retires it.
    assert get(stack, "/v1/users:top?hashtag=rustlang").json() == {"users": []}
    rust = collect_and_wait(stack, {"hashtags": ["rustlang"], "maxPostsPerHashtag": 20, "source": "sample"})
    assert rust["figures"]["postsNew"] == "20"
    assert len(get(stack, "/v1/users:top?hashtag=rustlang").json()["users"]) == 5


def test_mutations_need_the_token_and_secrets_stay_out_of_logs(stack: Stack) -> None:
    for token in (None, "wrong-token-123456"):
        response = collect(stack, token=token)
        assert response.status_code == 401
        assert response.json()["code"] == 16
    assert stored_posts(stack) == 0
    assert collect_and_wait(stack)["state"] == "SUCCEEDED"
    # Internal: not routed by Envoy, and needs the token on the service itself.
    assert httpx.post(f"{stack.rest_url}/v1/aggregates:invalidate", json={}).status_code == 404
    with grpc.insecure_channel(stack.query_address) as channel:
        invalidate = channel.unary_unary("/tagpulse.v1.QueryService/InvalidateAggregates")
        with pytest.raises(grpc.RpcError) as error:
            invalidate(b"", timeout=5)
        assert error.value.code() == grpc.StatusCode.UNAUTHENTICATED

    for process in stack.processes():
        log = process.log()
        assert stack.api_token not in log
        assert X_TOKEN not in log
        assert "wrong-token-123456" not in log


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/v1/users:top?limit=500", "limit"),
        ("/v1/users:top?hashtag=not%20a%20tag", "hashtag"),
        ("/v1/users:top?hashtag=%27%3B%20DROP%20TABLE%20posts%3B%20--", "hashtag"),
        ("/v1/posts:countByHour?timeZone=Mars/Olympus", "time_zone"),
        ("/v1/posts:countByHour?startTime=2026-01-02T00:00:00Z&endTime=2026-01-01T00:00:00Z", "start_time"),
        ("/v1/posts:countByHashtag?hashtag=%23", "hashtag"),
        ("/v1/collections?pageSize=1000", "page_size"),
        ("/v1/collections?pageToken=garbage", "page_token"),
        # A forged token: {"before_id": 999999999999999999999, "k": "collections"}
        (
            "/v1/collections?pageToken=eyJiZWZvcmVfaWQiOjk5OTk5OTk5OTk5OTk5OTk5OTk5OSwiayI6ImNvbGxlY3Rpb25zIn0",
            "page_token",
        ),
        ("/v1/collections/99999999999999999999999", "id"),
        ("/v1/posts?pageSize=1001", "page_size"),
        ("/v1/posts?pageToken=garbage", "page_token"),
        ("/v1/posts?language=en%00", "language"),
        ("/v1/posts?startTime=2026-01-02T00:00:00Z&endTime=2026-01-01T00:00:00Z", "start_time"),
        ("/v1/posts/%20", "id"),
        ("/v1/users?orderBy=name", "order_by"),
        ("/v1/users?pageSize=-5", "page_size"),
        ("/v1/hashtags?pageToken=e30", "page_token"),
    ],
)
def test_bad_input_is_a_400_with_field_details(stack: Stack, path: str, field: str) -> None:
    response = get(stack, path)
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["code"] == 3
    assert body["details"][0]["@type"] == "type.googleapis.com/google.rpc.BadRequest"
    assert [v["field"] for v in body["details"][0]["fieldViolations"]] == [field]


def test_other_errors_are_json_with_the_right_status(stack: Stack) -> None:
    cases = {
        "/v1/users:top?limt=3": 400,  # unknown parameter, rejected by Envoy
        "/v1/posts:countByHour?mode=WEEKLY": 400,
        "/v1/collections/424242": 404,
        "/v1/collections/abc": 400,
        "/v1/nothing/here": 404,
        "/v1/posts/123": 404,
        "/v1/posts?pageSize=abc": 400,
        "/v1/streams/424242": 404,
        "/v1/streams/abc": 400,
    }
    for path, status in cases.items():
        response = get(stack, path)
        assert response.status_code == status, (path, response.text)
        assert response.headers["content-type"] == "application/json", path
        assert {"code", "message"} <= set(response.json()), path
    response = collect(stack, {"hashtags": ["ok", "bad tag"], "maxPostsPerHashtag": 100000})
    assert response.status_code == 400
    assert {v["field"] for v in response.json()["details"][0]["fieldViolations"]} == {
        "hashtags[1]",
        "max_posts_per_hashtag",
    }


def test_reflection_health_and_metrics_on_both_services(stack: Stack) -> None:
    get(stack, "/v1/users:top?limit=0")
    get(stack, "/v1/users:top?limit=1000")
    for address, service, metrics_port in (
        (stack.query_address, "tagpulse.v1.QueryService", stack.query_metrics_port),
        (stack.collector_address, "tagpulse.v1.CollectorService", stack.collector_metrics_port),
    ):
        with grpc.insecure_channel(address) as channel:
            reflection = reflection_pb2_grpc.ServerReflectionStub(channel)
            responses = reflection.ServerReflectionInfo(
                iter([reflection_pb2.ServerReflectionRequest(list_services="")])
            )
            names = {s.name for r in responses for s in r.list_services_response.service}
            assert {service, "grpc.health.v1.Health"} <= names
            health = health_pb2_grpc.HealthStub(channel)
            for name in ("", service):
                status = health.Check(health_pb2.HealthCheckRequest(service=name), timeout=5).status
                assert status == health_pb2.HealthCheckResponse.SERVING
        metrics = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics").text
        assert "grpc_server_started_total" in metrics
        assert "grpc_server_handling_seconds_bucket" in metrics
    assert (
        'grpc_server_handled_total{grpc_code="INVALID_ARGUMENT",grpc_method="ListTopUsers",'
        'grpc_service="tagpulse.v1.QueryService",grpc_type="unary"} 1.0'
    ) in httpx.get(f"http://127.0.0.1:{stack.query_metrics_port}/metrics").text
    envoy_metrics = httpx.get(f"http://127.0.0.1:{stack.admin_port}/stats/prometheus").text
    assert "envoy_cluster_upstream_rq_total" in envoy_metrics


def test_sigterm_turns_health_off_then_stops_gracefully(stack: Stack) -> None:
    assert stack.query.popen is not None
    stack.query.popen.send_signal(signal.SIGTERM)
    popen = stack.query.popen
    wait_until(
        lambda: popen.poll() is not None, message="the query service to exit after SIGTERM", timeout=15
    )
    assert popen.returncode == 0
    messages = [line for line in stack.query.log().splitlines() if '"logger": "tagpulse.server"' in line]
    assert ['"message": "stopping"' in m for m in messages[-2:]] == [True, False]
    assert '"message": "stopped"' in messages[-1]
    # Envoy now answers 503 for the query routes, as JSON.
    response = get(stack, "/v1/users:top")
    assert response.status_code == 503
    assert response.json()["code"] == 14


def test_the_database_holds_no_test_leftovers_but_its_own(stack: Stack) -> None:
    engine = create_engine(stack.database_url)
    with engine.connect() as connection:
        version = connection.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
    engine.dispose()
    assert version == ScriptDirectory.from_config(alembic_config(stack.database_url)).get_current_head()
