"""Start the real services and Envoy as processes on free loopback ports."""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import httpx
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.support.polling import wait_until

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


# Below Linux's ephemeral range (32768-60999): a port the kernel hands out for
# port 0 comes from that range, so any outgoing connection (to PostgreSQL, Redis,
# a fake API) could take it between this check and the server's bind.
_PORTS = range(20000, 32768)


# Ports handed out by this process: nothing binds them until later, so the bind check alone
# could hand out one port twice (an Envoy once got the same port for two listeners).
_handed_out: set[int] = set()


def free_port() -> int:
    for _ in range(200):
        port = random.choice(_PORTS)
        if port in _handed_out:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            _handed_out.add(port)
            return port
    raise RuntimeError("no free loopback port found")


@dataclass
class Process:
    name: str
    command: list[str]
    env: Mapping[str, str]
    log_path: Path
    popen: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def start(self) -> Process:
        self.log_file = self.log_path.open("wb")
        self.popen = subprocess.Popen(
            self.command,
            env={**os.environ, **self.env},
            stdout=self.log_file,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def assert_running(self) -> None:
        assert self.popen is not None
        if self.popen.poll() is not None:
            raise AssertionError(f"{self.name} exited with {self.popen.returncode}:\n{self.log()[-4000:]}")

    def kill(self) -> None:
        """SIGKILL, as the OOM killer or a node failure does; wait for it to be gone."""
        assert self.popen is not None
        if self.popen.poll() is None:
            self.popen.kill()
        self.popen.wait()
        self.log_file.close()

    def again(self, log_path: Path) -> Process:
        """A new process with the same command and environment (a restart after `kill`)."""
        return Process(self.name, self.command, self.env, log_path).start()

    def stop(self, timeout: float = 20) -> int:
        assert self.popen is not None
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        self.log_file.close()
        return self.popen.returncode


def wait_for_grpc_serving(process: Process, address: str, timeout: float = 30) -> None:
    """Until the process's gRPC health check answers SERVING; fails at once if it exits."""
    with grpc.insecure_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)

        def serving() -> bool:
            process.assert_running()
            status = stub.Check(health_pb2.HealthCheckRequest(), timeout=1).status
            return bool(status == health_pb2.HealthCheckResponse.SERVING)

        wait_until(
            serving,
            message=lambda: f"{process.name} to serve on {address}; its log:\n{process.log()[-4000:]}",
            timeout=timeout,
            interval=0.1,
            ignoring=(grpc.RpcError,),
        )


def wait_for_http(process: Process, url: str, timeout: float = 30) -> None:
    """Until GET `url` answers 200; fails at once if the process exits."""

    def ready() -> bool:
        process.assert_running()
        return httpx.get(url, timeout=1).status_code == 200

    wait_until(
        ready,
        message=lambda: f"{process.name} to be ready at {url}; its log:\n{process.log()[-4000:]}",
        timeout=timeout,
        interval=0.1,
        ignoring=(httpx.HTTPError,),
    )


@dataclass
class Stack:
    """Query, collector and Envoy, wired together like `make run`, on free ports."""

    database_url: str
    redis_url: str | None
    redis_prefix: str
    api_token: str
    workdir: Path
    extra_env: Mapping[str, str] = field(default_factory=dict)
    # More options for gateway/render.py (the benchmark lifts the rate limit).
    gateway_options: Sequence[str] = ()
    # Query processes behind Envoy (the rollout test restarts them one by one); `query` is the first.
    query_replicas: int = 1

    def start(self) -> Stack:
        self.query_port, self.query_metrics_port = free_port(), free_port()
        self.collector_port, self.collector_metrics_port = free_port(), free_port()
        self.rest_port, self.admin_port, self.admin_api_port = free_port(), free_port(), free_port()
        common = {
            "TAGPULSE_DATABASE_URL": self.database_url,
            "TAGPULSE_REDIS_KEY_PREFIX": self.redis_prefix,
            "TAGPULSE_API_TOKEN": self.api_token,
            "TAGPULSE_SHUTDOWN_GRACE_SECONDS": "2",
            **({"TAGPULSE_REDIS_URL": self.redis_url} if self.redis_url else {}),
            **self.extra_env,
        }
        self.query = Process(
            "query",
            [sys.executable, "-m", "tagpulse_query"],
            {
                **common,
                "TAGPULSE_GRPC_PORT": str(self.query_port),
                "TAGPULSE_METRICS_PORT": str(self.query_metrics_port),
            },
            self.workdir / "query.log",
        ).start()
        self.queries = [self.query]
        for replica in range(1, self.query_replicas):
            port = free_port()
            self.queries.append(
                Process(
                    f"query-{replica}",
                    self.query.command,
                    {
                        **self.query.env,
                        "TAGPULSE_GRPC_PORT": str(port),
                        "TAGPULSE_METRICS_PORT": str(free_port()),
                    },
                    self.workdir / f"query-{replica}.log",
                ).start()
            )
        self.collector = Process(
            "collector",
            [sys.executable, "-m", "tagpulse_collector", "serve"],
            {
                **common,
                "TAGPULSE_GRPC_PORT": str(self.collector_port),
                "TAGPULSE_METRICS_PORT": str(self.collector_metrics_port),
                "TAGPULSE_QUERY_ADDRESS": f"127.0.0.1:{self.query_port}",
            },
            self.workdir / "collector.log",
        ).start()
        envoy_config = self.workdir / "envoy.yaml"
        subprocess.run(
            [
                sys.executable, "gateway/render.py",
                "--listen-port", str(self.rest_port), "--admin-port", str(self.admin_port),
                "--admin-api-port", str(self.admin_api_port),
                *(option for address in self.query_addresses for option in ("--query", address)),
                "--collector", f"127.0.0.1:{self.collector_port}",
                "--out", str(envoy_config), *self.gateway_options,
            ],
            check=True,
            cwd=ROOT,
        )  # fmt: skip
        self.envoy = Process(
            "envoy",
            [
                str(BIN / "envoy"),
                "-c",
                str(envoy_config),
                "--concurrency",
                "1",
                "--disable-hot-restart",
                "-l",
                "warn",
            ],
            {},
            self.workdir / "envoy.log",
        ).start()
        for query, address in zip(self.queries, self.query_addresses, strict=True):
            wait_for_grpc_serving(query, address)
        wait_for_grpc_serving(self.collector, self.collector_address)
        wait_for_http(self.envoy, f"http://127.0.0.1:{self.admin_port}/ready")
        return self

    @property
    def query_address(self) -> str:
        return f"127.0.0.1:{self.query_port}"

    @property
    def query_addresses(self) -> list[str]:
        return [f"127.0.0.1:{query.env['TAGPULSE_GRPC_PORT']}" for query in self.queries]

    @property
    def collector_address(self) -> str:
        return f"127.0.0.1:{self.collector_port}"

    @property
    def rest_url(self) -> str:
        return f"http://127.0.0.1:{self.rest_port}"

    def processes(self) -> list[Process]:
        return [*self.queries, self.collector, self.envoy]

    def stop(self) -> None:
        for process in self.processes():
            process.stop()
