"""Mastodon as a stream: the instance's public timeline, matched here; with an access token, its
streaming API too, whose `delete` events remove the stored statuses they name.

Polling: GET /api/v1/timelines/public?min_id=<position>&limit=40 returns the statuses right after
the position; they are read oldest first, and the newest id becomes the position. A full page is
followed at once, otherwise the feed waits `poll_seconds`. The first poll of a new stream starts
from the newest page (there is no "from the beginning" on a live timeline). Failures go through
`ApiClient` (retries, rate-limit waits), then wait like an HTTP error of the X stream.

Streaming (TAGPULSE_MASTODON_ACCESS_TOKEN set: Mastodon 4.2 and later refuse anonymous streaming):
once the polls have caught up, the feed opens GET /api/v1/streaming/public (server-sent events) on
the instance's streaming server (its `configuration.urls.streaming`, else the instance itself).
`update` events are new statuses, `delete` events the ids of deleted ones, which become deletion
entries like Bluesky's (the writer deletes the post when it was stored, by this stream or a
collection). The stream replays nothing, so after the connection is opened, and after every
disconnect, a poll from the position fills the gap; statuses read twice in the seam are recognised
by id. Deletions sent while no connection was open are found by the re-checks
(`deletion/mastodon_rechecks.py`). An instance whose streaming API answers 401, 403, 404, 410 or
501 is polled instead, for as long as the feed runs.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections import OrderedDict
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import orjson

from tagpulse_collector.sources.api_client import USER_AGENT, ApiClient
from tagpulse_collector.sources.errors import Interrupted, SourceError
from tagpulse_collector.sources.mastodon import SOURCE_NAME, MastodonAccess
from tagpulse_collector.streams import metrics
from tagpulse_collector.streams.backoff import ENDED, HTTP_ERROR, NETWORK, STALL, Backoff, ReconnectPolicy
from tagpulse_collector.streams.local_feed import Feed, FeedItem, Stop

log = logging.getLogger("tagpulse.streams")

PUBLIC_TIMELINE = "/api/v1/timelines/public"
STREAMING_PUBLIC = "/api/v1/streaming/public"
INSTANCE = "/api/v2/instance"
PAGE_SIZE = 40
# How long the feed waits for an event before it hands the reader a heartbeat.
RECEIVE_SECONDS = 0.2
# Mastodon sends a comment line (":thump") every 15 seconds: silence this long is a dead connection.
STREAM_SILENCE_SECONDS = 45.0
OPEN_TIMEOUT_SECONDS = 10.0
# Answers that say this instance does not stream to us; other failures are tried again.
NOT_STREAMING = frozenset({401, 403, 404, 410, 501})
# Status ids remembered to skip one read twice where a poll and the stream overlap.
SEEN_IDS = 10_000


@dataclass(frozen=True)
class _Event:
    name: str
    data: str


@dataclass(frozen=True)
class _Ended:
    """The connection ended; `status` is the HTTP status when it was refused."""

    reason: str
    status: int | None = None
    opened: bool = False


_OPENED = object()
_HEARTBEAT = object()


class EventStream:
    """One connection to the streaming API, read in a thread of its own, so that the feed can hand
    the reader a heartbeat while the instance is quiet and stop at once when asked."""

    def __init__(self, client: httpx.Client, path: str) -> None:
        self.client = client
        self.path = path
        self.items: queue.Queue[object] = queue.Queue()
        self.closed = threading.Event()
        self._response: httpx.Response | None = None
        self._thread = threading.Thread(target=self._read, name="mastodon-streaming", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.closed.set()
        response = self._response
        if response is not None:
            try:
                response.close()
            except Exception:  # the reading thread may be closing it too
                log.debug("closing the streaming response failed", exc_info=True)
        self._thread.join(timeout=1.0)

    def _read(self) -> None:
        opened = False
        data: list[str]
        try:
            with self.client.stream("GET", self.path, headers={"Accept": "text/event-stream"}) as response:
                if response.status_code != 200:
                    self.items.put(_Ended(f"HTTP {response.status_code}", response.status_code))
                    return
                self._response = response
                if self.closed.is_set():
                    return
                opened = True
                self.items.put(_OPENED)
                name, data = "", []
                for line in response.iter_lines():
                    if self.closed.is_set():
                        return
                    if not line:
                        if data:
                            self.items.put(_Event(name or "message", "\n".join(data)))
                        name, data = "", []
                    elif line.startswith(":"):
                        self.items.put(_HEARTBEAT)
                    else:
                        field, _, value = line.partition(":")
                        value = value.removeprefix(" ")
                        if field == "event":
                            name = value
                        elif field == "data":
                            data.append(value)
            self.items.put(_Ended("the instance ended the stream", opened=opened))
        except Exception as error:  # noqa: BLE001 - httpx's errors, or the socket closed under the read by close()
            if not self.closed.is_set():
                self.items.put(_Ended(f"{type(error).__name__}: {error}", opened=opened))


class _Reading:
    """The feed's position and the status ids it read lately."""

    def __init__(self, after: int | None) -> None:
        self.position = after
        self.seen: OrderedDict[int, None] = OrderedDict()

    def status(self, status: Any) -> FeedItem | None:
        """The item of a status (None: unreadable id, or read already), moving the position."""
        if not isinstance(status, dict) or not str(status.get("id", "")).isdigit():
            return None
        status_id = int(status["id"])
        if status_id in self.seen:
            return None
        self.seen[status_id] = None
        if len(self.seen) > SEEN_IDS:
            self.seen.popitem(last=False)
        # Federated statuses can arrive with ids below the newest one read: the position stays.
        self.position = status_id if self.position is None else max(self.position, status_id)
        return FeedItem(self.position, orjson.dumps(status))

    def event(self, event: _Event) -> FeedItem | None:
        if event.name == "update":
            try:
                return self.status(orjson.loads(event.data))
            except orjson.JSONDecodeError:
                return None
        if event.name == "delete" and event.data.strip().isdigit() and self.position is not None:
            return FeedItem(self.position, event.data.strip().encode(), deleted=True)
        return None  # edits (status.update), announcements, filters


def streaming_base_url(client: ApiClient, base_url: str) -> str:
    """The instance's streaming server (`configuration.urls.streaming`, wss:// → https://), else
    the instance itself."""
    try:
        response = client.get(INSTANCE)
        body = orjson.loads(response.content)
    except (SourceError, orjson.JSONDecodeError):
        return base_url
    urls = body.get("configuration", {}).get("urls", {}) if isinstance(body, dict) else {}
    url = urls.get("streaming") if isinstance(urls, dict) else None
    if not isinstance(url, str) or not url.startswith(("wss://", "ws://", "https://", "http://")):
        return base_url
    return (
        "https://" + url.removeprefix("wss://")
        if url.startswith("wss://")
        else url.replace("ws://", "http://", 1)
    )


def mastodon_feed(
    access: MastodonAccess,
    poll_seconds: float,
    reconnect: ReconnectPolicy,
    on_error: Callable[[str], None] = lambda _error: None,
    streaming: bool = True,
) -> Feed:
    def feed(after: int | None, stop: Stop) -> Iterator[FeedItem | None]:
        reading = _Reading(after)
        backoff = Backoff(reconnect)
        # Mastodon 4.2 and later stream to authenticated clients only.
        stream_events = streaming and bool(access.access_token)
        streaming_client: httpx.Client | None = None
        client = access.client()
        try:
            while not stop.is_set():
                caught_up = yield from _poll(client, reading, backoff, stop, on_error)
                if caught_up is None:
                    continue  # failed: it waited
                if not caught_up:
                    continue  # a full page: follow at once
                if not stream_events:
                    stop.wait(poll_seconds)
                    continue
                if streaming_client is None:
                    streaming_client = httpx.Client(
                        base_url=streaming_base_url(client, access.base_url).rstrip("/"),
                        headers={"User-Agent": USER_AGENT, "Authorization": f"Bearer {access.access_token}"},
                        timeout=httpx.Timeout(OPEN_TIMEOUT_SECONDS, read=STREAM_SILENCE_SECONDS),
                        follow_redirects=False,
                    )
                    client.take_figures()
                ended = yield from _stream(streaming_client, client, reading, backoff, stop)
                if ended is None:
                    return  # stopped
                if ended.status in NOT_STREAMING:
                    stream_events = False
                    log.warning(
                        "mastodon streaming refused; polling the public timeline instead",
                        extra={"reason": ended.reason},
                    )
                    on_error(f"the streaming API refused the connection ({ended.reason}); polling instead")
                    continue
                cause = HTTP_ERROR if ended.status is not None else (ENDED if ended.opened else NETWORK)
                if "ReadTimeout" in ended.reason:
                    cause = STALL
                wait = backoff.wait_for(cause)
                metrics.RECONNECTS.labels(source=SOURCE_NAME, cause=cause).inc()
                log.warning(
                    "mastodon streaming disconnected; polling the gap, then reconnecting",
                    extra={"reason": ended.reason, "wait_seconds": wait, "position": reading.position},
                )
                on_error(f"the streaming API: {ended.reason}")
                stop.wait(wait)
        finally:
            client.close()
            if streaming_client is not None:
                streaming_client.close()

    return feed


def _poll(
    client: ApiClient, reading: _Reading, backoff: Backoff, stop: Stop, on_error: Callable[[str], None]
) -> Generator[FeedItem | None, None, bool | None]:
    """One page of the public timeline after the position: the generator's value is True when it
    was the last page (caught up), False when a full page may have more after it, None when it
    failed (after the wait)."""
    params: dict[str, str | int] = {"limit": PAGE_SIZE}
    if reading.position is not None:
        params["min_id"] = str(reading.position)
    try:
        response = client.get(PUBLIC_TIMELINE, params)
        statuses = orjson.loads(response.content)
        if not isinstance(statuses, list):
            raise ValueError("the timeline is not a JSON array")
    except (SourceError, ValueError) as error:
        wait = backoff.wait_for(HTTP_ERROR)
        metrics.RECONNECTS.labels(source=SOURCE_NAME, cause=HTTP_ERROR).inc()
        log.warning("mastodon timeline failed", extra={"reason": str(error), "wait_seconds": wait})
        on_error(f"the public timeline failed: {error}")
        client.take_figures()
        stop.wait(wait)
        return None
    except Interrupted:
        return None
    backoff.reset()
    client.take_figures()
    readable = [s for s in statuses if isinstance(s, dict) and str(s.get("id", "")).isdigit()]
    for status in sorted(readable, key=lambda s: int(s["id"])):
        if reading.position is not None and int(status["id"]) <= reading.position:
            continue
        item = reading.status(status)
        if item is not None:
            yield item
    yield None
    return len(statuses) < PAGE_SIZE


def _stream(
    streaming_client: httpx.Client, client: ApiClient, reading: _Reading, backoff: Backoff, stop: Stop
) -> Generator[FeedItem | None, None, _Ended | None]:
    """Read the streaming API until it ends (the generator's value says how) or `stop` (None)."""
    connection = EventStream(streaming_client, STREAMING_PUBLIC)
    try:
        while not stop.is_set():
            try:
                item = connection.items.get(timeout=RECEIVE_SECONDS)
            except queue.Empty:
                yield None
                continue
            if isinstance(item, _Ended):
                return item
            if item is _OPENED:
                log.info("mastodon streaming connected", extra={"position": reading.position})
                # The statuses posted before the connection opened: poll them once.
                yield from _poll_gap(client, reading, stop)
                continue
            backoff.reset()
            if isinstance(item, _Event):
                got = reading.event(item)
                if got is not None:
                    yield got
            else:
                yield None  # a heartbeat comment
        return None
    finally:
        connection.close()


def _poll_gap(client: ApiClient, reading: _Reading, stop: Stop) -> Iterator[FeedItem | None]:
    """The statuses after the position, page by page, until a page is not full; a failure leaves
    the rest to the stream (and to the poll after the next disconnect)."""
    never = Backoff(ReconnectPolicy(http_initial_seconds=0.0, http_max_seconds=0.0))
    while not stop.is_set():
        caught_up = yield from _poll(client, reading, never, stop, lambda _error: None)
        if caught_up is None or caught_up:
            return
