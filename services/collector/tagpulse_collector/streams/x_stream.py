"""X API v2 filtered stream: one connection for every running `x` stream of this deployment.

X allows an app one filtered-stream connection and one set of rules, so the x streams share them:

- Rules. The rules of every running x stream are the desired set; the ones tagpulse added carry
  the tag `marker` (the Redis key prefix, so two deployments sharing a token keep apart). With
  GET /2/tweets/search/stream/rules and POST …/rules, missing values are added and tagpulse's
  stale ones deleted; other apps' rules are left alone (and reused when one has the same value:
  X refuses a duplicate). A rule X refuses fails its stream with X's reason.
- Routing. Each message names the rules it matched (`matching_rules[].id`, a number in the 2021
  recordings, a string in the spec); each id maps to a value, each value to the (stream, rule)
  pairs that asked for it, and the message is appended to each of those streams' buffers in one
  MULTI. A line that is not JSON goes to every served stream, where it is dead-lettered.
- Connection. GET /2/tweets/search/stream with the fields and expansions of the recent search.
  Lines end in \\r\\n (a bare \\n is accepted too); a blank line is a keep-alive; a read that
  waits longer than `keepalive_seconds` (20) means the connection is dead. Reconnects follow
  `backoff.py`; an operational-disconnect message reconnects at once.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson

from tagpulse_collector.metrics import BUDGET_STOPS, CREDITS_DEPLETED, SOURCE_REQUESTS
from tagpulse_collector.sources.api_client import describe, is_credits_depleted
from tagpulse_collector.sources.base import BillableReads
from tagpulse_collector.sources.x_api import (
    EXPANSIONS,
    MAX_REFERENCED_PER_POST,
    PLACE_FIELDS,
    TWEET_FIELDS,
    USER_FIELDS,
    XAccess,
)
from tagpulse_collector.sources.x_payloads import billable_of
from tagpulse_collector.spending.stream_meter import StreamMeter
from tagpulse_collector.streams import metrics
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
from tagpulse_collector.streams.buffer import StreamBuffer
from tagpulse_collector.streams.messages import MESSAGE, BufferMessage
from tagpulse_collector.streams.store import StreamRecord

log = logging.getLogger("tagpulse.streams")

SOURCE = "x"
STREAM_PATH = "/2/tweets/search/stream"
RULES_PATH = "/2/tweets/search/stream/rules"
# The most one message can bill: its post, the posts it references, its author.
MOST_PER_MESSAGE = BillableReads(posts=1 + MAX_REFERENCED_PER_POST, users=1)


class CreditsDepletedOnStream(Exception):
    """X answered the stream connection with 402: its pay-per-use credits are spent."""


class BudgetReachedOnStream(Exception):
    """The daily budget cannot hold another message: the streams stop instead of reading on."""


@dataclass(frozen=True)
class XStreamConfig:
    access: XAccess
    # Tag of the rules this deployment adds (the Redis key prefix).
    marker: str = "tagpulse:"
    keepalive_seconds: float = 20.0
    reconnect: ReconnectPolicy = field(default_factory=ReconnectPolicy)
    # X's backfill after a reconnect (Pro and Enterprise access only); 0: none.
    backfill_minutes: int = 0


@dataclass(frozen=True)
class XRule:
    id: str
    value: str
    tag: str


@dataclass(frozen=True)
class RuleChanges:
    add: list[str]
    delete: list[str]


class LineSplitter:
    """The stream's bytes → complete lines; a line cut by a dropped connection never comes out."""

    def __init__(self) -> None:
        self.rest = b""

    def feed(self, chunk: bytes) -> list[bytes]:
        *lines, self.rest = (self.rest + chunk).split(b"\n")
        return [line.removesuffix(b"\r") for line in lines]


class Disconnect(Exception):
    def __init__(self, cause: str, description: str) -> None:
        super().__init__(description)
        self.cause = cause


def _rule_id(value: object) -> str | None:
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        return None
    return str(value) or None


def rules_of(payload: object) -> list[XRule]:
    """The rules in a GET (or POST add) rules response: `{data: [{id, value, tag?}], meta}`."""
    data = payload.get("data") if isinstance(payload, dict) else None
    found = []
    for item in data if isinstance(data, list) else ():
        if isinstance(item, dict) and _rule_id(item.get("id")) and isinstance(item.get("value"), str):
            found.append(XRule(str(_rule_id(item["id"])), item["value"], str(item.get("tag") or "")))
    return found


def plan_rule_changes(current: Iterable[XRule], desired: Iterable[str], marker: str) -> RuleChanges:
    """Add the desired values X lacks; delete this deployment's rules nobody wants any more."""
    current = list(current)
    wanted = set(desired)
    present = {rule.value for rule in current}
    return RuleChanges(
        add=sorted(wanted - present),
        delete=sorted(rule.id for rule in current if rule.tag == marker and rule.value not in wanted),
    )


def refused_rules(payload: object) -> dict[str, str]:
    """Rule value → X's reason, from the `errors` of a POST add response."""
    refused: dict[str, str] = {}
    errors = payload.get("errors") if isinstance(payload, dict) else None
    for error in errors if isinstance(errors, list) else ():
        if isinstance(error, dict) and isinstance(error.get("value"), str):
            details = error.get("details")
            reason = "; ".join(map(str, details)) if isinstance(details, list) else ""
            title = str(error.get("title") or "refused")
            refused[error["value"]] = f"{title}: {reason}" if reason else title
    return refused


def is_operational_disconnect(payload: Mapping[str, Any]) -> bool:
    errors = payload.get("errors")
    for error in errors if isinstance(errors, list) else ():
        if isinstance(error, dict) and (
            error.get("disconnect_type") or "operational-disconnect" in str(error.get("type", ""))
        ):
            return True
    return False


def matched_rule_ids(payload: Mapping[str, Any]) -> list[str]:
    rules = payload.get("matching_rules")
    return (
        [i for r in rules if isinstance(r, dict) and (i := _rule_id(r.get("id")))]
        if isinstance(rules, list)
        else []
    )


class RulesError(Exception):
    """The rules endpoint failed; `cause` is a backoff cause."""

    def __init__(self, cause: str, description: str) -> None:
        super().__init__(description)
        self.cause = cause


class XStreamReader:
    """The shared connection. The manager calls `serve` (from its thread) with the running x
    streams, and runs `run` in a thread of its own while this collector holds the x lock."""

    def __init__(
        self,
        config: XStreamConfig,
        buffer: StreamBuffer,
        on_error: Callable[[list[int], str], None] = lambda _ids, _error: None,
        on_refused: Callable[[int, str], None] = lambda _id, _error: None,
        transport: httpx.BaseTransport | None = None,
        meter: StreamMeter | None = None,
    ) -> None:
        self.config = config
        # Counts what X bills for each message against the daily budget; None: not counted.
        self.meter = meter
        self.buffer = buffer
        self.on_error = on_error
        self.on_refused = on_refused
        self.client = config.access.streaming_client(config.keepalive_seconds, transport)
        self.rules_backoff = Backoff(config.reconnect)
        self._lock = threading.Lock()
        # Under the lock: rule value → (stream id, rule index) pairs; X rule id → value.
        self._routes: dict[str, list[tuple[int, int]]] = {}
        self._ids: dict[str, str] = {}
        self._served: dict[int, StreamRecord] = {}
        self._synced: frozenset[str] | None = None
        self._rules_due = 0.0
        self._response: httpx.Response | None = None
        self.closed = threading.Event()

    # --- rules (the manager's thread) -------------------------------------------------------

    def serve(self, streams: Iterable[StreamRecord], now: float) -> None:
        """Route messages to these streams from now on; bring X's rules in line when due.
        A stream left out gets nothing more once this returns."""
        served = {s.id: s for s in streams}
        with self._lock:
            self._served = served
            self._routes = self._routes_for(served, set(self._ids.values()))
        desired = frozenset(r.value for s in served.values() for r in s.rules)
        if desired == self._synced or now < self._rules_due:
            return
        try:
            current = self._sync_rules(desired)
        except CreditsDepletedOnStream as depleted:
            self._credits_depleted(str(depleted))
            return
        except RulesError as error:
            wait = self.rules_backoff.wait_for(error.cause)
            self._rules_due = now + wait
            log.warning("x stream rules failed", extra={"reason": str(error), "wait_seconds": wait})
            self.on_error(sorted(served), f"X stream rules: {error}")
            return
        self.rules_backoff.reset()
        self._synced = desired
        with self._lock:
            self._ids = {rule.id: rule.value for rule in current if rule.value in desired}
            self._routes = self._routes_for(self._served, set(self._ids.values()))

    @staticmethod
    def _routes_for(served: Mapping[int, StreamRecord], known: set[str]) -> dict[str, list[tuple[int, int]]]:
        routes: dict[str, list[tuple[int, int]]] = {}
        for stream in served.values():
            for index, rule in enumerate(stream.rules):
                if rule.value in known:
                    routes.setdefault(rule.value, []).append((stream.id, index))
        return routes

    def _request(self, method: str, body: Mapping[str, Any] | None = None) -> dict[str, Any]:
        try:
            response = self.client.request(
                method, RULES_PATH, json=body, timeout=self.config.access.policy.timeout_seconds
            )
        except httpx.HTTPError as error:
            raise RulesError(NETWORK, f"{type(error).__name__}: {error}") from None
        SOURCE_REQUESTS.labels(source=SOURCE, status=str(response.status_code)).inc()
        if is_credits_depleted(response):
            raise CreditsDepletedOnStream(describe(response))
        if response.status_code == 429:
            raise RulesError(RATE_LIMITED, describe(response))
        if response.status_code >= 300:
            raise RulesError(HTTP_ERROR, describe(response))
        try:
            payload = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            raise RulesError(HTTP_ERROR, "the rules answer is not JSON") from None
        return payload if isinstance(payload, dict) else {}

    def _sync_rules(self, desired: frozenset[str]) -> list[XRule]:
        current = rules_of(self._request("GET"))
        changes = plan_rule_changes(current, desired, self.config.marker)
        if changes.delete:
            self._request("POST", {"delete": {"ids": changes.delete}})
            log.info("x stream rules deleted", extra={"rule_ids": changes.delete})
        if changes.add:
            answer = self._request(
                "POST", {"add": [{"value": v, "tag": self.config.marker} for v in changes.add]}
            )
            for value, reason in refused_rules(answer).items():
                for stream in self._served.values():
                    if any(rule.value == value for rule in stream.rules):
                        self.on_refused(stream.id, f"X refused the rule {value!r}: {reason}")
            log.info("x stream rules added", extra={"rules": changes.add})
        if changes.add or changes.delete:
            current = rules_of(self._request("GET"))
        return current

    def delete_rules(self) -> None:
        """Remove this deployment's rules (the last x stream stopped)."""
        try:
            self._sync_rules(frozenset())
            self._synced = frozenset()
        except RulesError as error:
            log.warning("x stream rules not deleted", extra={"reason": str(error)})

    # --- the connection (its own thread) ----------------------------------------------------

    def close(self) -> None:
        """Stop reading now, even in the middle of a read that waits for X."""
        self.closed.set()
        response = self._response
        if response is not None:
            stream = response.extensions.get("network_stream")
            sock = stream.get_extra_info("socket") if stream is not None else None
            if isinstance(sock, socket.socket):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def run(self, stop: threading.Event) -> None:
        backoff = Backoff(self.config.reconnect)
        metrics.READERS.labels(source=SOURCE).inc()
        try:
            while not (stop.is_set() or self.closed.is_set()):
                try:
                    self._check_budget()
                    self._connect(backoff, stop)
                    cause, description = ENDED, "X closed the stream"
                except Disconnect as disconnect:
                    cause, description = disconnect.cause, str(disconnect)
                except CreditsDepletedOnStream as depleted:
                    self._credits_depleted(str(depleted))
                    break
                except BudgetReachedOnStream as reached:
                    BUDGET_STOPS.labels(source=SOURCE, budget="daily").inc()
                    self._stop_served("x stream stopped: the daily budget is spent", str(reached))
                    break
                if stop.is_set() or self.closed.is_set():
                    break
                wait = backoff.wait_for(cause)
                metrics.RECONNECTS.labels(source=SOURCE, cause=cause).inc()
                log.warning(
                    "x stream disconnected",
                    extra={"cause": cause, "reason": description, "wait_seconds": wait},
                )
                if cause != OPERATIONAL_DISCONNECT:
                    with self._lock:
                        served = sorted(self._served)
                    self.on_error(served, f"X stream disconnected ({cause}): {description}")
                if stop.wait(wait):
                    break
        finally:
            metrics.READERS.labels(source=SOURCE).dec()
            self.client.close()
            if self.meter is not None:
                self.meter.close()

    def _stop_served(self, event: str, reason: str) -> None:
        """No reconnect loop against an empty account or a spent budget: every stream served here
        stops with the reason (they are no longer RUNNING, so no collector starts this reader again)."""
        with self._lock:
            served = sorted(self._served)
        log.error(event, extra={"reason": reason, "streams": served})
        for stream_id in served:
            self.on_refused(stream_id, reason)

    def _credits_depleted(self, description: str) -> None:
        """402 on the connection or the rules: the streams stop, nothing is retried."""
        CREDITS_DEPLETED.labels(source=SOURCE).inc()
        self._stop_served(
            "x stream stopped: credits depleted",
            f"X credits depleted ({description}); top up the balance, then start a new stream",
        )

    def _check_budget(self) -> None:
        problem = self.meter.budget_problem() if self.meter is not None else ""
        if problem:
            raise BudgetReachedOnStream(problem)

    def _params(self) -> dict[str, str | int]:
        params: dict[str, str | int] = {
            "tweet.fields": TWEET_FIELDS,
            "expansions": EXPANSIONS,
            "user.fields": USER_FIELDS,
            "place.fields": PLACE_FIELDS,
        }
        if self.config.backfill_minutes:
            params["backfill_minutes"] = self.config.backfill_minutes
        return params

    def _connect(self, backoff: Backoff, stop: threading.Event) -> None:
        splitter = LineSplitter()
        try:
            with self.client.stream("GET", STREAM_PATH, params=self._params()) as response:
                self._response = response
                if self.closed.is_set():
                    # close() ran while this connected and saw no response to shut: end here, or
                    # the connection stays open (and the next replica opens a second) until X
                    # sends something.
                    return
                SOURCE_REQUESTS.labels(source=SOURCE, status=str(response.status_code)).inc()
                if response.status_code != 200:
                    response.read()
                    if is_credits_depleted(response):
                        raise CreditsDepletedOnStream(describe(response))
                    cause = RATE_LIMITED if response.status_code == 429 else HTTP_ERROR
                    raise Disconnect(cause, describe(response))
                log.info("x stream connected")
                for chunk in response.iter_bytes():
                    for line in splitter.feed(chunk):
                        backoff.reset()
                        if line.strip():
                            self._handle(line, stop)
                    if stop.is_set() or self.closed.is_set():
                        return
        except httpx.ReadTimeout:
            raise Disconnect(STALL, f"no data for {self.config.keepalive_seconds:g} s") from None
        except httpx.HTTPError as error:
            raise Disconnect(NETWORK, f"{type(error).__name__}: {error}") from None
        finally:
            self._response = None

    def _handle(self, line: bytes, stop: threading.Event) -> None:
        try:
            payload = orjson.loads(line)
        except orjson.JSONDecodeError as error:
            payload, reason = None, f"not JSON ({error})"
        else:
            reason = "" if isinstance(payload, dict) else "not a JSON object"
        if not isinstance(payload, dict):
            metrics.MESSAGES_RECEIVED.labels(source=SOURCE).inc()
            log.warning("x stream line unreadable", extra={"reason": reason, "bytes": len(line)})
            self._append_to_all(line, f"unreadable message: {reason}", stop)
            return
        if "data" not in payload:
            if is_operational_disconnect(payload):
                raise Disconnect(OPERATIONAL_DISCONNECT, orjson.dumps(payload.get("errors")).decode())
            with self._lock:
                served = sorted(self._served)
            self.on_error(
                served, f"X stream message: {orjson.dumps(payload.get('errors', payload)).decode()}"
            )
            return
        metrics.MESSAGES_RECEIVED.labels(source=SOURCE).inc()
        if self.meter is not None:
            # X bills what it delivered, matched here or not: counted before anything else.
            self.meter.read(billable_of(payload))
        self._route(payload, line, stop)
        self._check_budget()

    def _route(self, payload: dict[str, Any], line: bytes, stop: threading.Event) -> None:
        with self._lock:
            targets: dict[int, set[int]] = {}
            for rule_id in matched_rule_ids(payload):
                for stream_id, index in self._routes.get(self._ids.get(rule_id, ""), ()):
                    targets.setdefault(stream_id, set()).add(index)
            if not targets:
                log.debug("x stream message matched no served stream")
                return
            metrics.MESSAGES_MATCHED.labels(source=SOURCE).inc()
            items = [(s, BufferMessage(MESSAGE, line, tuple(sorted(i)))) for s, i in sorted(targets.items())]
            self._append(items, stop)

    def _append_to_all(self, line: bytes, error: str, stop: threading.Event) -> None:
        with self._lock:
            items = [(s, BufferMessage(MESSAGE, line, error=error)) for s in sorted(self._served)]
            self._append(items, stop)

    def _append(self, items: list[tuple[int, BufferMessage]], stop: threading.Event) -> None:
        # Under the lock: `serve` cannot drop a stream between the routing and the append.
        if not items:
            return
        retry = Backoff(self.config.reconnect)
        while True:
            try:
                self.buffer.append(items)
                return
            except Exception as error:  # noqa: BLE001 - Redis down: hold the message and retry
                wait = retry.wait_for(NETWORK)
                log.warning("stream buffer append failed; retrying", extra={"reason": str(error)})
                if stop.wait(wait):
                    return
