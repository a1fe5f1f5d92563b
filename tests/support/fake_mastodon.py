"""A fake Mastodon instance serving the recorded hashtag timelines (tests/fixtures/mastodon/).

GET /api/v1/timelines/tag/<tag>?max_id=…&since_id=… answers with the recorded page for that
`max_id`, its `Link` header pointing back at this server, and its x-ratelimit-* headers.
`since_id` keeps only newer statuses, and ends the timeline at the first page that lost one.

GET /api/v1/timelines/public?min_id=…&limit=… serves `public` (every recorded status, once; a
test may add more) like Mastodon: the `limit` statuses right after `min_id`, newest first, or the
newest `limit` without it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.support.fake_http import FakeApi, Request, Response

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "mastodon"
RECORDED_ORIGIN = "http://localhost:3000"
TAG_PATH = "/api/v1/timelines/tag/"
PUBLIC_PATH = "/api/v1/timelines/public"


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


class FakeMastodon(FakeApi):
    def __init__(self) -> None:
        super().__init__()
        self.timelines = recorded_timelines()
        self.public = all_recorded_statuses()

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
