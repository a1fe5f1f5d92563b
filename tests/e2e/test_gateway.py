"""Envoy on its own, with its limits set low: every answer it makes itself is the services' JSON
error, the rate limit counts per client, a flood of connections neither starves the probes nor
outlives its sockets, and the access log keeps query strings and tokens out.

No service runs behind this Envoy: everything tested here is answered by Envoy itself."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.support.polling import wait_until
from tests.support.processes import BIN, ROOT, Process, free_port, wait_for_http

# A second client: all of 127.0.0.0/8 is loopback on Linux, so Envoy sees another address.
OTHER_CLIENT = "127.0.0.2"


@dataclass
class Gateway:
    process: Process
    rest_port: int
    admin_port: int
    admin_api_port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.rest_port}"

    @property
    def admin_url(self) -> str:
        return f"http://127.0.0.1:{self.admin_port}"

    def client(self, local_address: str = "127.0.0.1") -> httpx.Client:
        return httpx.Client(
            base_url=self.url, transport=httpx.HTTPTransport(local_address=local_address), timeout=10
        )

    def stat(self, name: str) -> int:
        """A counter or gauge, from the admin API (on loopback)."""
        text = httpx.get(f"http://127.0.0.1:{self.admin_api_port}/stats", params={"filter": "^.*$"}).text
        values = dict(line.split(": ", 1) for line in text.splitlines() if ": " in line)
        return int(values[name])

    @property
    def listener(self) -> str:
        return f"listener.127.0.0.1_{self.rest_port}"


StartGateway = Callable[..., Gateway]


@pytest.fixture
def start_gateway(tmp_path: Path) -> Iterator[StartGateway]:
    started: list[Process] = []

    def start(*options: str) -> Gateway:
        rest, admin, admin_api = free_port(), free_port(), free_port()
        config = tmp_path / "envoy.yaml"
        subprocess.run(
            [
                sys.executable, "gateway/render.py",
                "--listen-port", str(rest), "--admin-port", str(admin), "--admin-api-port", str(admin_api),
                # Nothing listens there: these tests never reach a service.
                "--query", f"127.0.0.1:{free_port()}", "--collector", f"127.0.0.1:{free_port()}",
                *options, "--out", str(config),
            ],
            check=True,
            cwd=ROOT,
        )  # fmt: skip
        envoy = Process(
            "envoy",
            [str(BIN / "envoy"), "-c", str(config), "--concurrency", "1", "--disable-hot-restart"],
            {},
            tmp_path / "envoy.log",
        ).start()
        started.append(envoy)
        wait_for_http(envoy, f"http://127.0.0.1:{admin}/ready")
        return Gateway(envoy, rest, admin, admin_api)

    yield start
    for process in started:
        process.stop()


def assert_json_error(response: httpx.Response, status: int, code: int) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"code", "message", "details"}
    assert body["code"] == code
    assert body["details"] == []
    assert isinstance(body["message"], str)
    assert body["message"]
    return dict(body)


def test_a_greedy_client_does_not_use_up_a_polite_clients_requests(start_gateway: StartGateway) -> None:
    gateway = start_gateway("--rate-limit-per-second", "1", "--rate-limit-burst", "5")
    with gateway.client() as greedy, gateway.client(OTHER_CLIENT) as polite:
        greedy_statuses = [greedy.get("/envoy/ping").status_code for _ in range(40)]
        # The polite client stays within its own burst, whatever the greedy one did.
        polite_statuses = [polite.get("/envoy/ping").status_code for _ in range(5)]
        limited = greedy.get("/envoy/ping")
    assert greedy_statuses[:5] == [200] * 5
    assert greedy_statuses.count(429) >= 30
    assert polite_statuses == [200] * 5
    body = assert_json_error(limited, 429, 8)
    assert "per client" in str(body["message"])
    assert int(limited.headers["retry-after"]) >= 1
    assert limited.headers["x-ratelimit-limit"] == "5"
    assert limited.headers["x-ratelimit-remaining"] == "0"
    assert limited.headers["x-local-rate-limit"] == "true"


def test_envoys_own_errors_are_json(start_gateway: StartGateway) -> None:
    gateway = start_gateway("--max-request-body-bytes", "1000", "--max-request-headers-kb", "8")
    with gateway.client() as client:
        # One long value, and many short ones (which the transcoder alone would let through).
        for body in [{"hashtags": ["a" * 2000]}, {"hashtags": [f"t{i:04}" for i in range(300)]}]:
            too_large = client.post("/v1/collections", json=body)
            assert "1000 bytes" in str(assert_json_error(too_large, 413, 3)["message"])

        headers_too_large = client.get("/v1/stats", headers={"x-padding": "a" * 9000})
        body = assert_json_error(headers_too_large, 431, 3)
        assert "8 KiB" in str(body["message"])

        body = assert_json_error(client.get("/v1/nowhere"), 404, 5)
        assert body["message"] == "no such route: GET /v1/nowhere"

        # Internal: never routed from outside.
        assert_json_error(client.post("/tagpulse.v1.QueryService/InvalidateAggregates", json={}), 404, 5)

        # No query service behind this Envoy: the 503 of an unreachable service is JSON too.
        assert_json_error(client.get("/v1/stats"), 503, 14)


def test_a_grpc_path_over_http1_is_a_client_error(start_gateway: StartGateway) -> None:
    gateway = start_gateway()
    with gateway.client() as client:
        for method, path in [
            ("POST", "/tagpulse.v1.QueryService/GetStats"),
            ("GET", "/tagpulse.v1.CollectorService/ListCollections"),
        ]:
            response = client.request(method, path, json={})
            body = assert_json_error(response, 415, 3)
            assert "application/grpc" in str(body["message"])
    assert gateway.stat("cluster.query.upstream_rq_total") == 0
    assert gateway.stat("cluster.collector.upstream_rq_total") == 0


def test_unknown_query_parameters_are_refused(start_gateway: StartGateway) -> None:
    gateway = start_gateway()
    with gateway.client() as client:
        body = assert_json_error(client.get("/v1/users:top", params={"limt": "3"}), 400, 3)
    assert "limt" in str(body["message"])


def test_a_path_or_query_parameter_that_is_not_utf8_is_refused(start_gateway: StartGateway) -> None:
    gateway = start_gateway()
    with gateway.client() as client:
        for path in ["/v1/users:top?hashtag=%ED%A0%80", "/v1/posts/%ED%A0%80", "/v1/posts?hashtag=%C3"]:
            body = assert_json_error(client.get(path), 400, 3)
            assert "UTF-8" in str(body["message"])
        # UTF-8 passes on to the service (which is not there: 503).
        for path in ["/v1/users:top?hashtag=%C3%A9t%C3%A9", "/v1/posts?hashtag=%F0%9F%A6%8B"]:
            assert client.get(path).status_code == 503


def test_the_access_log_keeps_query_strings_and_tokens_out(start_gateway: StartGateway) -> None:
    gateway = start_gateway()
    with gateway.client() as client:
        client.get("/envoy/ping", params={"token": "query-secret-1"})
        client.get("/v1/users:top", params={"token": "query-secret-2", "hashtag": "query-secret-3"})
        client.post("/v1/collections", json={}, headers={"authorization": "Bearer header-secret-4"})

    def access_lines() -> list[dict[str, object]]:
        lines = [line for line in gateway.process.log().splitlines() if '"envoy.access"' in line]
        return [json.loads(line) for line in lines]

    wait_until(lambda: len(access_lines()) >= 3, message="three access log lines")
    log = gateway.process.log()
    for secret in ["query-secret-1", "query-secret-2", "query-secret-3", "header-secret-4"]:
        assert secret not in log
    lines = access_lines()
    assert [line["path"] for line in lines] == ["/envoy/ping", "/v1/users:top", "/v1/collections"]
    assert [line["message"] for line in lines] == [
        "/envoy/ping 200",
        "/v1/users:top 400",
        "/v1/collections 503",
    ]


def test_a_flood_of_idle_connections_neither_starves_the_probes_nor_outlives_itself(
    start_gateway: StartGateway,
) -> None:
    limit = 50
    gateway = start_gateway("--max-connections", str(limit), "--idle-timeout", "600s")
    flood: list[socket.socket] = []
    try:
        for _ in range(4 * limit):
            flood.append(socket.create_connection(("127.0.0.1", gateway.rest_port), timeout=10))
        # Envoy closed everything past the limit at once, instead of holding every socket.
        overflow = f"{gateway.listener}.downstream_global_cx_overflow"
        wait_until(
            lambda: gateway.stat(overflow) >= 3 * limit,
            message="Envoy to close the connections past the limit",
        )
        assert gateway.stat(f"{gateway.listener}.downstream_cx_active") <= limit
        # The probes and Prometheus still get their answers, through their own listener.
        assert httpx.get(f"{gateway.admin_url}/ready", timeout=10).text.strip() == "LIVE"
        assert "envoy_server_live" in httpx.get(f"{gateway.admin_url}/stats/prometheus", timeout=10).text
        # A new client is turned away while the limit is held.
        with pytest.raises(httpx.TransportError), gateway.client() as client:
            client.get("/envoy/ping")
    finally:
        for sock in flood:
            sock.close()

    def answered() -> bool:
        try:
            with gateway.client() as client:
                return client.get("/envoy/ping").status_code == 200
        except httpx.TransportError:
            return False

    wait_until(answered, message="a new client to be answered once the flood is gone")


def test_the_admin_listener_serves_only_probes_and_metrics(start_gateway: StartGateway) -> None:
    gateway = start_gateway()
    assert httpx.get(f"{gateway.admin_url}/ready").status_code == 200
    for method, path in [("POST", "/quitquitquit"), ("GET", "/config_dump"), ("POST", "/ready")]:
        assert httpx.request(method, f"{gateway.admin_url}{path}").status_code == 404
    config = yaml_config(gateway)
    assert config["admin"]["address"]["socket_address"]["address"] == "127.0.0.1"
    gateway.process.assert_running()


def yaml_config(gateway: Gateway) -> dict[str, object]:
    config = httpx.get(f"http://127.0.0.1:{gateway.admin_api_port}/config_dump", timeout=10).json()
    (bootstrap,) = [c["bootstrap"] for c in config["configs"] if "bootstrap" in c]
    return dict(bootstrap)


def test_envoy_serves_the_openapi_document(start_gateway: StartGateway) -> None:
    gateway = start_gateway()
    response = httpx.get(f"{gateway.url}/openapi.json", timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.content == (ROOT / "gateway" / "openapi.json").read_bytes()
