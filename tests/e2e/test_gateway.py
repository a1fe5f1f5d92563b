"""Envoy on its own: the local rate limit answers 429 in the services' JSON error shape."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx

from tests.support.processes import BIN, ROOT, Process, free_port, wait_for_http


def test_local_rate_limit(tmp_path: Path) -> None:
    rest, admin = free_port(), free_port()
    config = tmp_path / "envoy.yaml"
    subprocess.run(
        [
            sys.executable, "gateway/render.py", "--listen-port", str(rest), "--admin-port", str(admin),
            "--rate-limit-per-second", "1", "--rate-limit-burst", "3", "--out", str(config),
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
    try:
        wait_for_http(envoy, f"http://127.0.0.1:{admin}/ready")
        statuses = [httpx.get(f"http://127.0.0.1:{rest}/envoy/ping").status_code for _ in range(6)]
        assert statuses[:3] == [200, 200, 200]
        assert 429 in statuses[3:]
        limited = httpx.get(f"http://127.0.0.1:{rest}/envoy/ping")
        assert limited.status_code == 429
        assert limited.json() == {"code": 8, "message": "rate limit exceeded; retry shortly", "details": []}
        assert limited.headers["x-local-rate-limit"] == "true"
    finally:
        envoy.stop()


def test_envoy_serves_the_openapi_document(tmp_path: Path) -> None:
    rest, admin = free_port(), free_port()
    config = tmp_path / "envoy.yaml"
    subprocess.run(
        [
            sys.executable, "gateway/render.py", "--listen-port", str(rest), "--admin-port", str(admin),
            "--out", str(config),
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
    try:
        wait_for_http(envoy, f"http://127.0.0.1:{admin}/ready")
        response = httpx.get(f"http://127.0.0.1:{rest}/openapi.json")
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/json"
        assert response.content == (ROOT / "gateway" / "openapi.json").read_bytes()
    finally:
        envoy.stop()
