"""Bluesky keyword streams from a fake Jetstream replaying a real capture: matched here, a
connection cut mid-stream resumed from its cursor with nothing lost or counted twice, a collector
restart resumed from the stored position, and deletions of stored posts counted."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Engine, select

from tagpulse.db.models import Post
from tagpulse_collector.catalog import SourceCatalog, StreamReading
from tagpulse_collector.ingestion.batches import ingest_pages
from tagpulse_collector.sources.base import CollectedPost, Page
from tagpulse_collector.sources.bluesky import BlueskyAccess
from tagpulse_collector.streams import store
from tagpulse_collector.streams.backoff import ReconnectPolicy
from tagpulse_collector.streams.manager import StreamManager
from tests.integration.stream_helpers import counts, new_stream, stream
from tests.integration.test_ingest import assert_rollups_match_a_recount
from tests.support.fake_bluesky import APP_PASSWORD, HANDLE
from tests.support.fake_jetstream import FakeJetstream, recorded_events
from tests.support.polling import wait_until

OVERLAP_SECONDS = 5.0
RULES = (("#indierebellion", "indie"), ("#talesatwonderworld", "tales"), ("boring", "boring"))


@pytest.fixture
def engine(postgres_engine: Engine) -> Engine:
    """On PostgreSQL only: the streams buffer in Redis, which needs it."""
    return postgres_engine


def bluesky_catalog(jetstream_url: str) -> SourceCatalog:
    return SourceCatalog(
        bluesky=BlueskyAccess(HANDLE, APP_PASSWORD, jetstream_url=jetstream_url),
        reading=StreamReading(
            bluesky_overlap_seconds=OVERLAP_SECONDS, reconnect=ReconnectPolicy(scale=0.001)
        ),
    )


def post_events() -> list[dict[str, Any]]:
    return [
        e
        for e in recorded_events()
        if e["kind"] == "commit" and e["commit"]["collection"] == "app.bsky.feed.post"
    ]


def uri(event: dict[str, Any]) -> str:
    return f"at://{event['did']}/app.bsky.feed.post/{event['commit']['rkey']}"


def creates() -> list[dict[str, Any]]:
    return [e for e in post_events() if e["commit"]["operation"] == "create"]


def store_the_deleted_post(engine: Engine) -> str:
    """The recording deletes one post: store it first, as a collection would have."""
    [deletion] = [e for e in post_events() if e["commit"]["operation"] == "delete"]
    post = CollectedPost("bluesky", uri(deletion), deletion["did"], "gone soon", "en", datetime.now(UTC), ())
    with engine.begin() as connection:
        ingest_pages(connection, [Page(posts=[post])])
    return uri(deletion)


def matched_by_the_rules() -> dict[str, str]:
    """uri → rule tag, read from the recording: the two posts with those tag facets, and the one
    whose text is "My show is super boring"."""
    chosen = {}
    for event in creates():
        record = event["commit"]["record"]
        tags = {f["features"][0].get("tag", "").casefold() for f in record.get("facets", [])}
        if "indierebellion" in tags:
            chosen[uri(event)] = "indie"
        elif "talesatwonderworld" in tags:
            chosen[uri(event)] = "tales"
        elif "boring" in record["text"].split():
            chosen[uri(event)] = "boring"
    return chosen


def settled(engine: Engine, stream_id: int) -> Callable[[], bool]:
    return lambda: (
        stream(engine, stream_id).state == "STOPPED" and stream(engine, stream_id).drained_at is not None
    )


def test_a_cut_connection_resumes_from_its_cursor_and_nothing_is_lost_or_counted_twice(
    engine: Engine, start_manager: Callable[[SourceCatalog], StreamManager]
) -> None:
    chosen = matched_by_the_rules()
    assert sorted(chosen.values()) == ["boring", "indie", "tales"]
    deleted = store_the_deleted_post(engine)
    # Ten events (of the 20 a post stream gets: 17 creates, a delete, identity, account), then
    # the connection drops.
    jetstream = FakeJetstream(cut_after=10).start()
    try:
        bluesky = new_stream(engine, "bluesky", *RULES)
        start_manager(bluesky_catalog(jetstream.url))
        wait_until(lambda: stream(engine, bluesky.id).posts_received == len(creates()), message="every post")
        wait_until(lambda: len(jetstream.connections) == 2, message="the reconnect")
        store.stop_stream(engine, bluesky.id)
        wait_until(settled(engine, bluesky.id), message="the stream to settle")
    finally:
        jetstream.close()
    done = stream(engine, bluesky.id)
    assert (done.posts_received, done.posts_matched, done.posts_unique, done.posts_duplicate) == (17, 3, 3, 0)
    assert done.posts_new == 3
    assert done.posts_deleted == 1
    assert counts(done, "rule") == {"indie": 1, "tales": 1, "boring": 1}
    assert counts(done, "country") == {"unknown": 3}
    with engine.connect() as connection:
        stored = {r.id for r in connection.execute(select(Post.table().c.id))}
    # The delete event removed the stored post through the deletion path, and counted it.
    assert deleted not in stored
    assert stored == set(chosen)
    assert_rollups_match_a_recount(engine)
    first, second = jetstream.connections
    assert first == {"wantedCollections": ["app.bsky.feed.post"]}
    chosen_events = [
        e
        for e in recorded_events()
        if e["kind"] != "commit" or e["commit"]["collection"] == "app.bsky.feed.post"
    ]
    read_before_the_cut = max(e["time_us"] for e in chosen_events[:10])
    assert second["cursor"] == [str(read_before_the_cut - int(OVERLAP_SECONDS * 1_000_000))]
    assert done.position == max(e["time_us"] for e in chosen_events)


def test_a_restarted_collector_resumes_from_the_stored_position_and_the_dedupe_absorbs_the_overlap(
    engine: Engine, start_manager: Callable[[SourceCatalog], StreamManager]
) -> None:
    jetstream = FakeJetstream().start()
    try:
        bluesky = new_stream(engine, "bluesky", *RULES)
        first = start_manager(bluesky_catalog(jetstream.url))
        wait_until(lambda: stream(engine, bluesky.id).posts_received == len(creates()), message="every post")
        first.stop()
        position = stream(engine, bluesky.id).position
        assert position is not None
        start_manager(bluesky_catalog(jetstream.url))
        wait_until(lambda: len(jetstream.connections) == 2, message="the new reader")
        # The capture spans less than the overlap: every post comes again, and counts once.
        wait_until(
            lambda: stream(engine, bluesky.id).posts_received == 2 * len(creates()), message="the overlap"
        )
        store.stop_stream(engine, bluesky.id)
        wait_until(settled(engine, bluesky.id), message="the stream to settle")
    finally:
        jetstream.close()
    assert jetstream.connections[1]["cursor"] == [str(position - int(OVERLAP_SECONDS * 1_000_000))]
    done = stream(engine, bluesky.id)
    assert (done.posts_matched, done.posts_unique, done.posts_duplicate, done.posts_new) == (6, 3, 3, 3)
    assert counts(done, "rule") == {"indie": 1, "tales": 1, "boring": 1}
