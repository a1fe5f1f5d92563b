"""A fake Mastodon instance serving the recorded hashtag timelines (tests/fixtures/mastodon/).

GET /api/v1/timelines/tag/<tag>?max_id=…&since_id=… answers with the recorded page for that
`max_id`, its `Link` header pointing back at this server, and its x-ratelimit-* headers.
`since_id` keeps only newer statuses, and ends the timeline at the first page that lost one.

GET /api/v1/timelines/public?min_id=…&limit=… serves `public` (every recorded status, once; a
test may add more) like Mastodon: the `limit` statuses right after `min_id`, newest first, or the
newest `limit` without it.

GET /api/v1/statuses/<id> answers a known status (any recorded or added to `public`) with 200 and
its JSON, and 404 `{"error": "Record not found"}` (Mastodon's answer) for an id in `deleted` or
never seen. Each lookup spends one request of a window of `status_window` requests, reported in
x-ratelimit-* headers (Mastodon's, ISO 8601 reset) as the instance does; `rate_limited()` is a
429 of that shape.

GET /api/v1/streaming/public is Mastodon's streaming API (server-sent events), for a client with a
bearer token (Mastodon 4.2 and later refuse anonymous streaming) or with `streaming_status` set to
refuse: a `:thump` comment every 0.1 s, and the events a test sends with `stream_update(status)`
and `stream_delete(status_id)` to every open connection; `drop_streams()` ends them. GET
/api/v2/instance names this server (as ws://) as the streaming server. No Mastodon streaming
session is recorded in the fixtures: the event lines follow Mastodon's documentation (`event:
update` with a status's JSON, `event: delete` with its id).
"""

from __future__ import annotations

import json
import queue
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from tests.support.fake_http import FakeApi, Fault, Request, Response

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "mastodon"
RECORDED_ORIGIN = "http://localhost:3000"
TAG_PATH = "/api/v1/timelines/tag/"
PUBLIC_PATH = "/api/v1/timelines/public"
STATUS_PATH = "/api/v1/statuses/"
STREAMING_PATH = "/api/v1/streaming/public"
INSTANCE_PATH = "/api/v2/instance"
# Mastodon's default: 300 requests per 5 minutes.
WINDOW_REQUESTS = 300
NOT_FOUND = b'{"error":"Record not found"}'


def recorded_timelines() -> dict[str, dict[str | None, dict[str, Any]]]:
    """hashtag → max_id (None for the first page) → the recorded response."""
    timelines: dict[str, dict[str | None, dict[str, Any]]] = {}
    for response in json.loads((FIXTURES / "timelines.json").read_text()):
        if "min_id" in response["query"]:
            continue  # the "prev" direction; the collector never asks for it
        pages = timelines.setdefault(response["hashtag"], {})
        pages.setdefault(response["query"].get("max_id"), response)
    return timelines


def recorded_statuses(hashtag: str) -> list[dict[str, Any]]:
    """Every recorded status of a hashtag's timeline, newest first, once each."""
    pages = recorded_timelines()[hashtag]
    seen: dict[str, dict[str, Any]] = {}
    max_id: str | None = None
    while max_id in pages or max_id is None:
        page = pages.get(max_id)
        if page is None or not page["body"]:
            break
        for status in page["body"]:
            seen.setdefault(status["id"], status)
        max_id = page["body"][-1]["id"]
    return list(seen.values())


def all_recorded_statuses() -> list[dict[str, Any]]:
    """Every recorded status of every timeline, once each, oldest first."""
    seen: dict[str, dict[str, Any]] = {}
    for pages in recorded_timelines().values():
        for page in pages.values():
            for status in page["body"]:
                seen.setdefault(status["id"], status)
    return sorted(seen.values(), key=lambda s: int(s["id"]))


def window_reset(seconds: int = 300) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")


def rate_limited(reset_in: int = 0, **fault: Any) -> Fault:
    """Mastodon's 429: `{"error": "Too many requests"}`, the window spent, resetting `reset_in` s on."""
    return Fault(
        status=429,
        body=b'{"error":"Too many requests"}',
        headers={
            "x-ratelimit-limit": str(WINDOW_REQUESTS),
            "x-ratelimit-remaining": "0",
            "x-ratelimit-reset": window_reset(reset_in),
        },
        **fault,
    )


class FakeMastodon(FakeApi):
    def __init__(self) -> None:
        super().__init__()
        self.timelines = recorded_timelines()
        self.public = all_recorded_statuses()
        # Status ids the instance answers 404 for (deleted).
        self.deleted: set[str] = set()
        self.status_window = WINDOW_REQUESTS
        self._window_used = 0
        self._window_lock = threading.Lock()
        # 200: stream; another status refuses every streaming request with it.
        self.streaming_status = 200
        self._subscribers: list[queue.Queue[bytes | None]] = []
        self.streams_opened = 0

    # --- the streaming API -----------------------------------------------------------------

    def open_streams(self) -> int:
        with self._lock:
            return len(self._subscribers)

    def stream_update(self, status: dict[str, Any]) -> None:
        self._send(b"event: update\ndata: " + json.dumps(status).encode() + b"\n\n")

    def stream_delete(self, status_id: str) -> None:
        self.deleted.add(status_id)
        self._send(f"event: delete\ndata: {status_id}\n\n".encode())

    def drop_streams(self) -> None:
        self._send(None)

    def close(self) -> None:
        self.drop_streams()
        super().close()

    def _send(self, item: bytes | None) -> None:
        with self._lock:
            for subscriber in self._subscribers:
                subscriber.put(item)

    def _serve(self, handler: BaseHTTPRequestHandler) -> None:
        url = urlsplit(handler.path)
        if url.path != STREAMING_PATH:
            super()._serve(handler)
            return
        headers = {k.lower(): v for k, v in handler.headers.items()}
        with self._lock:
            self.requests.append(Request("GET", url.path, dict(parse_qsl(url.query)), headers))
        refusal = self.streaming_status if self.streaming_status != 200 else None
        if refusal is None and not headers.get("authorization", "").startswith("Bearer "):
            refusal = 401
        if refusal is not None:
            body = b'{"error":"This method requires an authenticated user"}'
            handler.send_response(refusal)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(body)))
            handler.end_headers()
            handler.wfile.write(body)
            return
        handler.close_connection = True
        handler.send_response(200)
        handler.send_header("Content-Type", "text/event-stream")
        handler.send_header("Connection", "close")
        handler.end_headers()
        subscriber: queue.Queue[bytes | None] = queue.Queue()
        with self._lock:
            self._subscribers.append(subscriber)
            self.streams_opened += 1
        try:
            handler.wfile.flush()
            while True:
                try:
                    item = subscriber.get(timeout=0.1)
                except queue.Empty:
                    item = b":thump\n\n"
                if item is None:
                    return
                handler.wfile.write(item)
                handler.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client closed it
        finally:
            with self._lock:
                self._subscribers.remove(subscriber)

    def status_requests(self) -> list[Request]:
        return [r for r in self.requests if r.path.startswith(STATUS_PATH)]

    def _status(self, request: Request) -> Response:
        with self._window_lock:
            self._window_used += 1
            remaining = max(self.status_window - self._window_used, 0)
        headers = {
            "x-ratelimit-limit": str(self.status_window),
            "x-ratelimit-remaining": str(remaining),
            "x-ratelimit-reset": window_reset(),
        }
        status_id = request.path.removeprefix(STATUS_PATH)
        known = {s["id"]: s for s in self.public}
        for pages in self.timelines.values():
            for page in pages.values():
                known.update((s["id"], s) for s in page["body"])
        if status_id in self.deleted or status_id not in known:
            return Response(404, NOT_FOUND, headers)
        return Response(200, json.dumps(known[status_id]).encode(), headers)

    def public_requests(self) -> list[Request]:
        return [r for r in self.requests if r.path == PUBLIC_PATH]

    def _public(self, request: Request) -> Response:
        limit = int(request.query.get("limit", "20"))
        statuses = sorted(self.public, key=lambda s: int(s["id"]))
        min_id = int(request.query.get("min_id") or 0)
        chosen = [s for s in statuses if int(s["id"]) > min_id][:limit] if min_id else statuses[-limit:]
        return Response(200, json.dumps(list(reversed(chosen))).encode())

    def tag_requests(self) -> list[Request]:
        return [r for r in self.requests if r.path.startswith(TAG_PATH)]

    def handle(self, request: Request) -> Response:
        if request.path == PUBLIC_PATH:
            return self._public(request)
        if request.path.startswith(STATUS_PATH):
            return self._status(request)
        if request.path == INSTANCE_PATH:
            streaming = self.base_url.replace("http://", "ws://", 1)
            return Response(200, json.dumps({"configuration": {"urls": {"streaming": streaming}}}).encode())
        if not request.path.startswith(TAG_PATH):
            return Response(404, b'{"error": "Record not found"}')
        pages = self.timelines.get(request.path.removeprefix(TAG_PATH).casefold(), {})
        recorded = pages.get(request.query.get("max_id"))
        if recorded is None:
            return Response(200, b"[]")
        statuses = list(recorded["body"])
        headers = {k: v for k, v in recorded["headers"].items() if k.startswith("x-ratelimit")}
        link = recorded["headers"].get("link")
        since_id = request.query.get("since_id")
        if since_id:
            newer = [s for s in statuses if int(s["id"]) > int(since_id)]
            if len(newer) < len(statuses):
                link = None
            statuses = newer
        if link and statuses:
            headers["Link"] = link.replace(RECORDED_ORIGIN, self.base_url)
        return Response(200, json.dumps(statuses).encode(), headers)
