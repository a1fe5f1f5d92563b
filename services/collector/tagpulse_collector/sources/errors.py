"""Why a source stopped: some failures end one hashtag, others end the whole run."""

from __future__ import annotations

from typing import Any


class SourceError(Exception):
    """A source could not go on with a hashtag. The pages it yielded before are kept."""

    # True when every later hashtag of the run would fail the same way (bad credentials, a
    # spent usage cap): the run stops instead of trying them.
    stops_run = False

    def __init__(
        self, message: str, requests: int = 0, errors: int = 1, problem: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        # Requests and errors spent since the last page the source yielded.
        self.requests = requests
        self.errors = errors
        # The platform's JSON problem body, for a caller that can fix the request (or renew a
        # session: Bluesky's `ExpiredToken`).
        self.problem = problem or {}


class AuthenticationFailed(SourceError):
    """401/403: the credentials are wrong, revoked or lack access."""

    stops_run = True


class UsageCapReached(SourceError):
    """The platform's monthly (or other period) usage cap is spent: waiting will not help."""

    stops_run = True


class CreditsDepleted(SourceError):
    """HTTP 402 (X's pay-per-use "CreditsDepleted"): the account's credits are spent. Neither
    waiting nor retrying helps until someone tops up the balance, and every retry would be a
    request against an empty account: the run stops at once."""

    stops_run = True


class RateLimited(SourceError):
    """Still rate limited after the allowed waits."""

    stops_run = True


class RequestRejected(SourceError):
    """A 4xx other than auth and rate limits: the request itself is wrong (a bad query)."""


class MalformedResponse(SourceError):
    """A body that is not the JSON the API documents (truncated, wrong shape)."""


class SourceUnavailable(SourceError):
    """Server errors, timeouts or connection errors that outlasted the retries."""


class Interrupted(Exception):
    """The collector is shutting down: stop where you are; the run resumes on the next start."""
