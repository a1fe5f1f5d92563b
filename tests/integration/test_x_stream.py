"""The X filtered-stream reader against a fake X on loopback replaying real recordings: rules
reconciliation, keep-alives, a line cut by a dropped connection, silence, 429/503 and
operational disconnects, then the writer's exact figures (per country from the recorded places)."""

from __future__ import annotations

import json
import threading
from collections import Counter
from pathlib import Path

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import Engine, select

from tagpulse.db.models import DailySpend
from tagpulse_collector.sources.api_client import HttpPolicy
from tagpulse_collector.sources.x_api import XAccess
from tagpulse_collector.sources.x_payloads import billable_of
from tagpulse_collector.spending.prices import SpendPolicy, UnitPrices
from tagpulse_collector.spending.stream_meter import StreamMeter
from tagpulse_collector.streams import store
from tagpulse_collector.streams.backoff import ReconnectPolicy
from tagpulse_collector.streams.buffer import RedisBuffer
from tagpulse_collector.streams.store import StreamRecord
from tagpulse_collector.streams.writer import StreamWriter
from tagpulse_collector.streams.x_stream import MOST_PER_MESSAGE, XStreamConfig, XStreamReader
from tests.conftest import FAKE_X_TOKEN
from tests.integration.stream_helpers import (
    FAST_WRITER,
    counts,
    new_stream,
    stream,
    write_until,
)
from tests.support.fake_x import CREDITS_DEPLETED
from tests.support.fake_x_stream import (
    KEEP_ALIVE,
    OPERATIONAL_DISCONNECT,
    Connection,
    FakeXStream,
    recorded_lines,
)
from tests.support.polling import wait_until

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "x"
TWITTERED = recorded_lines((FIXTURES / "stream" / "multiple_tweet_stream_example_part1.data").read_bytes())
TWARC = (FIXTURES / "streaming_output_with_error.jsonl").read_bytes().split(b"\n")


@pytest.fixture
def engine(postgres_engine: Engine) -> Engine:
    """On PostgreSQL only: the streams buffer in Redis, which needs it."""
    return postgres_engine


def config(fake: FakeXStream, marker: str, keepalive: float = 2.0) -> XStreamConfig:
    return XStreamConfig(
        access=XAccess(FAKE_X_TOKEN, fake.base_url, HttpPolicy(timeout_seconds=5)),
        marker=marker,
        keepalive_seconds=keepalive,
        reconnect=ReconnectPolicy(scale=0.001),
    )


class Running:
    """A reader serving some streams in a thread of its own."""

    def __init__(self, reader: XStreamReader, streams: list[StreamRecord]) -> None:
        self.reader = reader
        self.stop = threading.Event()
        reader.serve(streams, now=0.0)
        self.thread = threading.Thread(target=reader.run, args=(self.stop,), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.stop.set()
        self.reader.close()
        self.thread.join(10)
        assert not self.thread.is_alive()


def reconnects(cause: str) -> float:
    return (
        REGISTRY.get_sample_value("tagpulse_stream_reconnects_total", {"source": "x", "cause": cause}) or 0.0
    )


def test_rules_are_reconciled_by_tag_leaving_other_apps_rules_alone(
    fake_x_stream: FakeXStream, redis_buffer: RedisBuffer, redis_prefix: str, engine: Engine
) -> None:
    recorded = json.loads((FIXTURES / "stream" / "get_rules.json").read_text())["data"]
    for rule in recorded:  # another app's rules, as recorded
        fake_x_stream.add_rule(rule["value"], rule.get("tag", ""))
    fake_x_stream.add_rule("stale rule", redis_prefix)
    cats = new_stream(engine, "x", ("cat -grumpy", "cats"), "dog has:images")
    dogs = new_stream(engine, "x", "cat -grumpy")
    refused = new_stream(engine, "x", "cat REFUSE")
    failures: list[tuple[int, str]] = []
    reader = XStreamReader(
        config(fake_x_stream, redis_prefix), redis_buffer, on_refused=lambda i, e: failures.append((i, e))
    )

    reader.serve([cats, dogs, refused], now=0.0)
    values = dict(fake_x_stream.rules.values())
    assert values == {
        "dog has:images": "dog pictures",  # reused, not added twice (X refuses duplicates)
        "cat has:images -grumpy": "",
        "cat -grumpy": redis_prefix,
    }
    assert failures == [(refused.id, "X refused the rule 'cat REFUSE': UnprocessableEntity: "
                         "Reference to invalid operator in 'cat REFUSE'")]  # fmt: skip
    methods = [(r.method, sorted(r.body) if r.body else None) for r in fake_x_stream.rule_requests()]
    assert methods == [("GET", None), ("POST", ["delete"]), ("POST", ["add"]), ("GET", None)]

    # The same streams again: nothing to change, nothing asked.
    reader.serve([cats, dogs, refused], now=1.0)
    assert len(fake_x_stream.rule_requests()) == 4
    reader.serve([dogs], now=2.0)
    assert {v for v, _ in fake_x_stream.rules.values()} == {
        "dog has:images",
        "cat has:images -grumpy",
        "cat -grumpy",
    }
    reader.delete_rules()
    assert {v for v, _ in fake_x_stream.rules.values()} == {"dog has:images", "cat has:images -grumpy"}


def test_recorded_stream_through_drops_and_truncation_gives_exact_figures(
    fake_x_stream: FakeXStream, redis_buffer: RedisBuffer, redis_prefix: str, engine: Engine
) -> None:
    """twittered's raw bytes (with a keep-alive), a drop in the middle of twarc's first message,
    then twarc's stream output in full, whose last line is truncated: 10 posts, each once."""
    fake_x_stream.queue = [
        Connection(lines=TWITTERED, then="cut", cut_line=TWARC[0]),
        Connection(lines=[*TWARC[:4], KEEP_ALIVE, *TWARC[4:]]),
    ]
    dogs = new_stream(engine, "x", ("dog OR doggo", "dogs"))
    cut_before = reconnects("network")
    running = Running(XStreamReader(config(fake_x_stream, redis_prefix), redis_buffer), [dogs])
    try:
        wait_until(
            lambda: fake_x_stream.connections[1:2] and fake_x_stream.connections[1].sent.is_set(),
            message="the replay",
        )
        wait_until(lambda: redis_buffer.backlog(dogs.id).waiting == 3 + 8, message="11 buffered messages")
    finally:
        running.close()
    assert reconnects("network") == cut_before + 1
    # The stream asks for what the search asks for.
    query = fake_x_stream.stream_requests()[0].query
    assert query["expansions"] == "author_id,geo.place_id,referenced_tweets.id"
    assert "place.fields" in query
    assert "user.fields" in query
    assert "tweet.fields" in query

    store.mark_reader_stopped(engine, [dogs.id])
    store.stop_stream(engine, dogs.id)
    writer = StreamWriter(engine, redis_buffer, FAST_WRITER)
    write_until(writer, lambda: stream(engine, dogs.id).drained_at is not None, "the stream to drain")

    done = stream(engine, dogs.id)
    readable = [json.loads(line) for line in [*TWITTERED, *TWARC[:7]] if line]
    places = Counter(
        m["includes"]["places"][0]["country_code"] for m in readable if m["includes"].get("places")
    )
    assert places == {"US": 4, "GB": 2, "MW": 1}
    assert (done.state, done.posts_received, done.posts_matched) == ("STOPPED", 11, 10)
    assert (done.posts_unique, done.posts_duplicate, done.posts_new) == (10, 0, 10)
    assert done.messages_dead_lettered == 1
    assert counts(done, "rule") == {"dogs": 10}
    by_country = counts(done, "country")
    assert {c: by_country[c] for c in places} == dict(places)
    # twittered's three have no place: their authors' profiles say Luxembourg, nothing, "Dakar Centre".
    assert by_country == {**places, "LU": 1, "unknown": 2}
    assert counts(done, "language") == Counter(m["data"]["lang"] for m in readable)
    assert len(done.dead_letters) == 1
    assert "unreadable message: not JSON" in done.dead_letters[0].error
    assert done.dead_letters[0].attempts == 3
    assert redis_buffer.dead_letter_count(dogs.id) == 1
    assert "dead-lettered after 3 failed attempts" in done.last_error


def test_the_reader_rides_out_errors_silence_and_disconnects(
    fake_x_stream: FakeXStream, redis_buffer: RedisBuffer, redis_prefix: str, engine: Engine
) -> None:
    fake_x_stream.queue = [
        Connection(status=503),
        Connection(status=429),
        Connection(lines=[TWARC[0], json.dumps(OPERATIONAL_DISCONNECT).encode()], then="keepalive"),
        Connection(lines=[TWARC[1]], then="silence"),
        Connection(status=503),
        Connection(lines=[TWARC[2]]),
    ]
    dogs = new_stream(engine, "x", "dog")
    before = {
        cause: reconnects(cause)
        for cause in ("http_error", "rate_limited", "operational_disconnect", "stall")
    }
    errors: list[str] = []
    reader = XStreamReader(
        config(fake_x_stream, redis_prefix, keepalive=0.3),
        redis_buffer,
        on_error=lambda _ids, e: errors.append(e),
    )
    running = Running(reader, [dogs])
    try:
        # The third message comes on the sixth connection, after every reconnect.
        wait_until(lambda: redis_buffer.backlog(dogs.id).waiting == 3, message="three messages", timeout=30)
    finally:
        running.close()
    after = {cause: reconnects(cause) - before[cause] for cause in before}
    assert after == {"http_error": 2, "rate_limited": 1, "operational_disconnect": 1, "stall": 1}
    assert any("503 Service Unavailable" in e for e in errors)
    assert any("429 Too Many Requests" in e for e in errors)
    assert not any("operational" in e for e in errors)  # a planned reconnect, not an error
    assert len(fake_x_stream.stream_requests()) == 6


def test_spent_credits_stop_the_streams_instead_of_a_reconnect_loop(
    fake_x_stream: FakeXStream, redis_buffer: RedisBuffer, redis_prefix: str, engine: Engine
) -> None:
    """HTTP 402 on the stream connection: every stream the reader serves stops (FAILED, with
    the reason), the reader ends, and X is not asked again."""
    fake_x_stream.queue = [
        Connection(status=402, body=CREDITS_DEPLETED),
        Connection(lines=[TWARC[0]]),  # never reached
    ]
    dogs, cats = new_stream(engine, "x", "dog"), new_stream(engine, "x", "cat")
    reader = XStreamReader(
        config(fake_x_stream, redis_prefix),
        redis_buffer,
        on_refused=lambda stream_id, error: store.fail_stream(engine, stream_id, error),
    )
    stop = threading.Event()
    reader.serve([dogs, cats], now=0.0)
    thread = threading.Thread(target=reader.run, args=(stop,), daemon=True)
    thread.start()
    thread.join(30)
    try:
        assert not thread.is_alive(), "the reader went on after 402"
    finally:
        stop.set()
        reader.close()
    for record in (stream(engine, dogs.id), stream(engine, cats.id)):
        assert record.state == store.FAILED
        assert record.last_error.startswith("X credits depleted (402")
    assert len(fake_x_stream.stream_requests()) == 1
    assert (REGISTRY.get_sample_value("tagpulse_source_credits_depleted_total", {"source": "x"}) or 0) >= 1


def test_spent_credits_on_the_rules_stop_the_streams_without_retrying(
    fake_x_stream: FakeXStream, redis_buffer: RedisBuffer, redis_prefix: str, engine: Engine
) -> None:
    fake_x_stream.rules_answer = (402, CREDITS_DEPLETED)
    dogs = new_stream(engine, "x", "dog")
    reader = XStreamReader(
        config(fake_x_stream, redis_prefix),
        redis_buffer,
        on_refused=lambda stream_id, error: store.fail_stream(engine, stream_id, error),
    )
    try:
        reader.serve([dogs], now=0.0)
    finally:
        reader.close()
    record = stream(engine, dogs.id)
    assert record.state == store.FAILED
    assert record.last_error.startswith("X credits depleted (402")
    # Not retried: the stream is no longer RUNNING, so no collector serves it again.
    assert len(fake_x_stream.rule_requests()) == 1


def test_a_stream_that_reaches_the_daily_budget_stops_with_that_reason(
    fake_x_stream: FakeXStream, redis_buffer: RedisBuffer, redis_prefix: str, engine: Engine
) -> None:
    """Each message X delivers is counted against the daily budget as it arrives; once the budget
    cannot hold one more message at its most, the streams stop (FAILED, with the reason), the
    reader does not reconnect, and the day's spend holds exactly what was read."""
    prices = UnitPrices(post_micros=5_000, users_billed=False)
    messages = [m for m in map(json_or_none, TWARC) if isinstance(m, dict) and "data" in m]
    costs = [prices.cost(billable_of(m)) for m in messages]
    assert len(costs) > 3
    most = prices.cost(MOST_PER_MESSAGE)
    # Room for exactly three messages: after the third, a fourth at its most would pass it.
    budget = SpendPolicy(prices={"x": prices}, daily_budget_micros={"x": sum(costs[:3]) + most - 1})
    fake_x_stream.queue = [Connection(lines=TWARC)]
    dogs = new_stream(engine, "x", "dog")
    reader = XStreamReader(
        config(fake_x_stream, redis_prefix),
        redis_buffer,
        on_refused=lambda stream_id, error: store.fail_stream(engine, stream_id, error),
        meter=StreamMeter(engine, budget, "x", MOST_PER_MESSAGE, flush_seconds=0.0),
    )
    stop = threading.Event()
    reader.serve([dogs], now=0.0)
    thread = threading.Thread(target=reader.run, args=(stop,), daemon=True)
    thread.start()
    thread.join(30)
    try:
        assert not thread.is_alive(), "the reader went on past the budget"
    finally:
        stop.set()
        reader.close()
    record = stream(engine, dogs.id)
    assert record.state == store.FAILED
    assert record.last_error.startswith("the daily budget of $")
    assert len(fake_x_stream.stream_requests()) == 1
    with engine.connect() as connection:
        (spent,) = connection.execute(select(DailySpend.table())).all()
    assert (spent.posts_billed, spent.cost_micros) == (sum(costs[:3]) // 5_000, sum(costs[:3]))

    # A new stream on a spent day stops before connecting.
    cats = new_stream(engine, "x", "cat")
    again = XStreamReader(
        config(fake_x_stream, redis_prefix),
        redis_buffer,
        on_refused=lambda stream_id, error: store.fail_stream(engine, stream_id, error),
        meter=StreamMeter(engine, budget, "x", MOST_PER_MESSAGE),
    )
    again.serve([cats], now=0.0)
    again.run(threading.Event())
    assert stream(engine, cats.id).state == store.FAILED
    assert len(fake_x_stream.stream_requests()) == 1


def json_or_none(line: bytes) -> object:
    try:
        return json.loads(line)
    except ValueError:
        return None
