"""Collectors killed in the middle of a sample stream: the figures stay exact.

- The writer kills its own process between a database commit and the acknowledgement
  (`tests.support.dying_collector`); a new collector claims the batch again,
  finds it written, and the unique count stays exact.
- Two replicas; the one holding the stream's reader is killed; the other takes the stream's lock
  over and resumes the reader where the buffer says the first got to.
Expected figures are counted from the generator's messages with hand-written labels."""

from __future__ import annotations

import json
import signal
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import pytest

from tagpulse.v1 import collector_service_pb2 as pb
from tagpulse.v1 import collector_service_pb2_grpc, resources_pb2
from tests.support.polling import wait_until
from tests.support.processes import Process, free_port, wait_for_grpc_serving
from tests.support.sample_stream import SEED_RULE, expected

API_TOKEN = "stream-kill-test-token-0123456789"
SEED = 20261123
AUTH = [("authorization", f"Bearer {API_TOKEN}")]


class Collector:
    def __init__(self, process: Process, address: str) -> None:
        self.process = process
        self.address = address
        self.channel = grpc.insecure_channel(address)
        self.stub = collector_service_pb2_grpc.CollectorServiceStub(self.channel)

    def get(self, stream_id: str) -> resources_pb2.Stream:
        return self.stub.GetStream(pb.GetStreamRequest(id=stream_id), timeout=10)

    def kill(self) -> None:
        assert self.process.popen is not None
        self.process.popen.kill()
        self.process.popen.wait()

    def close(self) -> None:
        self.channel.close()
        self.process.stop()


@pytest.fixture
def start_collector(
    make_postgres_database: Callable[[], str], redis_server_url: str, redis_prefix: str, tmp_path: Path
) -> Iterator[Callable[..., Collector]]:
    database_url = make_postgres_database()
    started: list[Collector] = []

    def start(name: str, kill_after_commits: int = 0) -> Collector:
        port = free_port()
        env = {
            "TAGPULSE_DATABASE_URL": database_url,
            "TAGPULSE_REDIS_URL": redis_server_url,
            "TAGPULSE_REDIS_KEY_PREFIX": redis_prefix,
            "TAGPULSE_API_TOKEN": API_TOKEN,
            "TAGPULSE_GRPC_PORT": str(port),
            "TAGPULSE_METRICS_PORT": str(free_port()),
            "TAGPULSE_QUERY_ADDRESS": f"127.0.0.1:{free_port()}",
            "TAGPULSE_SAMPLE_SEED": str(SEED),
            "TAGPULSE_STREAM_SAMPLE_RATE": "400",
            "TAGPULSE_STREAM_POLL_SECONDS": "0.2",
            "TAGPULSE_STREAM_CLAIM_IDLE_SECONDS": "0.5",
            "TAGPULSE_STREAM_BATCH_SIZE": "50",
        }
        command = [sys.executable, "-m", "tagpulse_collector", "serve"]
        if kill_after_commits:
            command = [sys.executable, "-m", "tests.support.dying_collector", str(kill_after_commits)]
        process = Process(name, command, env, tmp_path / f"{name}.log").start()
        address = f"127.0.0.1:{port}"
        wait_for_grpc_serving(process, address)
        collector = Collector(process, address)
        started.append(collector)
        return collector

    yield start
    for collector in started:
        collector.close()


def create(collector: Collector) -> resources_pb2.Stream:
    return collector.stub.CreateStream(
        pb.CreateStreamRequest(
            rules=[resources_pb2.StreamRule(value=SEED_RULE, tag="bieber-music")], source="sample"
        ),
        metadata=AUTH,
        timeout=10,
    )


def stop_and_check(collector: Collector, stream: resources_pb2.Stream) -> resources_pb2.Stream:
    collector.stub.DeleteStream(pb.DeleteStreamRequest(id=stream.id), metadata=AUTH, timeout=10)
    wait_until(
        lambda: collector.get(stream.id).state == resources_pb2.Stream.STOPPED,
        message="the stream to settle",
        timeout=60,
    )
    done = collector.get(stream.id)
    want = expected(SEED, int(stream.id), done.posts_received)
    assert done.messages_buffered == 0
    assert (done.posts_matched, done.posts_unique, done.posts_duplicate) == (
        want.matched,
        want.unique,
        want.duplicate,
    )
    assert done.posts_duplicate > 0
    assert {c.key: c.count for c in done.counts_by_rule} == {"bieber-music": want.unique}
    assert {c.key: c.count for c in done.counts_by_language} == dict(want.languages)
    assert {c.key: c.count for c in done.counts_by_country} == dict(want.countries)
    return done


def reader_starts(collector: Collector) -> list[dict[str, object]]:
    lines = [json.loads(line) for line in collector.process.log().splitlines() if line.startswith("{")]
    return [line for line in lines if line.get("message") == "stream reader started"]


def test_a_writer_killed_between_commit_and_ack_leaves_exact_counts(
    start_collector: Callable[..., Collector],
) -> None:
    first = start_collector("first", kill_after_commits=4)
    stream = create(first)
    assert first.process.popen is not None
    wait_until(
        lambda: first.process.popen is not None and first.process.popen.poll() is not None,
        message="the kill",
        timeout=60,
    )
    assert first.process.popen.returncode == -signal.SIGKILL
    assert "killing the collector between a commit and its acknowledgement" in first.process.log()

    second = start_collector("second")
    at_kill = second.get(stream.id).posts_received
    assert at_kill > 0
    wait_until(
        lambda: second.get(stream.id).posts_received >= at_kill + 400,
        message="the stream to go on",
        timeout=60,
    )
    done = stop_and_check(second, stream)
    # The new reader went on after the last message the first one buffered.
    assert [start["after"] for start in reader_starts(second)] != [None]
    assert done.posts_received >= at_kill + 400


def test_a_killed_reader_is_taken_over_by_another_replica(start_collector: Callable[..., Collector]) -> None:
    replicas = [start_collector("a"), start_collector("b")]
    stream = create(replicas[0])
    wait_until(lambda: replicas[0].get(stream.id).posts_received >= 200, message="messages", timeout=60)
    holders = [r for r in replicas if reader_starts(r)]
    assert len(holders) == 1  # one live reader across the replicas
    holder = holders[0]
    survivor = replicas[1] if holder is replicas[0] else replicas[0]
    holder.kill()
    at_kill = survivor.get(stream.id).posts_received
    wait_until(
        lambda: reader_starts(survivor), message="the other replica to take the stream over", timeout=60
    )
    after = reader_starts(survivor)[0]["after"]
    assert isinstance(after, int)
    assert after > 0
    wait_until(
        lambda: survivor.get(stream.id).posts_received >= at_kill + 400,
        message="the stream to go on",
        timeout=60,
    )
    stop_and_check(survivor, stream)
