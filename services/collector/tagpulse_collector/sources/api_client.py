"""HTTP for the platform sources: retries, rate-limit waits, and the figures of each request.

- 5xx, timeouts and connection errors are retried with exponential backoff and jitter
  (tenacity), then fail the hashtag;
- 429 waits until the window resets (bounded; see `rate_limits`) and tries again, unless the
  body says a usage cap is spent, which waiting does not fix: that stops the run;
- when a response says no requests are left in the window, the next request waits for the
  reset instead of earning a 429;
- 402 Payment Required (X's pay-per-use credits are spent, "CreditsDepleted") stops the run at
  once, never retried: it is neither a rate limit nor the old usage cap, and has its own metric;
- 401/403 stop the run at once; other 4xx fail the hashtag.

Sleeps wake up when the collector shuts down (`Interrupted`), so a run never holds up a
SIGTERM for the length of a rate-limit window. Headers are never logged: they carry the token.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

import httpx
import orjson
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential_jitter

from tagpulse.redaction import Redactor
from tagpulse.text import bounded
from tagpulse_collector.metrics import CREDITS_DEPLETED, RATE_LIMIT_REMAINING, SOURCE_REQUESTS
from tagpulse_collector.sources.base import BeforePage, Page, no_budget
from tagpulse_collector.sources.errors import (
    AuthenticationFailed,
    CreditsDepleted,
    Interrupted,
    MalformedResponse,
    RateLimited,
    RequestRejected,
    SourceError,
    SourceUnavailable,
    UsageCapReached,
)
from tagpulse_collector.sources.rate_limits import (
    RateLimit,
    WaitPolicy,
    seconds_until_reset,
    server_time,
)

log = logging.getLogger("tagpulse.sources")

USER_AGENT = "tagpulse-collector"


Parsed = TypeVar("Parsed")

# Query parameters; a sequence repeats the name (`actors=a&actors=b`).
Params = Mapping[str, str | int | Sequence[str]]

# The longest description of a platform's answer kept in a run's figures.
MAX_DESCRIPTION = 500


@dataclass(frozen=True)
class HttpPolicy:
    timeout_seconds: float = 30.0
    # Attempts for one request when the server errs or does not answer (1 = no retry).
    attempts: int = 5
    backoff_initial_seconds: float = 1.0
    backoff_max_seconds: float = 60.0
    rate_limit: WaitPolicy = field(default_factory=WaitPolicy)
    # 429s in a row for one request before the run stops.
    max_rate_limit_waits: int = 3


@dataclass(frozen=True)
class _Call:
    method: str
    url: str
    params: Params | None = None
    json: Mapping[str, Any] | None = None
    headers: Mapping[str, str] | None = None


class _Transient(Exception):
    """A failure worth retrying; `description` is what the figures and logs show."""

    def __init__(self, description: str) -> None:
        super().__init__(description)
        self.description = description


def is_credits_depleted(response: httpx.Response) -> bool:
    """402 Payment Required, or a problem that says the credits are spent, whatever its status
    (X reports "CreditsDepleted"; no response of it is recorded here, so both are accepted)."""
    if response.status_code == 402:
        return True
    if response.status_code < 400:
        return False
    text = problem_text(response)
    return "creditsdepleted" in text or "credits-depleted" in text or "credits depleted" in text


def problem_text(response: httpx.Response) -> str:
    """The problem's type, title and detail in lower case, for telling problems apart."""
    problem = problem_of(response)
    return " ".join(str(problem.get(key, "")) for key in ("type", "title", "detail")).lower()


def problem_of(response: httpx.Response) -> dict[str, Any]:
    """The JSON problem body of an error response ({title, detail, type, …}), or {}."""
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return {}
    return body if isinstance(body, dict) else {}


def describe(response: httpx.Response) -> str:
    """The status and the problem: "429 Too Many Requests: Usage cap exceeded: Monthly product cap"
    (X's `title`/`detail`), "401 AuthenticationRequired: Invalid identifier or password" (the
    `error`/`message` of Bluesky's XRPC errors).

    The text is stored with the run and answered to anyone who reads it, and a platform's
    error body may quote the request it refuses: the request's credentials are cut out, and
    the text is bounded."""
    problem = problem_of(response)
    title = str(problem.get("title") or problem.get("error") or response.reason_phrase or "")
    detail = str(problem.get("detail") or problem.get("message") or "")
    text = f"{response.status_code} {title}".strip()
    described = f"{text}: {detail}" if detail and detail != title else text
    return bounded(_credentials_of(response.request).text(described), MAX_DESCRIPTION)


def _credentials_of(request: httpx.Request) -> Redactor:
    secrets = []
    for value in request.headers.get_list("authorization"):
        _scheme, _, credential = value.partition(" ")
        secrets += [value, credential.strip()]
    return Redactor(secret for secret in secrets if len(secret) >= 4)


class ApiClient:
    """GET with the behaviour above, counting requests and errors for the run's figures."""

    def __init__(
        self,
        source: str,
        base_url: str,
        headers: Mapping[str, str],
        policy: HttpPolicy,
        read_rate_limit: Callable[[Mapping[str, str]], RateLimit],
        is_usage_cap: Callable[[httpx.Response], bool] = lambda _response: False,
        stop: threading.Event | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.source = source
        self.policy = policy
        self.read_rate_limit = read_rate_limit
        self.is_usage_cap = is_usage_cap
        self.stop = stop or threading.Event()
        self.client = httpx.Client(
            base_url=base_url,
            headers=dict(headers),
            timeout=policy.timeout_seconds,
            transport=transport,
            follow_redirects=False,
        )
        self.requests = 0
        self.errors: list[str] = []
        # The descriptions the last SourceError took with it (its count holds them), for `recover`.
        self._taken: list[str] = []
        # The last window that said it was spent: the next request waits for its reset.
        self._spent_until: tuple[datetime | None, datetime | None] | None = None

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self.client.close()

    def take_figures(self) -> tuple[int, list[str]]:
        """Requests and errors since the last call (one page's worth)."""
        figures = (self.requests, self.errors)
        self.requests, self.errors = 0, []
        return figures

    def sleep(self, seconds: float) -> None:
        if self.stop.wait(max(seconds, 0.0)):
            raise Interrupted("the collector is shutting down")

    def get(self, url: str, params: Params | None = None) -> httpx.Response:
        """A 2xx response, after the retries and waits; raises a `SourceError` otherwise."""
        return self.request("GET", url, params)

    def request(
        self,
        method: str,
        url: str,
        params: Params | None = None,
        json: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        answered: Collection[int] = (),
    ) -> httpx.Response:
        """`get` for any method, with a JSON body and headers of its own (a session's POSTs).
        Statuses in `answered` are the caller's answer, returned instead of raised (a re-check's
        404: the status is gone)."""
        waits = 0
        while True:
            self._wait_for_spent_window()
            response = self._send_with_retries(_Call(method, url, params, json, headers))
            self._observe(response)
            status = response.status_code
            if status in answered:
                return response
            if is_credits_depleted(response):
                CREDITS_DEPLETED.labels(source=self.source).inc()
                raise CreditsDepleted(
                    f"{self.source} credits depleted ({describe(response)}); the run stops until the "
                    "account's balance is topped up",
                    *self._figures_for_error(),
                )
            if status == 429:
                if self.is_usage_cap(response):
                    raise UsageCapReached(
                        f"usage cap reached ({describe(response)}); the run stops instead of waiting",
                        *self._figures_for_error(),
                    )
                waits += 1
                if waits > self.policy.max_rate_limit_waits:
                    raise RateLimited(
                        f"still rate limited after {self.policy.max_rate_limit_waits} waits",
                        *self._figures_for_error(),
                    )
                limit = self.read_rate_limit(response.headers)
                wait = seconds_until_reset(
                    limit.reset_at, server_time(response.headers), datetime.now(UTC), self.policy.rate_limit
                )
                log.warning(
                    "rate limited; waiting for the window to reset",
                    extra={"source": self.source, "wait_seconds": round(wait, 3), "attempt": waits},
                )
                self.sleep(wait)
                continue
            if status in (401, 403):
                raise AuthenticationFailed(
                    f"{self.source} refused the credentials ({describe(response)})",
                    *self._figures_for_error(),
                    problem_of(response),
                )
            if 400 <= status < 500:
                raise RequestRejected(
                    f"request rejected ({describe(response)})",
                    *self._figures_for_error(),
                    problem_of(response),
                )
            if not 200 <= status < 300:
                raise RequestRejected(f"unexpected answer ({describe(response)})", *self._figures_for_error())
            return response

    def parsed(self, response: httpx.Response, parse: Callable[[Any], Parsed]) -> Parsed:
        """The JSON body through `parse` (which raises MalformedResponse when the shape is wrong);
        MalformedResponse with the figures since the last page when it is not what the API
        documents."""
        try:
            return parse(orjson.loads(response.content))
        except (orjson.JSONDecodeError, MalformedResponse) as error:
            raise MalformedResponse(
                f"malformed response body ({error})", *self._figures_for_error()
            ) from None

    def recover(self, error: SourceError) -> None:
        """The caller got past `error` (a renewed session, a request asked again): its requests
        and failures belong to the next page's figures again."""
        self.requests += error.requests
        self.errors += [*self._taken, str(error)]
        self._taken = []

    def _figures_for_error(self) -> tuple[int, int]:
        requests, errors = self.take_figures()
        self._taken = errors
        return requests, len(errors) + 1

    def _send_with_retries(self, call: _Call) -> httpx.Response:
        retrying = Retrying(
            stop=stop_after_attempt(max(self.policy.attempts, 1)),
            wait=wait_exponential_jitter(
                multiplier=self.policy.backoff_initial_seconds,
                max=self.policy.backoff_max_seconds,
                jitter=self.policy.backoff_initial_seconds,
            ),
            retry=retry_if_exception_type(_Transient),
            sleep=self.sleep,
            reraise=True,
        )
        try:
            for attempt in retrying:
                with attempt:
                    return self._send(call)
        except _Transient as error:
            raise SourceUnavailable(
                f"{error.description} after {self.policy.attempts} attempts", *self._figures_for_error()
            ) from None
        raise AssertionError("unreachable: tenacity either returns or raises")  # pragma: no cover

    def _send(self, call: _Call) -> httpx.Response:
        self.requests += 1
        try:
            response = self.client.request(
                call.method, call.url, params=call.params, json=call.json, headers=call.headers
            )
        except httpx.TimeoutException:
            self._failed("timeout", "timed out")
        except httpx.TransportError as error:
            self._failed("connection_error", f"connection error ({type(error).__name__})")
        SOURCE_REQUESTS.labels(source=self.source, status=str(response.status_code)).inc()
        if response.status_code >= 500:
            self.errors.append(describe(response))
            raise _Transient(describe(response))
        return response

    def _failed(self, status: str, description: str) -> Any:
        SOURCE_REQUESTS.labels(source=self.source, status=status).inc()
        self.errors.append(description)
        raise _Transient(description)

    def _observe(self, response: httpx.Response) -> None:
        limit = self.read_rate_limit(response.headers)
        if limit.remaining is not None:
            RATE_LIMIT_REMAINING.labels(source=self.source).set(limit.remaining)
        if response.status_code != 429 and limit.remaining == 0 and limit.reset_at is not None:
            self._spent_until = (limit.reset_at, server_time(response.headers))
        else:
            self._spent_until = None

    def _wait_for_spent_window(self) -> None:
        if self._spent_until is None:
            return
        reset_at, server_now = self._spent_until
        self._spent_until = None
        wait = seconds_until_reset(reset_at, server_now, datetime.now(UTC), self.policy.rate_limit)
        log.info(
            "rate-limit window spent; waiting for its reset",
            extra={"source": self.source, "wait_seconds": round(wait, 3)},
        )
        self.sleep(wait)


# A page without posts but with a cursor to another: don't follow such pages forever.
MAX_EMPTY_PAGES = 5


@dataclass
class Paging:
    """Where a cursor-paged search stands: the posts still wanted, where the next page starts,
    and how many pages in a row held no post."""

    remaining: int
    position: str | None
    empty_pages: int = 0

    def after_page(self, kept: int, following: str | None) -> str | None:
        """A page gave `kept` posts and the cursor `following`: where the next page starts, None
        when the search ends there (enough posts, the same cursor again, too many empty pages)."""
        self.remaining -= kept
        self.empty_pages = 0 if kept else self.empty_pages + 1
        if following == self.position or self.remaining <= 0 or self.empty_pages >= MAX_EMPTY_PAGES:
            following = None
        self.position = following
        return following


class PlatformAccess(Protocol):
    """How to reach one platform (its URL, credentials and HTTP policy); see the catalog."""

    def client(
        self, stop: threading.Event | None = None, transport: httpx.BaseTransport | None = None
    ) -> ApiClient: ...


class HttpSearch:
    """A search source over a platform's HTTP API: one client per search, closed when the
    pages stop (finished, failed or abandoned by the run). Subclasses read the pages."""

    name: str

    def __init__(
        self,
        access: PlatformAccess,
        stop: threading.Event | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.access = access
        self.stop = stop
        self.transport = transport

    def search(
        self,
        hashtag: str,
        max_posts: int,
        cursor: str | None = None,
        since_id: str | None = None,
        before_page: BeforePage = no_budget,
    ) -> Iterator[Page]:
        with self.access.client(self.stop, self.transport) as client:
            yield from self._pages(client, hashtag, max_posts, cursor, since_id, before_page)

    def _pages(
        self,
        client: ApiClient,
        hashtag: str,
        max_posts: int,
        cursor: str | None,
        since_id: str | None,
        before_page: BeforePage,
    ) -> Iterator[Page]:
        raise NotImplementedError
