"""X's reconnect schedule (streams/backoff.py)."""

from __future__ import annotations

import pytest

from tagpulse_collector.streams.backoff import (
    ENDED,
    HTTP_ERROR,
    NETWORK,
    OPERATIONAL_DISCONNECT,
    RATE_LIMITED,
    STALL,
    Backoff,
    ReconnectPolicy,
)


def test_reconnect_waits_follow_xs_guidance() -> None:
    backoff = Backoff()
    assert [backoff.wait_for(NETWORK) for _ in range(3)] == [0.25, 0.5, 0.75]
    assert backoff.wait_for(STALL) == 1.0  # a stall is a network error
    assert max(backoff.wait_for(ENDED) for _ in range(100)) == 16.0
    backoff.reset()
    assert [backoff.wait_for(HTTP_ERROR) for _ in range(8)] == [5, 10, 20, 40, 80, 160, 320, 320]
    assert [backoff.wait_for(RATE_LIMITED) for _ in range(6)] == [60, 120, 240, 480, 960, 960]
    assert backoff.wait_for(OPERATIONAL_DISCONNECT) == 0
    backoff.reset()
    assert backoff.wait_for(HTTP_ERROR) == 5
    assert Backoff(ReconnectPolicy(scale=0.001)).wait_for(RATE_LIMITED) == pytest.approx(0.06)
