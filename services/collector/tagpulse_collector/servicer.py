"""CollectorService: translates messages and calls the domain; nothing more."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import grpc
from sqlalchemy import Engine

from tagpulse.errors import InvalidArgument, NotFound
from tagpulse.pagination import decode_page_token, encode_page_token, page_size_of
from tagpulse.timestamps import to_timestamp
from tagpulse.v1 import collector_service_pb2 as pb
from tagpulse.v1 import collector_service_pb2_grpc, resources_pb2
from tagpulse_collector import collection
from tagpulse_collector.query_client import QueryClient
from tagpulse_collector.sources.base import Source

CollectionRun = resources_pb2.CollectionRun
# Ids are database integers: anything larger cannot name a run.
MAX_ID = 2**63 - 1


class CollectorServicer(collector_service_pb2_grpc.CollectorServiceServicer):
    def __init__(
        self,
        engine: Engine,
        sources: dict[str, Callable[[], Source]],
        tracked_hashtags: list[str],
        query_client: QueryClient,
    ) -> None:
        self.engine = engine
        self.sources = sources
        self.tracked_hashtags = tracked_hashtags
        self.query_client = query_client
        # Runs in flight; they finish even when the caller goes away.
        self._runs: set[asyncio.Task[collection.RunRecord]] = set()

    async def StartCollection(
        self, request: pb.StartCollectionRequest, context: grpc.aio.ServicerContext
    ) -> CollectionRun:
        plan = collection.plan_collection(
            list(request.hashtags), request.max_posts_per_hashtag, request.source, self.tracked_hashtags
        )
        run_id = await asyncio.to_thread(collection.start_run, self.engine, plan, self.tracked_hashtags)
        task = asyncio.create_task(self._run(run_id, plan))
        self._runs.add(task)
        task.add_done_callback(self._runs.discard)
        return run_to_proto(await asyncio.shield(task))

    async def _run(self, run_id: int, plan: collection.CollectionPlan) -> collection.RunRecord:
        source = self.sources[plan.source]()
        record = await asyncio.to_thread(collection.execute_run, self.engine, run_id, plan, source)
        await self.query_client.invalidate_aggregates(
            f"collection {run_id} stored {record.posts_new} new posts"
        )
        return record

    async def wait_for_runs(self) -> None:
        """Let runs in flight finish (on shutdown)."""
        if self._runs:
            await asyncio.wait(self._runs)

    async def GetCollection(
        self, request: pb.GetCollectionRequest, context: grpc.aio.ServicerContext
    ) -> CollectionRun:
        if not request.id.isdigit() or not 0 < int(request.id) <= MAX_ID:
            raise InvalidArgument({"id": f"{request.id!r} is not a collection id (a positive number)"})
        record = await asyncio.to_thread(collection.get_run, self.engine, int(request.id))
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
        records = await asyncio.to_thread(collection.list_runs, self.engine, size + 1, before_id)
        next_token = ""
        if len(records) > size:
            records = records[:size]
            next_token = encode_page_token("collections", {"before_id": records[-1].id})
        return pb.ListCollectionsResponse(
            collections=[run_to_proto(r) for r in records], next_page_token=next_token
        )


def run_to_proto(record: collection.RunRecord) -> CollectionRun:
    return CollectionRun(
        id=str(record.id),
        source=record.source,
        hashtags=list(record.hashtags),
        max_posts_per_hashtag=record.max_posts_per_hashtag,
        state=record.state,
        start_time=to_timestamp(record.started_at),
        end_time=to_timestamp(record.ended_at),
        figures=resources_pb2.CollectionFigures(
            posts_fetched=record.posts_fetched,
            posts_new=record.posts_new,
            posts_duplicate=record.posts_duplicate,
        ),
        hashtag_figures=[
            resources_pb2.HashtagCollectionFigures(
                hashtag=f.hashtag,
                figures=resources_pb2.CollectionFigures(
                    posts_fetched=f.posts_fetched, posts_new=f.posts_new, posts_duplicate=f.posts_duplicate
                ),
                error_message=f.error_message,
            )
            for f in record.hashtag_figures
        ],
        error_message=record.error_message,
    )
