"""Collection runs through REST, for end-to-end tests: start one, wait for it to finish.

A run may answer at once as RUNNING and go on in the background, so tests never rely on the
figures StartCollection returns: they poll GET /v1/collections/{id} until the run is done.
"""

from __future__ import annotations

import time
from typing import Any

import httpx


def start_collection(rest_url: str, api_token: str, body: dict[str, Any]) -> dict[str, Any]:
    response = httpx.post(
        f"{rest_url}/v1/collections",
        json=body,
        headers={"Authorization": f"Bearer {api_token}"},
        timeout=300,
    )
    assert response.status_code == 200, response.text
    run: dict[str, Any] = response.json()
    return run


def wait_for_collection(rest_url: str, run_id: str, timeout: float = 300) -> dict[str, Any]:
    """The run once its state is no longer RUNNING."""
    deadline = time.monotonic() + timeout
    while True:
        response = httpx.get(f"{rest_url}/v1/collections/{run_id}", timeout=30)
        assert response.status_code == 200, response.text
        run: dict[str, Any] = response.json()
        if run["state"] != "RUNNING":
            return run
        assert time.monotonic() < deadline, f"collection {run_id} still RUNNING after {timeout} s"
        time.sleep(0.2)


def collect(rest_url: str, api_token: str, body: dict[str, Any]) -> dict[str, Any]:
    """Start a collection and wait for it to finish."""
    return wait_for_collection(rest_url, start_collection(rest_url, api_token, body)["id"])
