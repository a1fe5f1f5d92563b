"""Rate-limit headers of X and Bluesky (epoch seconds) and Mastodon (ISO 8601), and how long to
wait.

The wait is measured against the server's own clock (its `Date` header) when it sends one,
so a local clock that is minutes off neither makes us hammer the API nor sleep for an hour;
and it is always bounded.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime


@dataclass(frozen=True)
class RateLimit:
    limit: int | None
    remaining: int | None
    reset_at: datetime | None


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _epoch(value: str | None) -> datetime | None:
    seconds = _int(value)
    if seconds is None or seconds <= 0:
        return None
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _iso(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        instant = datetime.fromisoformat(value)
    except ValueError:
        return None
    return instant if instant.tzinfo else instant.replace(tzinfo=UTC)


def x_rate_limit(headers: Mapping[str, str]) -> RateLimit:
    """`x-rate-limit-limit`, `-remaining` and `-reset` (epoch seconds)."""
    return RateLimit(
        limit=_int(headers.get("x-rate-limit-limit")),
        remaining=_int(headers.get("x-rate-limit-remaining")),
        reset_at=_epoch(headers.get("x-rate-limit-reset")),
    )


def mastodon_rate_limit(headers: Mapping[str, str]) -> RateLimit:
    """`x-ratelimit-limit`, `-remaining` and `-reset` (ISO 8601)."""
    return RateLimit(
        limit=_int(headers.get("x-ratelimit-limit")),
        remaining=_int(headers.get("x-ratelimit-remaining")),
        reset_at=_iso(headers.get("x-ratelimit-reset")),
    )


def bluesky_rate_limit(headers: Mapping[str, str]) -> RateLimit:
    """`ratelimit-limit`, `-remaining` and `-reset` (epoch seconds; the IETF draft's names)."""
    return RateLimit(
        limit=_int(headers.get("ratelimit-limit")),
        remaining=_int(headers.get("ratelimit-remaining")),
        reset_at=_epoch(headers.get("ratelimit-reset")),
    )


def server_time(headers: Mapping[str, str]) -> datetime | None:
    """The server's clock from its `Date` header, if it sent a valid one."""
    value = headers.get("date")
    if not value:
        return None
    try:
        instant = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return instant if instant.tzinfo else instant.replace(tzinfo=UTC)


@dataclass(frozen=True)
class WaitPolicy:
    # Never wait longer than this for one reset (X windows are 15 minutes).
    max_wait_seconds: float = 960.0
    # Added to every wait: the reset and the Date header have one-second resolution.
    margin_seconds: float = 1.0
    # When the headers say nothing usable, wait this long (bounded too).
    default_wait_seconds: float = 60.0


def seconds_until_reset(
    reset_at: datetime | None, server_now: datetime | None, local_now: datetime, policy: WaitPolicy
) -> float:
    """How long to sleep before the window resets, in [margin, max_wait]."""
    if reset_at is None:
        wait = policy.default_wait_seconds
    else:
        # Prefer the server's clock; ours may be skewed.
        reference = server_now or local_now
        wait = (reset_at - reference).total_seconds()
    wait = max(wait, 0.0) + policy.margin_seconds
    return min(wait, policy.max_wait_seconds)
