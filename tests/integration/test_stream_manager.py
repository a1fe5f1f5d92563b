"""The manager running streams end to end in the process: X streams sharing one connection
across two replicas (rules kept per stream, a refused rule, a stop, a takeover), and a Mastodon
stream on the public timeline matched locally."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import Engine

from tagpulse_collector.catalog import SourceCatalog, StreamReading
from tagpulse_collector.sources.mastodon import MastodonAccess
from tagpulse_collector.sources.x_api import XAccess
from tagpulse_collector.streams import store
from tagpulse_collector.streams.backoff import ReconnectPolicy
from tagpulse_collector.streams.manager import StreamManager
from tests.conftest import FAKE_X_TOKEN
from tests.integration.stream_helpers import counts, new_stream, stream
from tests.support.fake_mastodon import FakeMastodon
from tests.support.fake_x_stream import Connection, FakeXStream
from tests.support.policies import FAST
from tests.support.polling import wait_until

TWARC = (
    Path(__file__).resolve().parents[1] / "fixtures" / "x" / "streaming_output_with_error.jsonl"
).read_bytes()


@pytest.fixture
def engine(postgres_engine: Engine) -> Engine:
    """On PostgreSQL only: the streams buffer in Redis, which needs it."""
    return postgres_engine


def x_catalog(fake: FakeXStream, marker: str) -> SourceCatalog:
    return SourceCatalog(
        x=XAccess(FAKE_X_TOKEN, fake.base_url, FAST),
        reading=StreamReading(reconnect=ReconnectPolicy(scale=0.001), x_marker=marker, x_keepalive_seconds=2),
    )


def settled(engine: Engine, stream_id: int, state: str = "STOPPED") -> Callable[[], bool]:
    return lambda: (
        stream(engine, stream_id).state == state and stream(engine, stream_id).drained_at is not None
    )


def test_x_streams_share_one_connection_across_replicas(
    engine: Engine,
    fake_x_stream: FakeXStream,
    redis_prefix: str,
    start_manager: Callable[[SourceCatalog], StreamManager],
) -> None:
    refused = new_stream(engine, "x", "cat REFUSE")
    dogs = new_stream(engine, "x", ("dog", "dog"))
    doggos = new_stream(engine, "x", ("#DogsofTwitter OR doggo", "doggo"))
    fake_x_stream.queue = [Connection(lines=TWARC.split(b"\n"))]
    replicas = [start_manager(x_catalog(fake_x_stream, redis_prefix)) for _ in range(2)]

    wait_until(lambda: stream(engine, refused.id).state == "FAILED", message="X to refuse a rule")
    assert "X refused the rule 'cat REFUSE'" in stream(engine, refused.id).last_error
    # Every message of the replay matches both served rules (the fake matches every rule).
    wait_until(lambda: stream(engine, dogs.id).posts_unique == 7, message="the replay to be written")
    wait_until(lambda: stream(engine, doggos.id).posts_unique == 7, message="the replay to be written")
    assert sorted(v for v, _ in fake_x_stream.rules.values()) == ["#DogsofTwitter OR doggo", "dog"]

    store.stop_stream(engine, dogs.id)
    wait_until(settled(engine, dogs.id), message="the stopped stream to settle")
    wait_until(
        lambda: sorted(v for v, _ in fake_x_stream.rules.values()) == ["#DogsofTwitter OR doggo"],
        message="rules",
    )
    done = stream(engine, dogs.id)
    assert (done.posts_received, done.posts_matched, done.posts_unique, done.messages_dead_lettered) == (
        8,
        7,
        7,
        1,
    )
    assert counts(done, "country") == {"US": 4, "GB": 2, "MW": 1}

    holder = next(m for m in replicas if m.x is not None)
    other = next(m for m in replicas if m is not holder)
    assert other.x is None  # one live connection across the replicas
    holder.stop()
    wait_until(lambda: other.x is not None, message="the other replica to take the X stream over")
    wait_until(lambda: len(fake_x_stream.stream_requests()) == 2, message="its connection")
    assert fake_x_stream.most_open_connections == 1

    store.stop_stream(engine, doggos.id)
    wait_until(settled(engine, doggos.id), message="the last x stream to settle")
    wait_until(lambda: not fake_x_stream.rules, message="the rules to be deleted")
    wait_until(
        lambda: other.x is None and fake_x_stream.open_connections == 0, message="the connection to close"
    )
    assert stream(engine, doggos.id).posts_unique == 7
    assert stream(engine, refused.id).drained_at is not None


def test_a_mastodon_stream_matches_the_public_timeline(
    engine: Engine, fake_mastodon: FakeMastodon, start_manager: Callable[[SourceCatalog], StreamManager]
) -> None:
    recorded = list(fake_mastodon.public)
    toots = new_stream(engine, "mastodon", ("toot -#hoot", "toots"), ("#hoot", "hoot"))
    start_manager(
        SourceCatalog(
            mastodon=MastodonAccess(fake_mastodon.base_url, None, FAST),
            reading=StreamReading(mastodon_poll_seconds=0.05, reconnect=ReconnectPolicy(scale=0.001)),
        )
    )
    wait_until(
        lambda: stream(engine, toots.id).posts_received == len(recorded), message="the recorded timeline"
    )
    # A new status arrives; a status already read does not come again.
    newer = copy.deepcopy(recorded[0])
    newer["id"] = str(int(recorded[-1]["id"]) + 1)
    newer["content"] = "<p>Toot number 99!</p>"
    newer["tags"] = []
    fake_mastodon.public.append(newer)
    wait_until(lambda: stream(engine, toots.id).posts_received == len(recorded) + 1, message="the new status")
    store.stop_stream(engine, toots.id)
    wait_until(settled(engine, toots.id), message="the stream to settle")
    done = stream(engine, toots.id)
    assert (done.posts_matched, done.posts_unique, done.posts_duplicate) == (32, 32, 0)
    assert counts(done, "rule") == {"toots": 31, "hoot": 1}
    assert counts(done, "language") == {"ja": 32}
    assert {r.query.get("min_id") for r in fake_mastodon.public_requests()[1:]} == {
        newer["id"],
        recorded[-1]["id"],
    }
