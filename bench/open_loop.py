"""An open-loop HTTP/1.1 load generator at a constant rate, in the manner of wrk2: request i is due
at start + i/rate whatever happened to the ones before, and its latency is counted from that
due time, not from when a connection was free to send it, so a stall is charged to every
request it delays (no coordinated omission).

    python -m bench.open_loop SPEC.json     # prints the result as JSON on stdout

SPEC: {"host", "port", "targets": [paths, used in turn], "rate", "requests", "connections",
"timeout"}. It runs in a process of its own (bench/load_bench.py starts it), on plain asyncio
streams with a minimal HTTP/1.1 client (no httpx: its cost per request would be the bottleneck),
so 1,000 requests/s takes it about a quarter of one core. Its own cost and lateness are reported
with the results (`cpu_seconds`, `dispatch_late_ms_max`), and Envoy's /envoy/ping at the same
rate gives the floor.
"""

from __future__ import annotations

import asyncio
import json
import resource
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Result:
    rate: float
    requests: int
    completed: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    # Exceptions by kind: timeouts, resets, closed connections.
    failures: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    achieved_rate: float = 0.0
    # Latency from the due time (what a client at this rate sees), in milliseconds.
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    p999_ms: float = 0.0
    max_ms: float = 0.0
    # Latency from the moment the request was written (wrk's kind of figure), for comparison.
    service_p50_ms: float = 0.0
    service_p99_ms: float = 0.0
    service_p999_ms: float = 0.0
    # How late the dispatcher handed requests over, and the generator's own CPU time.
    dispatch_late_ms_max: float = 0.0
    cpu_seconds: float = 0.0
    connections_opened: int = 0
    # A few of the targets that got each 5xx status.
    server_error_samples: dict[str, list[str]] = field(default_factory=dict)


def percentile(sorted_values: list[float], share: float) -> float:
    if not sorted_values:
        return 0.0
    return sorted_values[min(len(sorted_values) - 1, int(len(sorted_values) * share))]


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """(status, keep-alive) after reading one whole response."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip().lower()
    if "content-length" in headers:
        await reader.readexactly(int(headers["content-length"]))
    elif headers.get("transfer-encoding") == "chunked":
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    return status, headers.get("connection") != "close"


class Generator:
    def __init__(self, spec: dict[str, Any]) -> None:
        self.host: str = spec["host"]
        self.port: int = spec["port"]
        self.targets: list[str] = spec["targets"]
        self.rate: float = spec["rate"]
        self.requests: int = spec["requests"]
        self.connections: int = spec.get("connections", 64)
        self.timeout: float = spec.get("timeout", 10.0)
        self.queue: asyncio.Queue[tuple[float, str] | None] = asyncio.Queue()
        self.latencies: list[float] = []
        self.service: list[float] = []
        self.statuses: Counter[str] = Counter()
        self.failures: Counter[str] = Counter()
        self.opened = 0
        self.late_max = 0.0
        self.server_errors: dict[str, list[str]] = {}

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        self.opened += 1
        return await asyncio.open_connection(self.host, self.port)

    async def worker(self) -> None:
        reader, writer = await self._connect()
        while (item := await self.queue.get()) is not None:
            due, target = item
            request = f"GET {target} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n\r\n".encode()
            sent = time.perf_counter()
            try:
                writer.write(request)
                status, keep_alive = await asyncio.wait_for(_read_response(reader), self.timeout)
            except (
                TimeoutError,
                OSError,
                asyncio.IncompleteReadError,
                asyncio.LimitOverrunError,
                ValueError,
            ) as e:
                self.failures[type(e).__name__] += 1
                writer.close()
                reader, writer = await self._connect()
                continue
            done = time.perf_counter()
            self.statuses[str(status)] += 1
            if status >= 500 and len(samples := self.server_errors.setdefault(str(status), [])) < 5:
                samples.append(target)
            self.latencies.append((done - due) * 1000)
            self.service.append((done - sent) * 1000)
            if not keep_alive:
                writer.close()
                reader, writer = await self._connect()
        writer.close()

    async def run(self) -> Result:
        workers = [asyncio.create_task(self.worker()) for _ in range(self.connections)]
        await asyncio.sleep(0.2)  # connections open before the clock starts
        cpu_before = resource.getrusage(resource.RUSAGE_SELF)
        start = time.perf_counter()
        interval = 1 / self.rate
        for i in range(self.requests):
            due = start + i * interval
            now = time.perf_counter()
            if due > now:
                await asyncio.sleep(due - now)
            else:
                self.late_max = max(self.late_max, now - due)
            self.queue.put_nowait((due, self.targets[i % len(self.targets)]))
            if i % 64 == 63:
                await asyncio.sleep(0)  # let the workers run even when the dispatcher is behind
        for _ in workers:
            self.queue.put_nowait(None)
        await asyncio.gather(*workers)
        seconds = time.perf_counter() - start
        cpu_after = resource.getrusage(resource.RUSAGE_SELF)
        latencies, service = sorted(self.latencies), sorted(self.service)
        return Result(
            rate=self.rate,
            requests=self.requests,
            completed=len(latencies),
            statuses=dict(sorted(self.statuses.items())),
            failures=dict(self.failures),
            seconds=round(seconds, 3),
            achieved_rate=round(len(latencies) / seconds, 1),
            p50_ms=round(percentile(latencies, 0.50), 3),
            p99_ms=round(percentile(latencies, 0.99), 3),
            p999_ms=round(percentile(latencies, 0.999), 3),
            max_ms=round(latencies[-1] if latencies else 0.0, 3),
            service_p50_ms=round(percentile(service, 0.50), 3),
            service_p99_ms=round(percentile(service, 0.99), 3),
            service_p999_ms=round(percentile(service, 0.999), 3),
            dispatch_late_ms_max=round(self.late_max * 1000, 3),
            cpu_seconds=round(
                (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime), 2
            ),
            connections_opened=self.opened,
            server_error_samples=self.server_errors,
        )


def main() -> None:
    with open(sys.argv[1]) as spec_file:
        spec = json.load(spec_file)
    result = asyncio.run(Generator(spec).run())
    json.dump(asdict(result), sys.stdout)


if __name__ == "__main__":
    main()
