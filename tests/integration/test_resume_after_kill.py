"""A collector killed in the middle of a run: the next one resumes the run at its next page."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from pathlib import Path

import grpc

from tagpulse.v1 import collector_service_pb2, collector_service_pb2_grpc, resources_pb2
from tests.conftest import FAKE_X_TOKEN
from tests.support.fake_http import Fault
from tests.support.fake_x import FakeXApi, is_retweet, load_pages
from tests.support.policies import FAST_ENV
from tests.support.polling import wait_until
from tests.support.processes import Process, free_port, wait_for_grpc_serving

API_TOKEN = "resume-test-token-0123456789"


def start_collector(database_url: str, fake_x: FakeXApi, log: Path) -> tuple[Process, str]:
    port = free_port()
    env = {
        "TAGPULSE_DATABASE_URL": database_url,
        "TAGPULSE_API_TOKEN": API_TOKEN,
        "TAGPULSE_X_BEARER_TOKEN": FAKE_X_TOKEN,
        "TAGPULSE_X_API_BASE_URL": fake_x.base_url,
        "TAGPULSE_GRPC_PORT": str(port),
        "TAGPULSE_METRICS_PORT": str(free_port()),
        # No query service here: the cache invalidation fails quietly, as designed.
        "TAGPULSE_QUERY_ADDRESS": f"127.0.0.1:{free_port()}",
        **FAST_ENV,
    }
    process = Process("collector", [sys.executable, "-m", "tagpulse_collector", "serve"], env, log).start()
    address = f"127.0.0.1:{port}"
    wait_for_grpc_serving(process, address)
    return process, address


def get_run(address: str, run_id: str) -> resources_pb2.CollectionRun:
    with grpc.insecure_channel(address) as channel:
        stub = collector_service_pb2_grpc.CollectorServiceStub(channel)
        return stub.GetCollection(collector_service_pb2.GetCollectionRequest(id=run_id), timeout=10)


def test_a_run_killed_after_two_pages_resumes_at_page_three(
    make_postgres_database: Callable[[], str], fake_x: FakeXApi, tmp_path: Path
) -> None:
    database_url = make_postgres_database()
    pages = load_pages("blacklivesmatter.jsonl")
    # Page 3 hangs until released: the collector is killed while it waits for it.
    release = threading.Event()
    hung = fake_x.add_fault(Fault(match=fake_x.on_page(3, "blacklivesmatter"), hang=release))

    first, address = start_collector(database_url, fake_x, tmp_path / "first.log")
    try:
        with grpc.insecure_channel(address) as channel:
            run = collector_service_pb2_grpc.CollectorServiceStub(channel).StartCollection(
                collector_service_pb2.StartCollectionRequest(
                    hashtags=["blacklivesmatter"], source="x", max_posts_per_hashtag=1000
                ),
                metadata=[("authorization", f"Bearer {API_TOKEN}")],
                timeout=10,
            )
        wait_until(lambda: hung.hits == 1, message="the request for page 3", timeout=60)
        progress = get_run(address, run.id).hashtag_figures[0]
        assert (progress.figures.pages, progress.state) == (2, progress.RUNNING)
    finally:
        assert first.popen is not None
        first.popen.kill()
        first.popen.wait()
        first.stop()
        release.set()
    before_restart = len(fake_x.search_requests())

    second, address = start_collector(database_url, fake_x, tmp_path / "second.log")
    try:
        wait_until(
            lambda: get_run(address, run.id).state != run.RUNNING,
            message="the resumed run to end",
            timeout=60,
        )
        done = get_run(address, run.id)
    finally:
        second.stop()

    originals = {t["id"] for page in pages for t in page["data"] if not is_retweet(t)}
    assert done.state == done.SUCCEEDED
    assert done.resume_count == 1
    assert (done.figures.pages, done.figures.posts_fetched, done.figures.posts_new) == (
        5,
        len(originals),
        len(originals),
    )
    assert done.figures.posts_duplicate == 0  # no page was stored twice
    resumed = fake_x.search_requests()[before_restart:]
    # Straight to page 3 with the same query: pages 1 and 2 are not paid for again.
    assert [r.query.get("next_token") for r in resumed] == [p["meta"]["next_token"] for p in pages[1:4]]
    assert {r.query["query"] for r in resumed} == {"#blacklivesmatter -is:retweet"}
    assert '"message": "hashtag resumed"' in second.log()
    assert FAKE_X_TOKEN not in first.log() + second.log()
