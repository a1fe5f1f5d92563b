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

from tagpulse.errors import FailedPrecondition, InvalidArgument, NotFound
from tagpulse.pagination import decode_page_token, encode_page_token, page_size_of
from tagpulse.timestamps import to_timestamp
from tagpulse.v1 import collector_service_pb2 as pb
from tagpulse.v1 import collector_service_pb2_grpc, resources_pb2
from tagpulse_collector.query_client import QueryClient
from tagpulse_collector.runs import execute
from tagpulse_collector.runs import store as runs
from tagpulse_collector.runs.plan import plan_collection
from tagpulse_collector.sources.base import Source
from tagpulse_collector.sources.catalog import SourceNotConfigured, not_configured_message
from tagpulse_collector.streams import store as streams_store
from tagpulse_collector.streams.buffer import StreamBuffer

log = logging.getLogger("tagpulse.collection")

CollectionRun = resources_pb2.CollectionRun
Stream = resources_pb2.Stream
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
        stream_buffer: StreamBuffer | None = None,
        streams_unavailable: str = "",
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
        # Keyword streams: their manager runs beside (server.py); here they are only recorded
        # and read back. Without a buffer, CreateStream says why.
        self.stream_buffer = stream_buffer
        self.streams_unavailable = streams_unavailable

    async def StartCollection(
        self, request: pb.StartCollectionRequest, context: grpc.aio.ServicerContext
    ) -> CollectionRun:
        plan = plan_collection(
            list(request.hashtags),
            request.max_posts_per_hashtag,
            request.source,
            self.tracked_hashtags,
            configured=self.sources.keys(),
            default_source=self.default_source,
        )
        run_id = await asyncio.to_thread(runs.start_run, self.engine, plan, self.tracked_hashtags)
        record = await asyncio.to_thread(runs.get_run, self.engine, run_id)
        assert record is not None
        self.launch(run_id)
        # A scheduled start is also the moment to pick up runs another collector left behind.
        self._in_background(self.resume_interrupted_runs())
        return run_to_proto(record)

    def _source_for(self, name: str) -> Source:
        factory = self.sources.get(name)
        if factory is None:
            raise SourceNotConfigured(not_configured_message(name))
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
                    execute.execute_run, self.engine, run_id, self._source_for, self.stop, resumed
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
            interrupted = await asyncio.to_thread(runs.interrupted_runs, self.engine, set(self._runs))
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

    # --- keyword streams -------------------------------------------------------------------

    async def CreateStream(
        self, request: pb.CreateStreamRequest, context: grpc.aio.ServicerContext
    ) -> Stream:
        plan = streams_store.plan_stream(
            [(rule.value, rule.tag) for rule in request.rules],
            request.source,
            configured=self.sources.keys(),
            default_source=self.default_source,
        )
        if self.stream_buffer is None:
            raise FailedPrecondition(self.streams_unavailable or "keyword streams are not available")
        stream_id = await asyncio.to_thread(streams_store.create_stream, self.engine, plan)
        record = await asyncio.to_thread(streams_store.get_stream, self.engine, stream_id)
        assert record is not None
        log.info(
            "stream created",
            extra={"stream_id": stream_id, "source": plan.source, "rules": [r.value for r in plan.rules]},
        )
        return stream_to_proto(record, 0)

    async def GetStream(self, request: pb.GetStreamRequest, context: grpc.aio.ServicerContext) -> Stream:
        record = await asyncio.to_thread(streams_store.get_stream, self.engine, _stream_id(request.id))
        if record is None:
            raise NotFound(f"stream {request.id} does not exist")
        return stream_to_proto(record, await self._buffered(record))

    async def ListStreams(
        self, request: pb.ListStreamsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListStreamsResponse:
        size = page_size_of(request.page_size, default=20, maximum=100)
        cursor = decode_page_token(request.page_token, "streams")
        before_id = cursor.get("before_id") if cursor else None
        if cursor is not None and not (isinstance(before_id, int) and 0 < before_id <= MAX_ID):
            raise InvalidArgument({"page_token": "is not a page token from this list"})
        records = await asyncio.to_thread(streams_store.list_streams, self.engine, size + 1, before_id)
        next_token = ""
        if len(records) > size:
            records = records[:size]
            next_token = encode_page_token("streams", {"before_id": records[-1].id})
        return pb.ListStreamsResponse(
            streams=[stream_to_proto(r, await self._buffered(r)) for r in records], next_page_token=next_token
        )

    async def DeleteStream(
        self, request: pb.DeleteStreamRequest, context: grpc.aio.ServicerContext
    ) -> Stream:
        stream_id = _stream_id(request.id)
        record = await asyncio.to_thread(streams_store.stop_stream, self.engine, stream_id)
        if record is None:
            raise NotFound(f"stream {request.id} does not exist")
        log.info("stream stopped", extra={"stream_id": stream_id, "state": record.state})
        return stream_to_proto(record, await self._buffered(record))

    async def _buffered(self, record: streams_store.StreamRecord) -> int:
        """The stream's buffer backlog; 0 once drained, and when Redis cannot say."""
        if record.drained_at is not None or self.stream_buffer is None:
            return 0
        try:
            return (await asyncio.to_thread(self.stream_buffer.backlog, record.id)).total
        except Exception:  # a figure, not worth failing the call for
            log.warning("stream backlog unknown", extra={"stream_id": record.id}, exc_info=True)
            return 0


def _stream_id(raw: str) -> int:
    if not raw.isdigit() or not 0 < int(raw) <= MAX_ID:
        raise InvalidArgument({"id": f"{raw!r} is not a stream id (a positive number)"})
    return int(raw)


def _key_counts(pairs: list[tuple[str, int]]) -> list[resources_pb2.KeyCount]:
    return [resources_pb2.KeyCount(key=key, count=count) for key, count in pairs]


def stream_to_proto(record: streams_store.StreamRecord, buffered: int) -> Stream:
    return Stream(
        id=str(record.id),
        source=record.source,
        rules=[resources_pb2.StreamRule(value=r.value, tag=r.tag) for r in record.rules],
        state=record.state,
        start_time=to_timestamp(record.started_at),
        stop_time=to_timestamp(record.stopped_at),
        posts_received=record.posts_received,
        posts_matched=record.posts_matched,
        posts_duplicate=record.posts_duplicate,
        posts_unique=record.posts_unique,
        counts_by_rule=_key_counts(record.counts.get("rule", [])),
        counts_by_language=_key_counts(record.counts.get("language", [])),
        counts_by_country=_key_counts(record.counts.get("country", [])),
        last_error=record.last_error,
        posts_new=record.posts_new,
        messages_buffered=buffered,
        messages_dead_lettered=record.messages_dead_lettered,
        dead_letters=[
            resources_pb2.StreamDeadLetter(
                message_id=d.entry_id, error=d.error, attempts=d.attempts, time=to_timestamp(d.at)
            )
            for d in record.dead_letters
        ],
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
