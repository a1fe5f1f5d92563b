"""Every read through Envoy, against a brute-force recount of the rows the test stored; the
cache retired by a collection; and a Redis that stops mid-test changing no answer."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import httpx
import pytest
from google.protobuf.message import Message
from sqlalchemy import Engine, func, select, update

from tagpulse.db.engine import create_database_engine
from tagpulse.db.models import Hashtag, Post
from tagpulse.v1 import query_service_pb2 as pb
from tagpulse.v1 import query_service_pb2_grpc
from tests.integration.brute_force import hour_of_day_counts, local_hour_counts, stored
from tests.support.collections import collect
from tests.support.polling import wait_until
from tests.support.private_redis import PrivateRedis
from tests.support.processes import Stack
from tests.support.random_posts import WINDOW_START, random_data

ZONES = ("Asia/Kolkata", "Asia/Kathmandu", "America/New_York")


def get(stack: Stack, path: str, **params: Any) -> Any:
    response = httpx.get(f"{stack.rest_url}{path}", params=params, timeout=30)
    assert response.status_code == 200, (path, params, response.text)
    return response.json()


def every_count(stack: Stack) -> list[dict[str, Any]]:
    """Every row of posts:countByHashtag, pages of 100 (the default) followed to the last; each
    page's totals are those of all the rows."""
    rows: list[dict[str, Any]] = []
    totals = set()
    token = ""
    while True:
        answer = get(stack, "/v1/posts:countByHashtag", pageToken=token)
        rows.extend(answer["counts"])
        totals.add((answer["totalSize"], int(answer["totalPosts"])))
        token = answer["nextPageToken"]
        if not token:
            break
    assert totals == {(len(rows), sum(int(c["postCount"]) for c in rows))}
    return rows


@pytest.fixture
def engine_of() -> Iterator[Callable[[Stack], Engine]]:
    engines: list[Engine] = []

    def make(stack: Stack) -> Engine:
        engines.append(create_database_engine(stack.database_url))
        return engines[-1]

    yield make
    for engine in engines:
        engine.dispose()


def listed_posts(stack: Stack, page_size: int, **filters: Any) -> list[dict[str, Any]]:
    posts: list[dict[str, Any]] = []
    token = ""
    while True:
        page = get(stack, "/v1/posts", pageSize=page_size, pageToken=token, **filters)
        posts.extend(page["posts"])
        token = page["nextPageToken"]
        if not token:
            return posts


def check_every_read(stack: Stack, engine: Engine) -> None:
    """Each read equals a recount of the posts, users and rollups stored right now."""
    posts, tags, users = stored(engine)
    newest_first = sorted(posts, key=lambda p: (-p.created_at.timestamp(), p.source, p.id))
    got = listed_posts(stack, 97)
    assert [(p["source"], p["id"]) for p in got] == [(p.source, p.id) for p in newest_first]
    first = got[0]
    assert get(stack, f"/v1/posts/{first['id']}", source=first["source"]) == first
    assert first["hashtags"] == sorted(tags.get((first["source"], first["id"]), ()))
    assert datetime.fromisoformat(first["createTime"]) == newest_first[0].created_at

    in_kolkata = listed_posts(stack, 1000, hashtag="#DevOps", countryCode="in")
    assert [(p["source"], p["id"]) for p in in_kolkata] == [
        (p.source, p.id)
        for p in newest_first
        if "devops" in tags.get((p.source, p.id), ()) and p.country_code == "IN"
    ]

    by_followers = get(stack, "/v1/users", pageSize=1000)["users"]
    assert [(u["source"], u["id"]) for u in by_followers] == sorted(
        users, key=lambda key: (-users[key].followers_count, key)
    )
    posts_per_user = Counter((p.source, p.author_id) for p in posts)
    assert all(int(u["postCount"]) == posts_per_user[(u["source"], u["id"])] for u in by_followers)

    top = get(stack, "/v1/users:top", limit=7, hashtag="sre")["users"]
    with_sre = {(p.source, p.author_id) for p in posts if "sre" in tags.get((p.source, p.id), ())}
    assert [(u["source"], u["id"]) for u in top] == sorted(
        with_sre, key=lambda key: (-users[key].followers_count, key)
    )[:7]

    for zone in ZONES:
        by_hour = get(stack, "/v1/posts:countByHour", timeZone=zone)
        assert [int(h["postCount"]) for h in by_hour["hours"]] == hour_of_day_counts(posts, tags, zone, None)
        assert int(by_hour["totalPosts"]) == len(posts)
    timeline = get(
        stack, "/v1/posts:countByHour", mode="TIMELINE", timeZone="America/New_York", hashtag="oauth"
    )
    expected = local_hour_counts(posts, tags, "America/New_York", "oauth")
    assert {
        datetime.fromisoformat(h["hourStartTime"]): int(h["postCount"])
        for h in timeline["hours"]
        if h["postCount"] != "0"
    } == {hour: n for hour, n in expected.items() if n}
    # 1:00 happens twice in New York on 2026-11-01: two rows, with their own offsets.
    repeated = [
        h["localHourStart"] for h in timeline["hours"] if h["localHourStart"].startswith("2026-11-01T01:")
    ]
    assert repeated == ["2026-11-01T01:00:00-04:00", "2026-11-01T01:00:00-05:00"]

    counts = every_count(stack)
    assert {(c["hashtag"], c["language"], c["countryCode"]): int(c["postCount"]) for c in counts} == Counter(
        (t, p.language, p.country_code) for p in posts for t in tags.get((p.source, p.id), ())
    )

    figures = get(stack, "/v1/stats")
    assert int(figures["posts"]) == len(posts)
    assert int(figures["users"]) == len(users)
    stored_by_source = Counter(p.source for p in posts)
    assert {s["source"]: int(s["postsStored"]) for s in figures["sources"]} == stored_by_source


def test_every_read_equals_a_recount(
    start_stack: Callable[..., Stack], engine_of: Callable[[Stack], Engine]
) -> None:
    stack = start_stack()
    engine = engine_of(stack)
    random_data(seed=21, posts=900).ingest(engine)
    with engine.begin() as connection:
        hashtags = Hashtag.table()
        connection.execute(update(hashtags).where(hashtags.c.name == "sre").values(tracked=True))
    fresh_json = {path: get(stack, path) for path in READS}
    fresh_grpc = grpc_answers(stack)
    check_every_read(stack, engine)
    # Twice: the second time every answer comes from the cache.
    near_hits = metric(stack, "tagpulse_cache_near_hits_total")
    check_every_read(stack, engine)
    # Cached answers are sent as the bytes stored (issue 15): Envoy's JSON and a gRPC client's
    # message are those of the fresh answers, and they came from the near cache.
    assert {path: get(stack, path) for path in READS} == fresh_json
    assert grpc_answers(stack) == fresh_grpc
    assert metric(stack, "tagpulse_cache_near_hits_total") >= near_hits + len(READS)

    _, tags, _ = stored(engine)
    listed = get(stack, "/v1/hashtags")["hashtags"]
    assert [(h["name"], h["tracked"], int(h["postCount"])) for h in listed] == [
        ("sre", True, sum("sre" in t for t in tags.values()))
    ]
    assert httpx.get(f"{stack.rest_url}/v1/posts/nope").status_code == 404


def test_a_collection_retires_every_cached_answer(
    start_stack: Callable[..., Stack], engine_of: Callable[[Stack], Engine]
) -> None:
    stack = start_stack()
    engine = engine_of(stack)
    random_data(seed=22, posts=300, start=WINDOW_START).ingest(engine)
    before = {path: get(stack, path) for path in READS}
    assert int(before["/v1/stats"]["posts"]) == 300

    run = collect(stack.rest_url, stack.api_token, {"hashtags": ["devops", "sre"], "maxPostsPerHashtag": 60})
    assert run["state"] == "SUCCEEDED"
    after = {path: get(stack, path) for path in READS}
    for path in READS:
        assert after[path] != before[path], path
    check_every_read(stack, engine)
    assert {h["name"] for h in after["/v1/hashtags"]["hashtags"]} >= {"devops", "sre"}
    assert [r["hashtag"] for r in after["/v1/stats"]["lastSuccessfulRuns"]] == ["devops", "sre"]


READS = (
    "/v1/posts",
    "/v1/users",
    "/v1/hashtags",
    "/v1/stats",
    "/v1/users:top",
    "/v1/posts:countByHour",
    "/v1/posts:countByHashtag",
)


def grpc_answers(stack: Stack) -> list[Message]:
    """A few summaries asked of the query process over gRPC, decoded by the generated client."""
    with grpc.insecure_channel(stack.query_address) as channel:
        stub = query_service_pb2_grpc.QueryServiceStub(channel)
        return [
            stub.CountPostsByHashtag(pb.CountPostsByHashtagRequest(page_size=1000), timeout=30),
            stub.ListTopUsers(pb.ListTopUsersRequest(limit=7, hashtag="sre"), timeout=30),
            stub.CountPostsByHour(pb.CountPostsByHourRequest(time_zone="Asia/Kolkata"), timeout=30),
        ]


def metric(stack: Stack, name: str) -> float:
    text = httpx.get(f"http://127.0.0.1:{stack.query_metrics_port}/metrics").text
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name))


def test_redis_stopping_mid_test_changes_no_answer(
    start_stack: Callable[..., Stack],
    engine_of: Callable[[Stack], Engine],
    private_redis: PrivateRedis,
) -> None:
    stack = start_stack(TAGPULSE_REDIS_URL=private_redis.url, TAGPULSE_REDIS_TIMEOUT_SECONDS="0.2")
    engine = engine_of(stack)
    random_data(seed=23, posts=400).ingest(engine)
    check_every_read(stack, engine)
    check_every_read(stack, engine)
    assert metric(stack, 'tagpulse_cache_requests_total{result="hit"') > 0

    private_redis.kill()
    # New posts while Redis is down: no invalidation can reach it, the answers must follow
    # the database anyway (at once, or within the watch's second if Redis vanished silently).
    random_data(seed=24, posts=200, first_id=100_000).ingest(engine)
    with engine.connect() as connection:
        total = connection.execute(select(func.count()).select_from(Post.table())).scalar_one()
    wait_until(
        lambda: int(get(stack, "/v1/stats")["posts"]) == total,
        message="answers from the database while Redis is down",
        timeout=10,
        interval=0.1,
    )
    check_every_read(stack, engine)
    assert metric(stack, 'tagpulse_cache_requests_total{result="error"') > 0
    assert metric(stack, "tagpulse_cache_errors_total") > 0
    assert "redis unavailable, answering from the database" in stack.query.log()
    stack.query.assert_running()


def test_time_windows_through_envoy(
    start_stack: Callable[..., Stack], engine_of: Callable[[Stack], Engine]
) -> None:
    stack = start_stack()
    engine = engine_of(stack)
    random_data(seed=25, posts=500).ingest(engine)
    posts, tags, _ = stored(engine)
    start = WINDOW_START + timedelta(hours=50, minutes=22, seconds=5)
    end = start + timedelta(hours=9, minutes=50)
    window = {
        "startTime": start.isoformat().replace("+00:00", "Z"),
        "endTime": end.isoformat().replace("+00:00", "Z"),
    }
    for zone in ZONES:
        answer = get(stack, "/v1/posts:countByHour", timeZone=zone, mode="TIMELINE", **window)
        expected = local_hour_counts(posts, tags, zone, None, start, end)
        got = {
            datetime.fromisoformat(h["hourStartTime"]).astimezone(UTC): int(h["postCount"])
            for h in answer["hours"]
        }
        assert {k: v for k, v in got.items() if v} == {k: v for k, v in expected.items() if v}
    listed = listed_posts(stack, 50, **window)
    assert {(p["source"], p["id"]) for p in listed} == {
        (p.source, p.id) for p in posts if start <= p.created_at < end
    }
