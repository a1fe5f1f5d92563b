"""HTTP policies that keep tests fast: tiny backoffs and rate-limit waits, short timeouts."""

from __future__ import annotations

from tagpulse_collector.sources.api_client import HttpPolicy
from tagpulse_collector.sources.rate_limits import WaitPolicy

FAST = HttpPolicy(
    timeout_seconds=2.0,
    attempts=3,
    backoff_initial_seconds=0.01,
    backoff_max_seconds=0.05,
    rate_limit=WaitPolicy(max_wait_seconds=0.2, margin_seconds=0.0, default_wait_seconds=0.01),
    max_rate_limit_waits=2,
)

# The same, as the collector's environment variables (for collectors started as processes).
FAST_ENV = {
    "TAGPULSE_SOURCE_TIMEOUT_SECONDS": "2",
    "TAGPULSE_SOURCE_ATTEMPTS": "3",
    "TAGPULSE_SOURCE_BACKOFF_INITIAL_SECONDS": "0.01",
    "TAGPULSE_SOURCE_BACKOFF_MAX_SECONDS": "0.05",
    "TAGPULSE_RATE_LIMIT_MAX_WAIT_SECONDS": "0.2",
    "TAGPULSE_RATE_LIMIT_MARGIN_SECONDS": "0",
    "TAGPULSE_RATE_LIMIT_MAX_WAITS": "2",
}
