"""When to reconnect a stream reader, per X's guidance for its streaming endpoints:

- network errors (refused, reset, timed out) and a stalled connection (no data and no keep-alive
  for 20 seconds): back off linearly, 250 ms more each time, up to 16 s;
- HTTP errors: exponentially from 5 s, up to 320 s;
- 429 Too Many Requests: exponentially from 60 s (X gives no ceiling; ours is 16 minutes);
- an operational-disconnect message: reconnect at once.

A connection that delivers anything (a message or a keep-alive) resets every count. `scale`
multiplies every wait: the tests run the same sequence in milliseconds.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

NETWORK, STALL, HTTP_ERROR, RATE_LIMITED = "network", "stall", "http_error", "rate_limited"
OPERATIONAL_DISCONNECT, ENDED = "operational_disconnect", "ended"
CAUSES = (NETWORK, STALL, HTTP_ERROR, RATE_LIMITED, OPERATIONAL_DISCONNECT, ENDED)


@dataclass(frozen=True)
class ReconnectPolicy:
    network_step_seconds: float = 0.25
    network_max_seconds: float = 16.0
    http_initial_seconds: float = 5.0
    http_max_seconds: float = 320.0
    rate_limit_initial_seconds: float = 60.0
    rate_limit_max_seconds: float = 960.0
    scale: float = 1.0


class Backoff:
    def __init__(self, policy: ReconnectPolicy | None = None) -> None:
        self.policy = policy or ReconnectPolicy()
        self._failures: Counter[str] = Counter()

    def reset(self) -> None:
        self._failures.clear()

    def wait_for(self, cause: str) -> float:
        """Seconds to wait before the next attempt, after a failure of this cause."""
        policy = self.policy
        if cause == OPERATIONAL_DISCONNECT:
            return 0.0
        if cause in (NETWORK, STALL, ENDED):
            self._failures["network"] += 1
            wait = min(policy.network_step_seconds * self._failures["network"], policy.network_max_seconds)
        elif cause == RATE_LIMITED:
            self._failures[cause] += 1
            wait = min(
                policy.rate_limit_initial_seconds * 2 ** min(self._failures[cause] - 1, 20),
                policy.rate_limit_max_seconds,
            )
        else:
            self._failures[HTTP_ERROR] += 1
            wait = min(
                policy.http_initial_seconds * 2 ** min(self._failures[HTTP_ERROR] - 1, 20),
                policy.http_max_seconds,
            )
        return wait * policy.scale
