"""CollectorService: translates messages and calls the domain; nothing more."""

from __future__ import annotations

import asyncio

import grpc
from sqlalchemy import Engine

from tagpulse import pagination
from tagpulse.errors import FailedPrecondition, NotFound
from tagpulse.money import to_usd
from tagpulse.timestamps import to_timestamp
from tagpulse.v1 import collector_service_pb2 as pb
from tagpulse.v1 import collector_service_pb2_grpc, resources_pb2
from tagpulse_collector import validation
from tagpulse_collector.catalog import KNOWN_SOURCES, SourceCatalog
from tagpulse_collector.deletion.request import execute_deletion, plan_deletion
from tagpulse_collector.runs import store as runs
from tagpulse_collector.runs.executor import RunExecutor
from tagpulse_collector.runs.plan import plan_collection
from tagpulse_collector.spending.estimate import CollectionEstimate, estimate_collection
from tagpulse_collector.streams import store as streams_store
from tagpulse_collector.streams.buffer import StreamBuffer, buffered_messages

CollectionRun = resources_pb2.CollectionRun
HashtagCollectionFigures = resources_pb2.HashtagCollectionFigures
Stream = resources_pb2.Stream

# The domain's states beside the API's enum values, written out so that renaming either side
# fails test_state_mapping instead of a request.
RUN_STATES = {
    runs.RUNNING: CollectionRun.RUNNING,
    runs.SUCCEEDED: CollectionRun.SUCCEEDED,
    runs.PARTIALLY_SUCCEEDED: CollectionRun.PARTIALLY_SUCCEEDED,
    runs.FAILED: CollectionRun.FAILED,
    runs.STOPPED_BY_BUDGET: CollectionRun.STOPPED_BY_BUDGET,
}
HASHTAG_STATES = {
    runs.PENDING: HashtagCollectionFigures.PENDING,
    runs.RUNNING: HashtagCollectionFigures.RUNNING,
    runs.SUCCEEDED: HashtagCollectionFigures.SUCCEEDED,
    runs.FAILED: HashtagCollectionFigures.FAILED,
    runs.SKIPPED: HashtagCollectionFigures.SKIPPED,
    runs.STOPPED_BY_BUDGET: HashtagCollectionFigures.STOPPED_BY_BUDGET,
}
STREAM_STATES = {
    streams_store.RUNNING: Stream.RUNNING,
    streams_store.STOPPING: Stream.STOPPING,
    streams_store.STOPPED: Stream.STOPPED,
    streams_store.FAILED: Stream.FAILED,
}


class CollectorServicer(collector_service_pb2_grpc.CollectorServiceServicer):
    def __init__(
        self,
        engine: Engine,
        catalog: SourceCatalog,
        executor: RunExecutor,
        stream_buffer: StreamBuffer | None = None,
        streams_unavailable: str = "",
    ) -> None:
        self.engine = engine
        self.catalog = catalog
        self.executor = executor
        # Keyword streams are read and written by the stream manager (server.py); here they are
        # only recorded and read back. Without a buffer, CreateStream says why.
        self.stream_buffer = stream_buffer
        self.streams_unavailable = streams_unavailable

    async def StartCollection(
        self, request: pb.StartCollectionRequest, context: grpc.aio.ServicerContext
    ) -> CollectionRun:
        record = await self.executor.start_run(
            list(request.hashtags), request.max_posts_per_hashtag, request.source, request.max_cost_usd
        )
        return run_to_proto(record)

    async def EstimateCollection(
        self, request: pb.EstimateCollectionRequest, context: grpc.aio.ServicerContext
    ) -> pb.CollectionEstimate:
        plan = plan_collection(
            list(request.hashtags),
            request.max_posts_per_hashtag,
            request.source,
            self.executor.tracked_hashtags,
            self.catalog,
            request.max_cost_usd,
        )
        estimate = await asyncio.to_thread(
            estimate_collection, self.engine, plan, self.catalog, self.catalog.stop
        )
        return estimate_to_proto(estimate)

    async def GetCollection(
        self, request: pb.GetCollectionRequest, context: grpc.aio.ServicerContext
    ) -> CollectionRun:
        record = await asyncio.to_thread(runs.get_run, self.engine, validation.collection_id(request.id))
        if record is None:
            raise NotFound(f"collection {request.id} does not exist")
        return run_to_proto(record)

    async def ListCollections(
        self, request: pb.ListCollectionsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListCollectionsResponse:
        page = validation.list_page(pagination.COLLECTIONS, request.page_size, request.page_token)
        records, last = await asyncio.to_thread(runs.list_runs_page, self.engine, page)
        return pb.ListCollectionsResponse(
            collections=[run_to_proto(r) for r in records],
            next_page_token=pagination.COLLECTIONS.encode(last),
        )

    async def DeletePosts(
        self, request: pb.DeletePostsRequest, context: grpc.aio.ServicerContext
    ) -> pb.DeletePostsResponse:
        deletion = plan_deletion(request.source, list(request.post_ids), request.author_id, KNOWN_SOURCES)
        removed = await asyncio.to_thread(execute_deletion, self.engine, deletion)
        if removed.posts:
            self.executor.invalidations.request(f"{removed.posts} posts deleted on request")
        return pb.DeletePostsResponse(
            posts_deleted=removed.posts, hashtag_links_deleted=removed.links, users_deleted=removed.users
        )

    # --- keyword streams -------------------------------------------------------------------

    async def CreateStream(
        self, request: pb.CreateStreamRequest, context: grpc.aio.ServicerContext
    ) -> Stream:
        plan = streams_store.plan_stream(
            [(rule.value, rule.tag) for rule in request.rules], request.source, self.catalog
        )
        if self.stream_buffer is None:
            raise FailedPrecondition(self.streams_unavailable or "keyword streams are not available")
        stream_id = await asyncio.to_thread(streams_store.create_stream, self.engine, plan)
        record = await asyncio.to_thread(streams_store.get_stream, self.engine, stream_id)
        assert record is not None
        return stream_to_proto(record, 0)

    async def GetStream(self, request: pb.GetStreamRequest, context: grpc.aio.ServicerContext) -> Stream:
        record = await asyncio.to_thread(
            streams_store.get_stream, self.engine, validation.stream_id(request.id)
        )
        if record is None:
            raise NotFound(f"stream {request.id} does not exist")
        return stream_to_proto(record, await self._buffered(record))

    async def ListStreams(
        self, request: pb.ListStreamsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListStreamsResponse:
        page = validation.list_page(pagination.STREAMS, request.page_size, request.page_token)
        records, last = await asyncio.to_thread(streams_store.list_streams_page, self.engine, page)
        return pb.ListStreamsResponse(
            streams=[stream_to_proto(r, await self._buffered(r)) for r in records],
            next_page_token=pagination.STREAMS.encode(last),
        )

    async def DeleteStream(
        self, request: pb.DeleteStreamRequest, context: grpc.aio.ServicerContext
    ) -> Stream:
        stream_id = validation.stream_id(request.id)
        record = await asyncio.to_thread(streams_store.stop_stream, self.engine, stream_id)
        if record is None:
            raise NotFound(f"stream {request.id} does not exist")
        return stream_to_proto(record, await self._buffered(record))

    async def _buffered(self, record: streams_store.StreamRecord) -> int:
        return await asyncio.to_thread(buffered_messages, self.stream_buffer, record.id, record.drained_at)


def _key_counts(pairs: list[tuple[str, int]]) -> list[resources_pb2.KeyCount]:
    return [resources_pb2.KeyCount(key=key, count=count) for key, count in pairs]


def stream_to_proto(record: streams_store.StreamRecord, buffered: int) -> Stream:
    return Stream(
        id=str(record.id),
        source=record.source,
        rules=[resources_pb2.StreamRule(value=r.value, tag=r.tag) for r in record.rules],
        state=STREAM_STATES[record.state],
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
        posts_deleted=record.posts_deleted,
        dead_letters=[
            resources_pb2.StreamDeadLetter(
                message_id=d.entry_id, error=d.error, attempts=d.attempts, time=to_timestamp(d.at)
            )
            for d in record.dead_letters
        ],
    )


def _figures(figures: runs.HashtagFigures | runs.RunRecord) -> resources_pb2.CollectionFigures:
    return resources_pb2.CollectionFigures(
        posts_fetched=figures.posts_fetched,
        posts_new=figures.posts_new,
        posts_duplicate=figures.posts_duplicate,
        api_requests=figures.api_requests,
        errors=figures.errors,
        pages=figures.pages,
        posts_billed=figures.posts_billed,
        users_billed=figures.users_billed,
        counts_requests=figures.counts_requests,
        cost_usd=to_usd(figures.cost_micros),
    )


def run_to_proto(record: runs.RunRecord) -> CollectionRun:
    return CollectionRun(
        id=str(record.id),
        source=record.source,
        hashtags=list(record.hashtags),
        max_posts_per_hashtag=record.max_posts_per_hashtag,
        state=RUN_STATES[record.state],
        start_time=to_timestamp(record.started_at),
        end_time=to_timestamp(record.ended_at),
        figures=_figures(record),
        hashtag_figures=[
            HashtagCollectionFigures(
                hashtag=f.hashtag,
                figures=_figures(f),
                error_message=f.error_message,
                state=HASHTAG_STATES[f.state],
                start_time=to_timestamp(f.started_at),
                end_time=to_timestamp(f.ended_at),
            )
            for f in record.hashtag_figures
        ],
        error_message=record.error_message,
        resume_count=record.resume_count,
        max_cost_usd=to_usd(record.max_cost_micros or 0),
    )


def estimate_to_proto(estimate: CollectionEstimate) -> pb.CollectionEstimate:
    hashtags = [
        pb.HashtagEstimate(
            hashtag=h.hashtag,
            counts_available=h.counts_available,
            posts_available=h.posts_available,
            posts_to_read=h.posts_to_read,
            search_requests=h.search_requests,
            counts_requests=h.counts_requests,
            cost_usd=to_usd(h.cost_micros),
            note=h.note,
        )
        for h in estimate.hashtags
    ]
    budget = estimate.daily_budget_micros
    return pb.CollectionEstimate(
        source=estimate.source,
        hashtags=hashtags,
        posts_available=sum(h.posts_available for h in estimate.hashtags),
        posts_to_read=sum(h.posts_to_read for h in estimate.hashtags),
        api_requests=estimate.api_requests,
        cost_usd=to_usd(sum(h.cost_micros for h in estimate.hashtags)),
        estimate_cost_usd=to_usd(estimate.estimate_cost_micros),
        spent_today_usd=to_usd(estimate.spent_today_micros),
        daily_budget_usd=to_usd(budget or 0),
        budget_left_usd=to_usd(max(budget - estimate.spent_today_micros, 0)) if budget is not None else 0.0,
        message=estimate.message,
    )
