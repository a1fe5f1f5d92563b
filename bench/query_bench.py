"""The query service's benchmark: every summary route through Envoy, warm and cold, against the
seeds' way (a GROUP BY over all posts per request) and Envoy's own floor, at each data size.

    .venv/bin/python -m bench.query_bench --posts 10000 --posts 1000000

For each size it creates its own PostgreSQL database (dropped at the end), bulk-loads the
posts (bench/dataset.py), and starts query, collector and Envoy as `make run` does (Envoy
with one worker, its local rate limit lifted). Then it drives each route with wrk, 16
connections, then one, the sizes taking turns so that whatever else runs on the machine
weighs on both alike; each measurement is repeated and the best run kept.

Warm: the answer is cached. Cold with 16 clients: a side thread retires the cached answers
(the same Redis script as InvalidateAggregates) every millisecond, so requests are computed
from the rollups; the share that really missed is read from the service's metrics and
reported. Cold with one client: each request follows an InvalidateAggregates call.
The results go to bench/results.json; bench/report.py puts them into BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import grpc
import httpx
import psycopg
import redis
from sqlalchemy import create_engine, text

from bench.dataset import bulk_load, generate, psycopg_url
from tagpulse.migrate import upgrade
from tagpulse.v1 import query_service_pb2, query_service_pb2_grpc
from tagpulse_query.cache import INVALIDATE_SCRIPT
from tests.support.processes import ROOT, Stack

ROUTES = {
    "users:top": "/v1/users:top",
    "users:top #devops": "/v1/users:top?hashtag=devops",
    "countByHour HOUR_OF_DAY Asia/Kolkata": "/v1/posts:countByHour?timeZone=Asia/Kolkata",
    "countByHour TIMELINE America/New_York": "/v1/posts:countByHour?mode=TIMELINE&timeZone=America/New_York",
    "countByHashtag": "/v1/posts:countByHashtag",
    "countByHashtag #devops": "/v1/posts:countByHashtag?hashtag=devops",
}
FLOOR = "/envoy/ping"
# The seeds' way: each summary as one GROUP BY over every post, as the first version did.
SEEDS = {
    "users:top": """
        SELECT u.source, u.id, u.username, u.display_name, u.followers_count, u.location, u.country_code,
               count(*) AS posts
        FROM posts p JOIN users u ON u.source = p.source AND u.id = p.author_id
        GROUP BY u.source, u.id ORDER BY u.followers_count DESC, u.source, u.id LIMIT 5""",
    "users:top #devops": """
        SELECT u.source, u.id, u.username, u.display_name, u.followers_count, u.location, u.country_code,
               count(*) AS posts
        FROM posts p JOIN post_hashtags h ON h.source = p.source AND h.post_id = p.id AND h.hashtag = 'devops'
        JOIN users u ON u.source = p.source AND u.id = p.author_id
        GROUP BY u.source, u.id ORDER BY u.followers_count DESC, u.source, u.id LIMIT 5""",
    "countByHour HOUR_OF_DAY Asia/Kolkata": """
        SELECT extract(hour FROM created_at AT TIME ZONE 'Asia/Kolkata') AS hour, count(*)
        FROM posts GROUP BY 1 ORDER BY 1""",
    "countByHour TIMELINE America/New_York": """
        SELECT date_trunc('hour', created_at AT TIME ZONE 'America/New_York') AS hour, count(*)
        FROM posts GROUP BY 1 ORDER BY 1""",
    "countByHashtag": """
        SELECT h.hashtag, p.language, p.country_code, count(*) AS n
        FROM post_hashtags h JOIN posts p ON p.source = h.source AND p.id = h.post_id
        GROUP BY 1, 2, 3 ORDER BY n DESC""",
    "countByHashtag #devops": """
        SELECT h.hashtag, p.language, p.country_code, count(*) AS n
        FROM post_hashtags h JOIN posts p ON p.source = h.source AND p.id = h.post_id
        WHERE h.hashtag = 'devops' GROUP BY 1, 2, 3 ORDER BY n DESC""",
}
RESULTS_BEGIN, RESULTS_END = "<!-- results:begin -->", "<!-- results:end -->"


@dataclass
class Run:
    """One wrk run: requests/s and latency percentiles in milliseconds."""

    requests_per_second: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int
    # Of the requests that reached the query service: the share answered by computing.
    miss_share: float | None = None


@dataclass
class RouteResult:
    route: str
    path: str
    response_bytes: int
    warm16: Run
    warm1: Run
    cold16: Run
    cold1: Run
    seeds16_rps: float
    seeds1_p50_ms: float
    seeds1_p99_ms: float


_DURATION = re.compile(r"([\d.]+)(us|ms|s)\b")


def _ms(value: str) -> float:
    match = _DURATION.fullmatch(value.strip())
    assert match, value
    number, unit = float(match.group(1)), match.group(2)
    return number / 1000 if unit == "us" else number * 1000 if unit == "s" else number


def wrk(url: str, connections: int, seconds: int) -> Run:
    threads = 2 if connections > 1 else 1
    out = subprocess.run(
        ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{seconds}s", "--latency", url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    percentiles = dict(re.findall(r"^\s+(50|99)%\s+(\S+)$", out, re.MULTILINE))
    total = re.search(r"(\d+) requests in", out)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if not (total and rps and percentiles):
        raise RuntimeError(f"unexpected wrk output:\n{out}")
    return Run(
        requests_per_second=float(rps.group(1)),
        p50_ms=_ms(percentiles["50"]),
        p99_ms=_ms(percentiles["99"]),
        requests=int(total.group(1)),
        errors=(int(errors.group(1)) if errors else 0)
        + (sum(map(int, socket_errors.groups())) if socket_errors else 0),
    )


def _rps(run: Run) -> float:
    return run.requests_per_second


def _p50(run: Run) -> float:
    return run.p50_ms


def cache_counts(stack: Stack) -> dict[str, float]:
    metrics = httpx.get(f"http://127.0.0.1:{stack.query_metrics_port}/metrics").text
    counts: dict[str, float] = {}
    for result in ("hit", "miss", "error"):
        counts[result] = sum(
            float(line.rsplit(" ", 1)[1])
            for line in metrics.splitlines()
            if line.startswith("tagpulse_cache_requests_total{") and f'result="{result}"' in line
        )
    return counts


@contextmanager
def retiring_answers(redis_url: str, prefix: str) -> Iterator[None]:
    """Bump the cache generation continuously, as InvalidateAggregates does, so that every
    request finds nothing cached."""
    client = redis.Redis.from_url(redis_url)
    bump = client.register_script(INVALIDATE_SCRIPT)
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            bump(keys=[f"{prefix}generation"])
            time.sleep(0.001)

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        client.close()


def measured(stack: Stack, url: str, connections: int, seconds: int, cold: bool, redis_url: str) -> Run:
    before = cache_counts(stack)
    if cold:
        with retiring_answers(redis_url, stack.redis_prefix):
            run = wrk(url, connections, seconds)
    else:
        run = wrk(url, connections, seconds)
    after = cache_counts(stack)
    looked_up = sum(after.values()) - sum(before.values())
    computed = (after["miss"] - before["miss"]) + (after["error"] - before["error"])
    run.miss_share = round(computed / looked_up, 4) if looked_up else None
    return run


def cold_one_client(stack: Stack, url: str, seconds: int) -> Run:
    """One client, each request right after InvalidateAggregates (called on the query service
    as the collector calls it, not timed): every request is computed from the rollups. The
    client is httpx, not wrk, since wrk cannot make the call in between."""
    before = cache_counts(stack)
    latencies: list[float] = []
    errors = 0
    with grpc.insecure_channel(stack.query_address) as channel, httpx.Client() as client:
        stub = query_service_pb2_grpc.QueryServiceStub(channel)
        token = [("authorization", f"Bearer {stack.api_token}")]
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            stub.InvalidateAggregates(
                query_service_pb2.InvalidateAggregatesRequest(reason="bench"), metadata=token
            )
            started = time.perf_counter()
            response = client.get(url)
            latencies.append((time.perf_counter() - started) * 1000)
            errors += response.status_code != 200
    after = cache_counts(stack)
    looked_up = sum(after.values()) - sum(before.values())
    latencies.sort()
    return Run(
        requests_per_second=round(1000 * len(latencies) / sum(latencies), 2),
        p50_ms=round(statistics.median(latencies), 3),
        p99_ms=round(latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))], 3),
        requests=len(latencies),
        errors=errors,
        miss_share=round((after["miss"] - before["miss"]) / looked_up, 4) if looked_up else None,
    )


def seeds_way(database_url: str, sql: str, seconds: int) -> tuple[float, float, float]:
    """(requests/s with 16 concurrent clients, p50 ms and p99 ms of one client alone)."""
    dsn = psycopg_url(database_url)
    latencies: list[float] = []
    with psycopg.connect(dsn) as connection:
        connection.execute(sql).fetchall()  # warm the buffers, as the service's answers are
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline or len(latencies) < 5:
            started = time.perf_counter()
            connection.execute(sql).fetchall()
            latencies.append((time.perf_counter() - started) * 1000)
    done = [0]
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds

    def client() -> None:
        with psycopg.connect(dsn) as connection:
            while time.monotonic() < stop_at:
                connection.execute(sql).fetchall()
                with lock:
                    done[0] += 1

    started = time.monotonic()
    threads = [threading.Thread(target=client) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    latencies.sort()
    return (
        done[0] / elapsed,
        statistics.median(latencies),
        latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
    )


def rollup_rows(database_url: str) -> dict[str, int]:
    tables = (
        "posts", "post_hashtags", "users", "post_counts_by_bucket", "hashtag_post_counts_by_bucket",
        "hashtag_language_country_counts", "user_hashtag_counts",
    )  # fmt: skip
    with psycopg.connect(psycopg_url(database_url)) as connection:
        return {t: int(connection.execute(f"SELECT count(*) FROM {t}").fetchone()[0]) for t in tables}  # type: ignore[index]


@dataclass
class Deployment:
    posts: int
    database_url: str
    stack: Stack
    load_seconds: float


@contextmanager
def deployment(posts: int, server_url: str, redis_url: str, workdir: Path) -> Iterator[Deployment]:
    """A database of its own with `posts` loaded, and the stack in front of it; removed after."""
    name = f"tagpulse_bench_{os.getpid()}_{posts}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    database_url = f"{server_url.rsplit('/', 1)[0]}/{name}"
    stack: Stack | None = None
    try:
        upgrade(database_url)
        started = time.monotonic()
        bulk_load(database_url, generate(posts))
        load_seconds = time.monotonic() - started
        print(f"[{posts}] loaded in {load_seconds:.0f} s", flush=True)
        workdir.mkdir(parents=True, exist_ok=True)
        stack = Stack(
            database_url=database_url,
            redis_url=redis_url,
            redis_prefix=f"tagpulse-bench-{uuid.uuid4().hex[:12]}:",
            api_token=f"bench-{uuid.uuid4().hex}",
            workdir=workdir,
            extra_env={"TAGPULSE_LOG_LEVEL": "WARNING"},
            gateway_options=("--rate-limit-per-second", "1000000", "--rate-limit-burst", "1000000"),
        ).start()
        yield Deployment(posts, database_url, stack, load_seconds)
    finally:
        if stack is not None:
            stack.stop()
            client = redis.Redis.from_url(redis_url)
            keys = list(client.scan_iter(match=f"{stack.redis_prefix}*", count=1000))
            if keys:
                client.delete(*keys)
            client.close()
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


PHASES = ("warm16", "warm1", "cold16", "cold1")


def measure(dep: Deployment, url: str, phase: str, seconds: int, redis_url: str) -> Run:
    if phase == "cold1":
        return cold_one_client(dep.stack, url, seconds)
    return measured(
        dep.stack, url, 16 if phase.endswith("16") else 1, seconds, phase.startswith("cold"), redis_url
    )


def bench(deps: list[Deployment], redis_url: str, seconds: int, repeat: int) -> list[dict[str, object]]:
    """Every measurement `repeat` times, the sizes taking turns, so that the load other people
    put on the machine falls on every size alike; the best run of each is kept."""
    floors: dict[int, dict[str, list[Run]]] = {d.posts: {"floor16": [], "floor1": []} for d in deps}
    runs: dict[tuple[int, str, str], list[Run]] = {}
    for _ in range(repeat):
        for dep in deps:
            floors[dep.posts]["floor16"].append(wrk(dep.stack.rest_url + FLOOR, 16, seconds))
            floors[dep.posts]["floor1"].append(wrk(dep.stack.rest_url + FLOOR, 1, seconds))
    for route, path in ROUTES.items():
        for dep in deps:
            response = httpx.get(dep.stack.rest_url + path, timeout=60)
            assert response.status_code == 200, response.text
        for _ in range(repeat):
            for phase in PHASES:
                for dep in deps:
                    run = measure(dep, dep.stack.rest_url + path, phase, seconds, redis_url)
                    runs.setdefault((dep.posts, route, phase), []).append(run)
        print(f"{route}: measured", flush=True)
    sizes = []
    for dep in deps:
        results = []
        for route, path in ROUTES.items():
            seeds16_rps, seeds1_p50_ms, seeds1_p99_ms = seeds_way(dep.database_url, SEEDS[route], seconds)
            best = {
                phase: _best(runs[(dep.posts, route, phase)], by_latency=phase == "cold1") for phase in PHASES
            }
            results.append(
                RouteResult(
                    route=route,
                    path=path,
                    response_bytes=len(httpx.get(dep.stack.rest_url + path, timeout=60).content),
                    warm16=best["warm16"],
                    warm1=best["warm1"],
                    cold16=best["cold16"],
                    cold1=best["cold1"],
                    seeds16_rps=seeds16_rps,
                    seeds1_p50_ms=seeds1_p50_ms,
                    seeds1_p99_ms=seeds1_p99_ms,
                )
            )
            print(f"[{dep.posts}] {json.dumps(asdict(results[-1]))}", flush=True)
        sizes.append(
            {
                "posts": dep.posts,
                "load_seconds": round(dep.load_seconds, 1),
                "rows": rollup_rows(dep.database_url),
                "floor16": asdict(max(floors[dep.posts]["floor16"], key=_rps)),
                "floor1": asdict(max(floors[dep.posts]["floor1"], key=_rps)),
                "routes": [asdict(r) for r in results],
            }
        )
    return sizes


def _best(runs: list[Run], by_latency: bool) -> Run:
    best = min(runs, key=_p50) if by_latency else max(runs, key=_rps)
    best.errors = sum(r.errors for r in runs)
    return best


def machine() -> dict[str, str]:
    lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    fields = dict(line.split(":", 1) for line in lscpu.splitlines() if ":" in line)
    with open("/proc/meminfo") as meminfo:
        memory_kb = int(meminfo.readline().split()[1])
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT)
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": f"{fields.get('Model name', '?').strip()}, {fields.get('CPU(s)', '?').strip()} CPUs"
        f" ({fields.get('Hypervisor vendor', 'bare metal').strip()} guest)",
        "memory": f"{memory_kb / 1024 / 1024:.1f} GiB",
        "python": platform.python_version(),
        "commit": commit.stdout.strip(),
        "load_before": open("/proc/loadavg").read().split()[0],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, action="append", help="stored posts (repeatable)")
    parser.add_argument("--seconds", type=int, default=5, help="length of each wrk run")
    parser.add_argument("--repeat", type=int, default=3, help="wrk runs per measurement; the best is kept")
    parser.add_argument("--database-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--json", type=Path, default=ROOT / "bench" / "results.json")
    args = parser.parse_args()
    report: dict[str, object] = {"machine": {**machine(), "seconds": args.seconds, "repeat": args.repeat}}
    with ExitStack() as stack:
        deps = [
            stack.enter_context(
                deployment(posts, args.database_url, args.redis_url, Path("var") / "bench" / str(posts))
            )
            for posts in args.posts or [10_000, 1_000_000]
        ]
        report["sizes"] = bench(deps, args.redis_url, args.seconds, args.repeat)
    args.json.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.json}; render it with: python -m bench.report")


if __name__ == "__main__":
    main()
