"""Where a warm answer's CPU goes in the query process: py-spy samples it while wrk asks one
small summary through Envoy with 16 connections, and the samples are summed by part (the gRPC
server's C core and asyncio loop, the interceptor, the servicer, the cache, protobuf, logging…).

    .venv/bin/python -m bench.warm_profile                    # users:top, 100,000 posts, 20 s
    .venv/bin/python -m bench.warm_profile --path '/v1/posts:countByHashtag?pageSize=1000' --connections 1

Prints a table (share of the samples per part, and the functions that take the most); the
reading goes into BENCHMARKS.md by hand. Needs py-spy (requirements/dev.txt, installed beside
the interpreter) and root, or ptrace permission over the query process.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path

import httpx

from bench.query_bench import deployment, wrk

# A sampled stack is counted under the first part whose marker one of its frames contains,
# looking from the innermost frame outwards (markers are file paths or function names).
PARTS = (
    ("protobuf: parse and encode", ("google/protobuf", "SerializeToString", "FromString")),
    ("cache (near cache, Redis lookup)", ("tagpulse_query/cache.py", "redis/")),
    ("servicer: validation and cache key", ("tagpulse_query/servicer.py", "tagpulse_query/validation.py")),
    ("metrics (prometheus_client)", ("prometheus_client",)),
    ("tracing (OpenTelemetry)", ("opentelemetry",)),
    ("interceptor (token, errors, timing)", ("tagpulse/grpc_interceptors.py",)),
    ("logging", ("logging/", "tagpulse/logs.py")),
    ("gRPC server (grpc.aio, Cython)", ("grpc/", "grpc_aio", "_cython", "cygrpc")),
    ("asyncio event loop", ("asyncio/",)),
)


def part_of(stack: list[str]) -> str:
    for frame in reversed(stack):
        for name, markers in PARTS:
            if any(marker in frame for marker in markers):
                return name
    return "other (idle threads, the interpreter)"


def thread_cpu(pid: int) -> dict[str, float]:
    """User + system CPU seconds of each thread of `pid`, by thread name (and id)."""
    ticks = os.sysconf("SC_CLK_TCK")
    found = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
            name = (task / "comm").read_text().strip()
        except OSError:
            continue  # the thread ended
        found[f"{name} ({task.name})"] = (int(fields[11]) + int(fields[12])) / ticks
    return found


def _load(url: str, connections: int, seconds: int) -> None:
    # wrk's own figures are not what this measures (py-spy slows the process down).
    with contextlib.suppress(KeyError, subprocess.CalledProcessError):
        wrk(url, connections, seconds)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=100_000)
    parser.add_argument("--path", default="/v1/users:top")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--database-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    args = parser.parse_args()
    raw = Path("var") / "bench" / "warm_profile.txt"
    with deployment(args.posts, args.database_url, args.redis_url, Path("var") / "bench" / "profile") as dep:
        url = dep.stack.rest_url + args.path
        assert httpx.get(url, timeout=60).status_code == 200  # warm
        assert dep.stack.query.popen is not None
        pid = dep.stack.query.popen.pid
        load = threading.Thread(target=_load, args=(url, args.connections, args.seconds + 4), daemon=True)
        load.start()
        before = thread_cpu(pid)
        subprocess.run(
            [
                str(Path(sys.executable).with_name("py-spy")), "record",
                "--pid", str(pid), "--duration", str(args.seconds),
                "--format", "raw", "--output", str(raw), "--rate", "200", "--threads", "--native",
            ],
            check=True,
            capture_output=True,
        )  # fmt: skip
        spent = {name: cpu - before.get(name, 0.0) for name, cpu in thread_cpu(pid).items()}
        load.join()
    parts: Counter[str] = Counter()
    functions: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack_text, _, count_text = line.rpartition(" ")
        stack = stack_text.split(";")
        # The event loop's thread; the others (gRPC's poller, the worker threads, the metrics
        # server) are mostly waiting, and their CPU is in the per-thread table below.
        if not stack_text or "MainThread" not in stack[0]:
            continue
        if any("EpollSelector.select" in frame for frame in stack):
            continue  # the loop waiting for work
        count = int(count_text)
        total += count
        parts[part_of(stack)] += count
        functions[next((f for f in reversed(stack) if "(libc" not in f), stack[-1])] += count
    print(f"{args.path}, {args.connections} connections")
    print("\nCPU of the query process's threads over the run (/proc), seconds:")
    for name, seconds in sorted(spent.items(), key=lambda item: -item[1]):
        print(f"  {seconds:6.2f}  {name}")
    print(f"\nthe event loop's thread, {total} busy samples:\n| part | share |\n|---|---:|")
    for name, count in parts.most_common():
        print(f"| {name} | {100 * count / total:.0f}% |")
    print("\nfunctions taking the most (innermost Python or library frame):")
    for name, count in functions.most_common(15):
        print(f"  {100 * count / total:5.1f}%  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
