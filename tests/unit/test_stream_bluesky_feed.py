"""Jetstream events (the recorded golden and corpus captures) as stream messages, and the feed's
reading: position, overlap, the commits it skips."""

from __future__ import annotations

import json
from collections.abc import Callable

import orjson
import pytest

from tagpulse_collector.streams.backoff import ReconnectPolicy
from tagpulse_collector.streams.bluesky_feed import _Reading, jetstream_feed, subscribe_url
from tagpulse_collector.streams.local_feed import FeedItem
from tagpulse_collector.streams.messages import (
    DELETED,
    BadMessage,
    BufferMessage,
    candidate_of,
    deleted_post,
    parse_message,
)
from tests.support.fake_jetstream import FakeJetstream, recorded_events

GOLDEN = recorded_events("golden_v1.jsonl")


def of_kind(collection: str | None, operation: str | None = None) -> dict[str, object]:
    for event in GOLDEN:
        commit = event.get("commit") or {}
        if commit.get("collection") == collection and (
            operation is None or commit.get("operation") == operation
        ):
            return event
    raise LookupError(collection)


def test_a_post_create_is_a_post_with_its_uri_author_language_and_time() -> None:
    event = of_kind("app.bsky.feed.post", "create")
    parsed = parse_message("bluesky", json.dumps(event).encode())
    assert parsed.post.id == f"at://{event['did']}/app.bsky.feed.post/{event['commit']['rkey']}"
    assert (parsed.post.author_id, parsed.post.language, parsed.post.text) == (
        event["did"],
        "en",
        "Try RSV for a good time !!",
    )
    assert parsed.post.created_at.isoformat() == "2026-05-25T14:23:28.757000+00:00"
    assert parsed.authors == ()  # Jetstream carries no profile
    assert candidate_of("bluesky", event).text == "Try RSV for a good time !!"


def test_the_corpus_posts_with_tag_facets_carry_their_hashtags() -> None:
    posts = [
        parse_message("bluesky", json.dumps(e).encode()).post
        for e in recorded_events()
        if e["kind"] == "commit"
        and e["commit"]["collection"] == "app.bsky.feed.post"
        and e["commit"]["operation"] == "create"
    ]
    assert len(posts) == 17
    assert sorted(p.hashtags for p in posts if p.hashtags) == [
        ("howtotellaitoshutup", "indierebellion"),
        ("talesatwonderworld", "balanwonderworldoc"),
    ]
    assert sum(p.language == "und" for p in posts) == 1  # the one without langs
    assert "en" in {p.language for p in posts}  # en-US is en


@pytest.mark.parametrize(
    "collection", ["app.bsky.feed.like", "app.bsky.feed.repost", "app.bsky.graph.follow"]
)
def test_other_records_are_no_post(collection: str) -> None:
    with pytest.raises(BadMessage):
        candidate_of("bluesky", of_kind(collection))


def test_a_delete_names_the_post_and_survives_the_buffer() -> None:
    [event] = [
        e
        for e in recorded_events()
        if e["kind"] == "commit"
        and e["commit"]["collection"] == "app.bsky.feed.post"
        and e["commit"]["operation"] == "delete"
    ]
    uri = deleted_post(event)
    assert uri == f"at://{event['did']}/app.bsky.feed.post/{event['commit']['rkey']}"
    entry = BufferMessage(DELETED, uri.encode(), position=7)
    assert BufferMessage.from_fields(entry.fields()) == entry
    assert deleted_post(of_kind("app.bsky.feed.post", "create")) is None


def test_reading_skips_commits_read_already_and_keeps_the_highest_time() -> None:
    events = [
        e
        for e in recorded_events()
        if e["kind"] != "commit" or e["commit"]["collection"] == "app.bsky.feed.post"
    ]
    reading = _Reading(None, overlap_us=5_000_000)
    first = [reading.take(orjson.dumps(e)) for e in events[:10]]
    position = reading.position
    assert position == max(e["time_us"] for e in events[:10])
    assert reading.cursor() == position - 5_000_000
    # The replay from the cursor, in time order: what was read comes back and is skipped.
    replay = sorted(events, key=lambda e: e["time_us"])
    second = [reading.take(orjson.dumps(e)) for e in replay]
    items = [i for i in first + second if i is not None]
    created = [i for i in items if not i.deleted]
    assert len(created) == 17
    assert len({i.body for i in created}) == 17
    assert [i.body.decode() for i in items if i.deleted] == [
        deleted_post(e) for e in events if deleted_post(e)
    ]
    assert reading.position == max(e["time_us"] for e in events)
    assert all(i.position <= reading.position for i in items)


def test_the_subscribe_url_asks_for_posts_from_the_cursor() -> None:
    assert subscribe_url("wss://j.example/subscribe", None) == (
        "wss://j.example/subscribe?wantedCollections=app.bsky.feed.post"
    )
    assert subscribe_url("ws://127.0.0.1:1/subscribe", 17) == (
        "ws://127.0.0.1:1/subscribe?wantedCollections=app.bsky.feed.post&cursor=17"
    )


class StopAfter:
    """A feed's Stop that is set once `done()` says so (checked on every look)."""

    def __init__(self, done: Callable[[], bool]) -> None:
        self.done = done

    def is_set(self) -> bool:
        return self.done()

    def wait(self, timeout: float) -> bool:
        return self.done()


def test_the_feed_reads_every_post_once_across_a_dropped_connection() -> None:
    jetstream = FakeJetstream(cut_after=7).start()
    items: list[FeedItem] = []
    errors: list[str] = []
    try:
        feed = jetstream_feed(jetstream.url, 5.0, ReconnectPolicy(scale=0.001), errors.append)
        stop = StopAfter(lambda: len(items) == 18)
        for item in feed(None, stop):
            if item is not None:
                items.append(item)
    finally:
        jetstream.close()
    assert len(jetstream.connections) == 2
    assert len(errors) == 1
    assert errors[0].startswith("Jetstream: ")
    created = [i for i in items if not i.deleted]
    assert len({i.body for i in created}) == len(created) == 17
    assert sum(i.deleted for i in items) == 1


def test_a_refused_connection_is_an_error_and_is_tried_again() -> None:
    jetstream = FakeJetstream().start()
    url = jetstream.url
    jetstream.close()  # nothing listens there any more
    errors: list[str] = []
    feed = jetstream_feed(url, 5.0, ReconnectPolicy(scale=0.001), errors.append)
    assert list(feed(None, StopAfter(lambda: len(errors) >= 2))) == []
    assert all(error.startswith("Jetstream: ") for error in errors)
