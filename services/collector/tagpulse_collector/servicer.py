"""CollectorService: translates messages and calls the domain; nothing more."""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import grpc
from sqlalchemy import Engine

from tagpulse.errors import InvalidArgument, NotFound
from tagpulse.pagination import decode_page_token, encode_page_token, page_size_of
from tagpulse.timestamps import to_timestamp
from tagpulse.v1 import collector_service_pb2 as pb
from tagpulse.v1 import collector_service_pb2_grpc, resources_pb2
from tagpulse_collector import collection, runs
from tagpulse_collector.query_client import QueryClient
from tagpulse_collector.sources.base import Source

log = logging.getLogger("tagpulse.collection")

CollectionRun = resources_pb2.CollectionRun
# Runs executing at once in one collector; more wait for a thread (still RUNNING).
MAX_CONCURRENT_RUNS = 8
# Ids are database integers: anything larger cannot name a run.
MAX_ID = 2**63 - 1


class CollectorServicer(collector_service_pb2_grpc.CollectorServiceServicer):
    def __init__(
        self,
        engine: Engine,
        sources: dict[str, Callable[[], Source]],
        tracked_hashtags: list[str],
        query_client: QueryClient,
        default_source: str = "sample",
        stop: threading.Event | None = None,
    ) -> None:
        self.engine = engine
        self.sources = sources
        self.tracked_hashtags = tracked_hashtags
        self.query_client = query_client
        self.default_source = default_source
        # Set on shutdown: runs stop after the page in flight and are resumed on the next start.
        self.stop = stop or threading.Event()
        # Runs executing in this process, by id; they go on after the caller is gone. They get
        # threads of their own: a run waiting out a rate limit must not hold a thread that
        # GetCollection needs.
        self._runs: dict[int, asyncio.Task[None]] = {}
        self._run_threads = ThreadPoolExecutor(
            max_workers=MAX_CONCURRENT_RUNS, thread_name_prefix="collection"
        )
        self._background: set[asyncio.Task[None]] = set()

    async def StartCollection(
        self, request: pb.StartCollectionRequest, context: grpc.aio.ServicerContext
    ) -> CollectionRun:
        plan = collection.plan_collection(
            list(request.hashtags),
            request.max_posts_per_hashtag,
            request.source,
            self.tracked_hashtags,
            configured=self.sources.keys(),
            default_source=self.default_source,
        )
        run_id = await asyncio.to_thread(collection.start_run, self.engine, plan, self.tracked_hashtags)
        record = await asyncio.to_thread(runs.get_run, self.engine, run_id)
        assert record is not None
        self.launch(run_id)
        # A scheduled start is also the moment to pick up runs another collector left behind.
        self._in_background(self.resume_interrupted_runs())
        return run_to_proto(record)

    def _source_for(self, name: str) -> Source:
        factory = self.sources.get(name)
        if factory is None:
            setting = collection.SOURCE_SETTINGS.get(name, "its settings")
            raise collection.SourceNotConfigured(
                f"source {name!r} is not configured on this collector (set {setting})"
            )
        return factory()

    def launch(self, run_id: int, resumed: bool = False) -> None:
        """Execute a run in the background (in a worker thread)."""
        if run_id in self._runs or self.stop.is_set():
            return
        task = asyncio.create_task(self._execute(run_id, resumed))
        self._runs[run_id] = task
        task.add_done_callback(lambda _task: self._runs.pop(run_id, None))

    async def _execute(self, run_id: int, resumed: bool) -> None:
        try:
            record = await asyncio.get_running_loop().run_in_executor(
                self._run_threads,
                functools.partial(
                    collection.execute_run, self.engine, run_id, self._source_for, self.stop, resumed
                ),
            )
        except Exception:
            log.exception("collection run crashed", extra={"run_id": run_id})
            return
        if record is not None and record.state != runs.RUNNING:
            await self.query_client.invalidate_aggregates(
                f"collection {run_id} stored {record.posts_new} new posts"
            )

    async def resume_interrupted_runs(self) -> None:
        """Resume RUNNING runs that no collector holds (their collector was killed)."""
        try:
            interrupted = await asyncio.to_thread(collection.interrupted_runs, self.engine, set(self._runs))
        except Exception:
            log.exception("could not look for interrupted runs")
            return
        for run_id in interrupted:
            self.launch(run_id, resumed=True)

    def _in_background(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coroutine)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def start_background_work(self) -> None:
        """On start: resume what a previous collector left RUNNING."""
        self._in_background(self.resume_interrupted_runs())

    async def wait_for_runs(self) -> None:
        """On shutdown: runs stop after the page in flight (they stay RUNNING and resume on
        the next start); wait for that."""
        self.stop.set()
        pending = [*self._runs.values(), *self._background]
        if pending:
            await asyncio.wait(pending)
        self._run_threads.shutdown(wait=False)

    async def GetCollection(
        self, request: pb.GetCollectionRequest, context: grpc.aio.ServicerContext
    ) -> CollectionRun:
        if not request.id.isdigit() or not 0 < int(request.id) <= MAX_ID:
            raise InvalidArgument({"id": f"{request.id!r} is not a collection id (a positive number)"})
        record = await asyncio.to_thread(runs.get_run, self.engine, int(request.id))
        if record is None:
            raise NotFound(f"collection {request.id} does not exist")
        return run_to_proto(record)

    async def ListCollections(
        self, request: pb.ListCollectionsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListCollectionsResponse:
        size = page_size_of(request.page_size, default=20, maximum=100)
        cursor = decode_page_token(request.page_token, "collections")
        before_id = cursor.get("before_id") if cursor else None
        if cursor is not None and not (isinstance(before_id, int) and 0 < before_id <= MAX_ID):
            raise InvalidArgument({"page_token": "is not a page token from this list"})
        records = await asyncio.to_thread(runs.list_runs, self.engine, size + 1, before_id)
        next_token = ""
        if len(records) > size:
            records = records[:size]
            next_token = encode_page_token("collections", {"before_id": records[-1].id})
        return pb.ListCollectionsResponse(
            collections=[run_to_proto(r) for r in records], next_page_token=next_token
        )


def _figures(
    fetched: int, new: int, requests: int, errors: int, pages: int
) -> resources_pb2.CollectionFigures:
    return resources_pb2.CollectionFigures(
        posts_fetched=fetched,
        posts_new=new,
        posts_duplicate=fetched - new,
        api_requests=requests,
        errors=errors,
        pages=pages,
    )


def run_to_proto(record: runs.RunRecord) -> CollectionRun:
    return CollectionRun(
        id=str(record.id),
        source=record.source,
        hashtags=list(record.hashtags),
        max_posts_per_hashtag=record.max_posts_per_hashtag,
        state=record.state,
        start_time=to_timestamp(record.started_at),
        end_time=to_timestamp(record.ended_at),
        figures=_figures(
            record.posts_fetched, record.posts_new, record.api_requests, record.errors, record.pages
        ),
        hashtag_figures=[
            resources_pb2.HashtagCollectionFigures(
                hashtag=f.hashtag,
                figures=_figures(f.posts_fetched, f.posts_new, f.api_requests, f.errors, f.pages),
                error_message=f.error_message,
                state=f.state,
                start_time=to_timestamp(f.started_at),
                end_time=to_timestamp(f.ended_at),
            )
            for f in record.hashtag_figures
        ],
        error_message=record.error_message,
        resume_count=record.resume_count,
    )
