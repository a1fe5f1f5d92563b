"""Warm answers through Envoy beside Envoy's own floor, in one sitting: the throughput of small
summaries with 16 connections, and single-client latency of CountPostsByHashtag pages.

    .venv/bin/python -m bench.warm_bench                 # 100,000 posts; about four minutes
    .venv/bin/python -m bench.warm_bench --out /tmp/B.md

The stack, data and wrk runs are `bench/query_bench.py`'s (one query process, Envoy with one
worker, its rate limit lifted). Every measurement runs `--repeat` times, the routes and the floor
taking turns, and the best run is kept; the section "warm answers" of BENCHMARKS.md is rewritten.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.query_bench import FLOOR, Run, deployment, machine, wrk
from bench.sections import replace_section
from tests.support.processes import ROOT

# Small answers (about 1–10 kB), asked by 16 clients at once.
THROUGHPUT = {
    "users:top": "/v1/users:top",
    "users:top #devops": "/v1/users:top?hashtag=devops",
    "countByHour HOUR_OF_DAY Asia/Kolkata": "/v1/posts:countByHour?timeZone=Asia/Kolkata",
    "countByHashtag #devops, first page (100 rows)": "/v1/posts:countByHashtag?hashtag=devops",
}
# Big answers, asked by one client.
LATENCY = {
    "countByHashtag, first page (100 rows)": "/v1/posts:countByHashtag",
    "countByHashtag, pageSize=1000": "/v1/posts:countByHashtag?pageSize=1000",
}
WARM_BEGIN, WARM_END = "<!-- warm:begin -->", "<!-- warm:end -->"
THROUGHPUT_TARGET = 3_000
PAGE_P50_TARGET_MS = 2.0


@dataclass
class Measured:
    name: str
    path: str
    answer_bytes: int
    best: Run


def _figures(run: Run) -> str:
    return f"{run.requests_per_second:,.0f} · {run.p50_ms:.2f} · {run.p99_ms:.2f}"


@dataclass(frozen=True)
class Cpu:
    """CPU time (user + system) per answer of one wrk run, in microseconds, per process."""

    query_us: float
    envoy_us: float


def _figures1(run: Run) -> str:
    return f"{run.p50_ms:.2f} · {run.p99_ms:.2f}"


def _cpu(cpu: Cpu) -> str:
    return f"{cpu.query_us:,.0f} · {cpu.envoy_us:,.0f}"


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process so far (/proc/PID/stat: utime and stime, in clock ticks)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measured_run(url: str, connections: int, seconds: int, pids: dict[str, int]) -> tuple[Run, Cpu]:
    """One wrk run, and what the query process and Envoy spent on each of its answers."""
    before = {name: cpu_seconds(pid) for name, pid in pids.items()}
    run = wrk(url, connections, seconds)
    spent = {name: cpu_seconds(pid) - before[name] for name, pid in pids.items()}
    per = 1e6 / max(run.requests, 1)
    return run, Cpu(spent["query"] * per, spent["envoy"] * per)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=100_000)
    parser.add_argument("--seconds", type=int, default=5, help="length of each wrk run")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--database-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--out", type=Path, default=ROOT / "BENCHMARKS.md")
    args = parser.parse_args()
    about = machine()
    with deployment(args.posts, args.database_url, args.redis_url, Path("var") / "bench" / "warm") as dep:
        base = dep.stack.rest_url
        plan = [(FLOOR, FLOOR, 16), (FLOOR + " ", FLOOR, 1)]
        plan += [(name, path, 16) for name, path in THROUGHPUT.items()]
        plan += [(name, path, 1) for name, path in LATENCY.items()]
        sizes = {}
        for name, path, _ in plan:
            response = httpx.get(base + path, timeout=60)  # warms the cache, too
            assert response.status_code == 200, response.text
            sizes[name] = len(response.content)
        assert dep.stack.query.popen is not None
        assert dep.stack.envoy.popen is not None
        pids = {"query": dep.stack.query.popen.pid, "envoy": dep.stack.envoy.popen.pid}
        runs: dict[str, list[tuple[Run, Cpu]]] = {name: [] for name, _, _ in plan}
        for _ in range(args.repeat):
            for name, path, connections in plan:
                runs[name].append(measured_run(base + path, connections, args.seconds, pids))
            print(f"round done: {len(runs[FLOOR])} of {args.repeat}", file=sys.stderr, flush=True)
    by_rps = {name: max(found, key=lambda r: r[0].requests_per_second) for name, found in runs.items()}
    by_p50 = {name: min(found, key=lambda r: r[0].p50_ms) for name, found in runs.items()}
    errors = sum(r.errors for found in runs.values() for r, _ in found)
    write_report(args, about, sizes, by_rps, by_p50, errors)
    return 0


def write_report(
    args: argparse.Namespace,
    about: dict[str, str],
    sizes: dict[str, int],
    by_rps: dict[str, tuple[Run, Cpu]],
    by_p50: dict[str, tuple[Run, Cpu]],
    errors: int,
) -> None:
    (floor16, floor16_cpu), (floor1, floor1_cpu) = by_rps[FLOOR], by_p50[FLOOR + " "]
    throughput = "\n".join(
        f"| {name} | {sizes[name]:,} | **{run.requests_per_second:,.0f}** · "
        f"{run.p50_ms:.2f} · {run.p99_ms:.2f} | {_cpu(cpu)} "
        f"| {'met' if run.requests_per_second >= THROUGHPUT_TARGET else '**missed**'} |"
        for name, (run, cpu) in ((name, by_rps[name]) for name in THROUGHPUT)
    )
    latency = "\n".join(
        f"| {name} | {sizes[name]:,} | **{run.p50_ms:.2f}** · {run.p99_ms:.2f} "
        f"| {_cpu(cpu)} | {'met' if run.p50_ms <= PAGE_P50_TARGET_MS else '**missed**'} |"
        for name, (run, cpu) in ((name, by_p50[name]) for name in LATENCY)
    )
    load = " ".join(f"{v:.2f}" for v in os.getloadavg())
    target16, target1 = f"≥ {THROUGHPUT_TARGET:,} req/s", f"p50 ≤ {PAGE_P50_TARGET_MS:g} ms"
    floor_bytes = f"{sizes[FLOOR]:,}"
    report = f"""{WARM_BEGIN}
# Benchmarks: warm answers through Envoy

Generated by `python -m bench.warm_bench` on {about["date"]} at commit `{about["commit"]}`:
{about["cpu"]}, {about["memory"]} RAM, Python {about["python"]}; load average {about["load_before"]} when
it started, {load} (1, 5, 15 min) when it ended: a shared machine. {args.posts:,} posts
(`bench/dataset.py`), the query service, collector and Envoy as `make run` starts them (one
process each, Envoy with one worker, its rate limit lifted), wrk through Envoy's REST port;
every figure is the best of {args.repeat} runs of {args.seconds} s, the routes and the floor taking turns.
CPU per answer is the process's user + system time over that run (/proc) divided by its answers:
what the query service (Python, gRPC) and Envoy (transcoding to JSON) each spend on one.

| 16 connections | answer bytes | req/s · p50 · p99 (ms) | CPU µs/answer: query · Envoy | {target16} |
|---|---:|---|---|---|
| Envoy's floor `{FLOOR}` (direct response) | {floor_bytes} | {_figures(floor16)} | {_cpu(floor16_cpu)} | – |
{throughput}

| 1 connection | answer bytes | p50 · p99 (ms) | CPU µs/answer: query · Envoy | {target1} |
|---|---:|---|---|---|
| Envoy's floor `{FLOOR}` | {floor_bytes} | {_figures1(floor1)} | {_cpu(floor1_cpu)} | – |
{latency}

Non-2xx responses and socket errors over all these runs: {errors}.
{WARM_END}"""
    replace_section(args.out, WARM_BEGIN, WARM_END, report)
    print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
