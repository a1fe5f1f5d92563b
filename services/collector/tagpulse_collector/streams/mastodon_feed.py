"""Mastodon as a stream: the instance's public timeline, polled, matched here.

GET /api/v1/timelines/public?min_id=<position>&limit=40 returns the statuses right after the
position; they are read oldest first, and the newest id becomes the position. A full page is
followed at once, otherwise the feed waits `poll_seconds`. The first poll of a new stream starts
from the newest page (there is no "from the beginning" on a live timeline). Failures go through
`ApiClient` (retries, rate-limit waits), then wait like an HTTP error of the X stream.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator

import orjson

from tagpulse_collector.sources.errors import Interrupted, SourceError
from tagpulse_collector.sources.mastodon import MastodonAccess
from tagpulse_collector.streams import metrics
from tagpulse_collector.streams.backoff import HTTP_ERROR, Backoff, ReconnectPolicy
from tagpulse_collector.streams.local_feed import Feed, FeedItem, Stop

log = logging.getLogger("tagpulse.streams")

PUBLIC_TIMELINE = "/api/v1/timelines/public"
PAGE_SIZE = 40


def mastodon_feed(
    access: MastodonAccess,
    poll_seconds: float,
    reconnect: ReconnectPolicy,
    on_error: Callable[[str], None] = lambda _error: None,
) -> Feed:
    def feed(after: int | None, stop: Stop) -> Iterator[FeedItem | None]:
        backoff = Backoff(reconnect)
        position = after
        client = access.client()
        try:
            while not stop.is_set():
                params: dict[str, str | int] = {"limit": PAGE_SIZE}
                if position is not None:
                    params["min_id"] = str(position)
                try:
                    response = client.get(PUBLIC_TIMELINE, params)
                    statuses = orjson.loads(response.content)
                    if not isinstance(statuses, list):
                        raise ValueError("the timeline is not a JSON array")
                except (SourceError, ValueError) as error:
                    wait = backoff.wait_for(HTTP_ERROR)
                    metrics.RECONNECTS.labels(source="mastodon", cause=HTTP_ERROR).inc()
                    log.warning(
                        "mastodon timeline failed", extra={"reason": str(error), "wait_seconds": wait}
                    )
                    on_error(f"the public timeline failed: {error}")
                    client.take_figures()
                    stop.wait(wait)
                    continue
                except Interrupted:
                    return
                backoff.reset()
                client.take_figures()
                readable = [s for s in statuses if isinstance(s, dict) and str(s.get("id", "")).isdigit()]
                for status in sorted(readable, key=lambda s: int(s["id"])):
                    if position is not None and int(status["id"]) <= position:
                        continue
                    position = int(status["id"])
                    yield FeedItem(position, orjson.dumps(status))
                yield None
                if len(statuses) < PAGE_SIZE:
                    stop.wait(poll_seconds)
        finally:
            client.close()

    return feed
