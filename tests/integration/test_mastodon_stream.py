"""A `mastodon` keyword stream on the fake instance's streaming API: new statuses through it, its
`delete` events through the one deletion path, the gap of a dropped connection polled, and an
instance that refuses to stream polled instead."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import Engine, select

from tagpulse.db.models import Post
from tagpulse_collector.catalog import SourceCatalog, StreamReading
from tagpulse_collector.sources.mastodon import MastodonAccess
from tagpulse_collector.streams import store
from tagpulse_collector.streams.backoff import ReconnectPolicy
from tagpulse_collector.streams.manager import StreamManager
from tests.integration.stream_helpers import new_stream, stream
from tests.integration.test_ingest import assert_rollups_match_a_recount
from tests.integration.test_mastodon_collection import TAG, run
from tests.support.fake_mastodon import STREAMING_PATH, FakeMastodon
from tests.support.policies import FAST
from tests.support.polling import wait_until

TOKEN = "fake-mastodon-access-token"


@pytest.fixture
def engine(postgres_engine: Engine) -> Engine:
    """On PostgreSQL only: the streams buffer in Redis, which needs it."""
    return postgres_engine


def catalog(fake: FakeMastodon, token: str | None = TOKEN) -> SourceCatalog:
    return SourceCatalog(
        mastodon=MastodonAccess(fake.base_url, token, FAST),
        reading=StreamReading(mastodon_poll_seconds=0.05, reconnect=ReconnectPolicy(scale=0.001)),
    )


def new_status(recorded: list[dict[str, Any]], after: int, text: str) -> dict[str, Any]:
    status = copy.deepcopy(recorded[0])
    status["id"] = str(max(int(s["id"]) for s in recorded) + after)
    status["content"] = f"<p>{text}</p>"
    status["tags"] = []
    return status


def received(engine: Engine, stream_id: int, count: int) -> Callable[[], bool]:
    return lambda: stream(engine, stream_id).posts_received == count


def settled(engine: Engine, stream_id: int) -> Callable[[], bool]:
    return lambda: (
        stream(engine, stream_id).state == "STOPPED" and stream(engine, stream_id).drained_at is not None
    )


def stored_ids(engine: Engine) -> set[str]:
    with engine.connect() as connection:
        return set(connection.execute(select(Post.id).where(Post.source == "mastodon")).scalars())


def test_statuses_and_deletes_arrive_through_the_streaming_api_and_a_dropped_connection_loses_nothing(
    engine: Engine, fake_mastodon: FakeMastodon, start_manager: Callable[[SourceCatalog], StreamManager]
) -> None:
    # A collection stored the recorded statuses, which are also the public timeline.
    assert run(engine, fake_mastodon, [TAG, "hoot"]).state == "SUCCEEDED"
    recorded = list(fake_mastodon.public)
    assert stored_ids(engine) == {s["id"] for s in recorded}
    toots = new_stream(engine, "mastodon", ("toot", "toots"))
    start_manager(catalog(fake_mastodon))
    wait_until(received(engine, toots.id, len(recorded)), message="the timeline, polled")
    wait_until(lambda: fake_mastodon.open_streams() == 1, message="the streaming connection")

    # Through the stream only: the fake's public timeline does not list it.
    first = new_status(recorded, 1, "Toot from the stream")
    fake_mastodon.stream_update(first)
    wait_until(received(engine, toots.id, len(recorded) + 1), message="the streamed status")
    # A stored status deleted upstream leaves with everything it counted; one never stored counts nothing.
    gone = recorded[3]["id"]
    fake_mastodon.stream_delete("1")
    fake_mastodon.stream_delete(gone)
    wait_until(lambda: stream(engine, toots.id).posts_deleted == 1, message="the deletion")
    assert gone not in stored_ids(engine)
    assert_rollups_match_a_recount(engine)

    # Posted while the connection drops: the poll after it reads the gap, then the stream reopens,
    # and the same status sent by it again counts once.
    second = new_status(recorded, 2, "Toot while the stream was down")
    fake_mastodon.public.append(second)
    fake_mastodon.drop_streams()
    wait_until(received(engine, toots.id, len(recorded) + 2), message="the gap, polled")
    wait_until(lambda: fake_mastodon.open_streams() == 1, message="the reconnect")
    assert fake_mastodon.streams_opened == 2
    fake_mastodon.stream_update(second)
    third = new_status(recorded, 3, "Toot after the reconnect")
    fake_mastodon.stream_update(third)
    wait_until(received(engine, toots.id, len(recorded) + 3), message="the status after the reconnect")

    store.stop_stream(engine, toots.id)
    wait_until(settled(engine, toots.id), message="the stream to settle")
    done = stream(engine, toots.id)
    assert (done.posts_received, done.posts_matched, done.posts_duplicate) == (
        len(recorded) + 3,
        len(recorded) + 3,
        0,
    )
    assert (done.posts_new, done.posts_deleted) == (3, 1)
    assert stored_ids(engine) == {s["id"] for s in recorded} - {gone} | {
        first["id"],
        second["id"],
        third["id"],
    }
    assert_rollups_match_a_recount(engine)
    streaming = [r for r in fake_mastodon.requests if r.path == STREAMING_PATH]
    assert [r.headers["authorization"] for r in streaming] == [f"Bearer {TOKEN}"] * 2


@pytest.mark.parametrize("refusal", [404, None], ids=["refused", "no token"])
def test_an_instance_that_does_not_stream_is_polled(
    engine: Engine,
    fake_mastodon: FakeMastodon,
    start_manager: Callable[[SourceCatalog], StreamManager],
    refusal: int | None,
) -> None:
    recorded = list(fake_mastodon.public)
    if refusal is not None:
        fake_mastodon.streaming_status = refusal
    toots = new_stream(engine, "mastodon", ("toot", "toots"))
    start_manager(catalog(fake_mastodon, TOKEN if refusal is not None else None))
    wait_until(received(engine, toots.id, len(recorded)), message="the timeline, polled")
    fake_mastodon.public.append(new_status(recorded, 1, "Toot, polled"))
    wait_until(received(engine, toots.id, len(recorded) + 1), message="the new status, polled")
    streaming = [r for r in fake_mastodon.requests if r.path == STREAMING_PATH]
    # Asked once and refused, or never asked without a token (Mastodon refuses anonymous streaming).
    assert len(streaming) == (1 if refusal is not None else 0)
