"""Collection runs through REST, for end-to-end tests: start one, wait for it to finish.

StartCollection answers at once with the run RUNNING and goes on in the background, so tests
never rely on the figures it returns: they poll GET /v1/collections/{id} until the run is done.
"""

from __future__ import annotations

from typing import Any

import httpx

from tests.support.polling import wait_until


def start_collection(rest_url: str, api_token: str, body: dict[str, Any]) -> dict[str, Any]:
    """POST /v1/collections; the run as it answered (usually RUNNING)."""
    response = httpx.post(
        f"{rest_url}/v1/collections",
        json=body,
        headers={"Authorization": f"Bearer {api_token}"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    started: dict[str, Any] = response.json()
    return started


def wait_for_run(rest_url: str, run_id: str, timeout: float = 300, interval: float = 0.2) -> dict[str, Any]:
    """GET /v1/collections/{id} until the run is no longer RUNNING; its final JSON."""

    seen: list[dict[str, Any]] = []

    def finished() -> dict[str, Any] | None:
        response = httpx.get(f"{rest_url}/v1/collections/{run_id}", timeout=30)
        response.raise_for_status()
        seen[:] = [response.json()]
        return seen[0] if seen[0]["state"] != "RUNNING" else None

    return wait_until(
        finished,
        message=lambda: f"collection {run_id} to be no longer RUNNING: {seen[-1] if seen else None}",
        timeout=timeout,
        interval=interval,
    )


def start_and_wait(
    rest_url: str, api_token: str, body: dict[str, Any], timeout: float = 300
) -> tuple[dict[str, Any], dict[str, Any]]:
    """POST /v1/collections, then wait: (the answer to the POST, the finished run)."""
    started = start_collection(rest_url, api_token, body)
    return started, wait_for_run(rest_url, started["id"], timeout)


def collect(rest_url: str, api_token: str, body: dict[str, Any]) -> dict[str, Any]:
    """Start a collection and wait for it to finish; the finished run."""
    return start_and_wait(rest_url, api_token, body)[1]
