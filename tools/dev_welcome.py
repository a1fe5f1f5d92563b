"""make run's last process: wait for the stack, collect a sample through REST, print where
everything is. It then waits quietly (honcho stops the stack when any process exits)."""

from __future__ import annotations

import os
import signal
import sys
import time
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

REST = "http://127.0.0.1:8080"
ADMIN = "http://127.0.0.1:9901"
ADMIN_API = "http://127.0.0.1:9902"


def wait_for(url: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    sys.exit(f"{url} did not answer within {seconds:.0f} s")


def wait_for_run(run_id: str, seconds: float = 300) -> dict[str, Any]:
    """StartCollection answers at once; poll the run until it is no longer RUNNING."""
    deadline = time.monotonic() + seconds
    while True:
        run: dict[str, Any] = httpx.get(f"{REST}/v1/collections/{run_id}", timeout=10).json()
        if run.get("state") != "RUNNING" or time.monotonic() > deadline:
            return run
        time.sleep(0.3)


def main() -> None:
    console = Console(width=110)
    token = os.environ.get("TAGPULSE_API_TOKEN", "")
    wait_for(f"{ADMIN}/ready")
    wait_for(f"{REST}/v1/users:top")  # the query service
    wait_for(f"{REST}/v1/collections")  # the collector
    response = httpx.post(
        f"{REST}/v1/collections",
        json={"source": "sample"},
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    response.raise_for_status()
    figures = wait_for_run(response.json()["id"])["figures"]

    table = Table(title="tagpulse is running", show_header=False)
    table.add_row("web console", f"{REST}/   (paste the dev API token there to start a collection)")
    table.add_row("REST (Envoy)", f"{REST}   e.g. curl {REST}/v1/users:top")
    table.add_row("Envoy ready / metrics", f"{ADMIN}/ready   {ADMIN}/stats/prometheus")
    table.add_row("Envoy admin API", f"{ADMIN_API}   (loopback only)")
    table.add_row("query gRPC / metrics", "127.0.0.1:50051   http://127.0.0.1:9101/metrics")
    table.add_row("collector gRPC / metrics", "127.0.0.1:50052   http://127.0.0.1:9102/metrics")
    table.add_row("dev API token", token)
    table.add_row(
        "sample collection",
        f"{figures['postsFetched']} fetched, {figures['postsNew']} new, "
        f"{figures['postsDuplicate']} duplicate",
    )
    table.add_row("stop", "Ctrl-C")
    console.print(table)
    console.print(f"Open the web console: {REST}/\n", soft_wrap=True)
    console.print("Start another collection:", soft_wrap=True)
    console.print(
        f"\n  curl -X POST {REST}/v1/collections "
        f"-H 'Authorization: Bearer {token}' -d '{{\"source\": \"sample\"}}'",
        soft_wrap=True,
    )
    console.print("\nFollow a keyword stream (stop it with DELETE /v1/streams/ID):", soft_wrap=True)
    console.print(
        f"\n  curl -X POST {REST}/v1/streams -H 'Authorization: Bearer {token}' "
        """-d '{"rules": [{"value": "\\"justin bieber\\" (music OR #music)"}], "source": "sample"}'""",
        soft_wrap=True,
        markup=False,
    )
    signal.sigwait({signal.SIGINT, signal.SIGTERM})


if __name__ == "__main__":
    main()
