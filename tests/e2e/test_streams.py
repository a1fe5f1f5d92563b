"""The seed case end to end, through Envoy's REST: a sample stream for posts about Justin Bieber
that talk about music, stopped later, with exact total vs unique counts by rule, language and
country (counted here from the generator's messages with hand-written labels)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.support.polling import wait_until
from tests.support.processes import Stack
from tests.support.sample_stream import SEED_RULE, expected

SEED = 77


@pytest.fixture
def stack(start_stack: Callable[..., Stack]) -> Stack:
    return start_stack(
        TAGPULSE_SAMPLE_SEED=str(SEED),
        TAGPULSE_STREAM_SAMPLE_RATE="300",
        TAGPULSE_STREAM_POLL_SECONDS="0.2",
        TAGPULSE_STREAM_INVALIDATE_SECONDS="0.5",
    )


def get_stream(stack: Stack, stream_id: str) -> dict[str, Any]:
    response = httpx.get(f"{stack.rest_url}/v1/streams/{stream_id}", timeout=30)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def wait_for(
    stack: Stack, stream_id: str, condition: Callable[[dict[str, Any]], bool], timeout: float = 60
) -> dict[str, Any]:
    seen: list[dict[str, Any]] = []

    def met() -> dict[str, Any] | None:
        seen[:] = [get_stream(stack, stream_id)]
        return seen[0] if condition(seen[0]) else None

    return wait_until(
        met,
        message=lambda: f"stream {stream_id} to meet the condition: {seen[-1] if seen else None}",
        timeout=timeout,
        interval=0.1,
    )


def figure(stream: dict[str, Any], name: str) -> int:
    return int(stream.get(name, 0))


def test_the_seed_case_counts_total_vs_unique_exactly(stack: Stack) -> None:
    headers = {"Authorization": f"Bearer {stack.api_token}"}
    body = {"rules": [{"value": SEED_RULE, "tag": "bieber-music"}], "source": "sample"}
    assert httpx.post(f"{stack.rest_url}/v1/streams", json=body, timeout=30).status_code == 401
    created = httpx.post(f"{stack.rest_url}/v1/streams", json=body, headers=headers, timeout=30)
    assert created.status_code == 200, created.text
    stream = created.json()
    assert stream["state"] == "RUNNING"
    assert stream["rules"] == [{"value": SEED_RULE, "tag": "bieber-music"}]
    stream_id = stream["id"]

    wait_for(stack, stream_id, lambda s: figure(s, "postsReceived") >= 600)
    listed = httpx.get(f"{stack.rest_url}/v1/streams", timeout=30).json()["streams"]
    assert [s["id"] for s in listed] == [stream_id]

    stopped = httpx.delete(f"{stack.rest_url}/v1/streams/{stream_id}", headers=headers, timeout=30)
    assert stopped.status_code == 200, stopped.text
    assert stopped.json()["state"] in ("STOPPING", "STOPPED")
    assert "stopTime" in stopped.json()
    done = wait_for(stack, stream_id, lambda s: s["state"] == "STOPPED")

    want = expected(SEED, int(stream_id), figure(done, "postsReceived"))
    assert (figure(done, "postsMatched"), figure(done, "postsUnique"), figure(done, "postsDuplicate")) == (
        want.matched,
        want.unique,
        want.duplicate,
    )
    assert want.duplicate > 0
    assert want.matched < want.received
    assert figure(done, "postsNew") == want.unique
    assert figure(done, "messagesBuffered") == 0
    assert {c["key"]: int(c["count"]) for c in done["countsByRule"]} == {"bieber-music": want.unique}
    assert {c["key"]: int(c["count"]) for c in done["countsByLanguage"]} == dict(want.languages)
    assert {c["key"]: int(c["count"]) for c in done["countsByCountry"]} == dict(want.countries)

    # A stopped stream stays stopped, and stopping it again changes nothing.
    again = httpx.delete(f"{stack.rest_url}/v1/streams/{stream_id}", headers=headers, timeout=30).json()
    assert (again["state"], again["postsReceived"]) == ("STOPPED", done["postsReceived"])
    # The posts are stored like collected ones, and the query service's cache knows.
    stats = httpx.get(f"{stack.rest_url}/v1/stats", timeout=30).json()
    sample = next(s for s in stats["sources"] if s["source"] == "sample")
    assert int(sample["postsStored"]) == want.unique
