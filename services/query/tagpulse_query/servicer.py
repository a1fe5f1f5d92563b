"""QueryService: checks requests, asks the cache, else the summaries; translates messages."""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

import grpc
from google.protobuf.message import Message
from prometheus_client import Histogram
from sqlalchemy import Engine
from sqlalchemy.engine import Connection

from tagpulse import pagination
from tagpulse.errors import Unavailable
from tagpulse.money import to_usd
from tagpulse.timestamps import optional_instant, to_timestamp
from tagpulse.v1 import query_service_pb2 as pb
from tagpulse.v1 import query_service_pb2_grpc, resources_pb2
from tagpulse_query import coverage, listings, records, stats, summaries, validation
from tagpulse_query.cache import CACHE_NEAR_HITS, CACHE_REQUESTS, AnswerCache, CacheUnavailable, NearCache

log = logging.getLogger("tagpulse.query")

DATABASE_SECONDS = Histogram(
    "tagpulse_query_database_seconds",
    "Time to compute an answer from the database (cache misses).",
    ("rpc",),
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)

Mode = pb.CountPostsByHourRequest.Mode
# The domain's modes beside the API's enum values, written out so that renaming either side
# fails test_state_mapping instead of a request. Unspecified asks for the default.
MODES_TO_PROTO = {validation.HOUR_OF_DAY: Mode.HOUR_OF_DAY, validation.TIMELINE: Mode.TIMELINE}
MODES_FROM_PROTO = {proto: mode for mode, proto in MODES_TO_PROTO.items()} | {Mode.MODE_UNSPECIFIED: ""}


@functools.cache
def _cache_counter(rpc: str, result: str) -> Any:
    """The counter child for (rpc, result), found once: `labels()` costs more than `inc()`, and
    a warm answer is only a few of these calls."""
    if result == "near_hit":
        return CACHE_NEAR_HITS.labels(rpc=rpc)
    return CACHE_REQUESTS.labels(rpc=rpc, result=result)


class QueryServicer(query_service_pb2_grpc.QueryServiceServicer):
    def __init__(
        self,
        engine: Engine,
        cache: AnswerCache,
        near: NearCache | None = None,
        daily_budgets_usd: Mapping[str, float] | None = None,
    ) -> None:
        self.engine = engine
        self.cache = cache
        self.near = near or NearCache(ttl_seconds=60)
        # The daily budget of each paying source, shown beside its spend (GetStats).
        self.daily_budgets_usd = dict(daily_budgets_usd or {})

    async def _answer(self, rpc: str, query: object, compute: Callable[[Connection], Message]) -> bytes:
        """The cached answer to `query`, or a fresh one computed in a worker thread and cached;
        encoded, as gRPC sends it (the server passes bytes through: `tagpulse.grpc_server`)."""
        # Queries are frozen dataclasses of normalized values: "#DevOps" and "devops" share a key.
        key = f"{rpc}:{hashlib.sha256(repr(query).encode()).hexdigest()[:32]}"
        confirmed = self.cache.confirmed_generation()
        near = self.near.get(confirmed, key)
        if near is not None:
            _cache_counter(rpc, "hit").inc()
            _cache_counter(rpc, "near_hit").inc()
            return near
        generation, cached = await self.cache.lookup(key)
        if cached is not None:
            _cache_counter(rpc, "hit").inc()
            self.near.put(confirmed, generation, key, cached)
            return cached
        _cache_counter(rpc, "miss" if generation is not None else "error").inc()
        answer = await asyncio.to_thread(self._compute, rpc, compute)
        if generation is not None:
            await self.cache.store(generation, key, answer)
            self.near.put(confirmed, generation, key, answer)
        return answer

    def _compute(self, rpc: str, compute: Callable[[Connection], Message]) -> bytes:
        started = time.perf_counter()
        with self.engine.connect() as connection:
            answer = compute(connection)
        DATABASE_SECONDS.labels(rpc=rpc).observe(time.perf_counter() - started)
        return answer.SerializeToString()

    async def ListTopUsers(self, request: pb.ListTopUsersRequest, context: grpc.aio.ServicerContext) -> bytes:
        query = validation.top_users_query(request.limit, request.hashtag)

        def compute(connection: Connection) -> pb.ListTopUsersResponse:
            return pb.ListTopUsersResponse(
                users=[_user(row) for row in summaries.top_users(connection, query)]
            )

        return await self._answer("ListTopUsers", query, compute)

    async def CountPostsByHour(
        self, request: pb.CountPostsByHourRequest, context: grpc.aio.ServicerContext
    ) -> bytes:
        query = validation.hour_count_query(
            MODES_FROM_PROTO.get(request.mode, str(request.mode)),
            request.time_zone,
            request.hashtag,
            optional_instant(request, "start_time"),
            optional_instant(request, "end_time"),
        )

        def compute(connection: Connection) -> pb.CountPostsByHourResponse:
            rows = summaries.count_posts_by_hour(connection, query)
            return pb.CountPostsByHourResponse(
                mode=MODES_TO_PROTO[query.mode],
                time_zone=query.time_zone,
                hours=[_hour(row) for row in rows],
                total_posts=sum(row.post_count for row in rows),
            )

        return await self._answer("CountPostsByHour", query, compute)

    async def CountPostsByHashtag(
        self, request: pb.CountPostsByHashtagRequest, context: grpc.aio.ServicerContext
    ) -> bytes:
        query = validation.hashtag_count_query(
            request.hashtag,
            request.language,
            request.country_code,
            request.order_by,
            request.page_size,
            request.page_token,
        )

        def compute(connection: Connection) -> pb.CountPostsByHashtagResponse:
            page = summaries.count_posts_by_hashtag(connection, query)
            return pb.CountPostsByHashtagResponse(
                counts=[
                    pb.HashtagLanguageCountryCount(
                        hashtag=r.hashtag,
                        language=r.language,
                        country_code=r.country_code,
                        post_count=r.post_count,
                    )
                    for r in page.rows
                ],
                next_page_token=pagination.HASHTAG_COUNTS.encode(page.last, query.filter),
                total_size=page.total_rows,
                total_posts=page.total_posts,
            )

        return await self._answer("CountPostsByHashtag", query, compute)

    async def ListPosts(self, request: pb.ListPostsRequest, context: grpc.aio.ServicerContext) -> bytes:
        query = validation.posts_query(
            request.hashtag,
            request.language,
            request.author_id,
            request.country_code,
            optional_instant(request, "start_time"),
            optional_instant(request, "end_time"),
            request.page_size,
            request.page_token,
        )

        def compute(connection: Connection) -> pb.ListPostsResponse:
            page = listings.list_posts(connection, query)
            return pb.ListPostsResponse(
                posts=[_post(p) for p in page.posts],
                next_page_token=pagination.POSTS.encode(page.last, query.filter),
            )

        return await self._answer("ListPosts", query, compute)

    async def GetPost(self, request: pb.GetPostRequest, context: grpc.aio.ServicerContext) -> bytes:
        query = validation.post_query(request.id, request.source)

        def compute(connection: Connection) -> resources_pb2.Post:
            return _post(listings.get_post(connection, query))

        return await self._answer("GetPost", query, compute)

    async def ListUsers(self, request: pb.ListUsersRequest, context: grpc.aio.ServicerContext) -> bytes:
        query = validation.users_query(request.order_by, request.page_size, request.page_token)

        def compute(connection: Connection) -> pb.ListUsersResponse:
            page = listings.list_users(connection, query)
            return pb.ListUsersResponse(
                users=[_user(u) for u in page.users],
                next_page_token=pagination.USERS.encode(page.last, query.order_by),
            )

        return await self._answer("ListUsers", query, compute)

    async def ListHashtags(self, request: pb.ListHashtagsRequest, context: grpc.aio.ServicerContext) -> bytes:
        query = validation.hashtags_query(request.page_size, request.page_token)

        def compute(connection: Connection) -> pb.ListHashtagsResponse:
            page = listings.list_hashtags(connection, query)
            return pb.ListHashtagsResponse(
                hashtags=[
                    resources_pb2.Hashtag(
                        name=h.name,
                        tracked=h.tracked,
                        post_count=h.post_count,
                        last_collect_time=to_timestamp(h.last_collected_at),
                    )
                    for h in page.hashtags
                ],
                next_page_token=pagination.HASHTAGS.encode(page.last),
            )

        return await self._answer("ListHashtags", query, compute)

    async def GetHashtagCoverage(
        self, request: pb.GetHashtagCoverageRequest, context: grpc.aio.ServicerContext
    ) -> bytes:
        query = validation.coverage_query(request.hashtag, request.time_zone)

        def compute(connection: Connection) -> pb.HashtagCoverage:
            return _coverage(coverage.hashtag_coverage(connection, query))

        return await self._answer("GetHashtagCoverage", query, compute)

    async def GetStats(self, request: pb.GetStatsRequest, context: grpc.aio.ServicerContext) -> bytes:
        def compute(connection: Connection) -> pb.Stats:
            figures = stats.stats(connection)
            return pb.Stats(
                sources=[
                    pb.SourceStats(
                        source=s.source, posts_fetched=s.posts_fetched, posts_stored=s.posts_stored
                    )
                    for s in figures.sources
                ],
                users=figures.users,
                posts=figures.posts,
                last_successful_runs=[
                    pb.HashtagLastRun(
                        hashtag=r.hashtag, collection_id=str(r.run_id), end_time=to_timestamp(r.ended_at)
                    )
                    for r in figures.last_successful_runs
                ],
                spend=[self._spend(row) for row in figures.spend],
                x_compliance_jobs=[
                    pb.XComplianceJob(
                        job_type=job.job_type,
                        state=job.state,
                        x_job_id=job.x_job_id or "",
                        pass_start_time=to_timestamp(job.pass_started_at),
                        attempt=job.attempt,
                        ids_uploaded=job.ids_uploaded,
                        results=job.results,
                        posts_deleted=job.posts_deleted,
                        posts_geo_scrubbed=job.posts_geo_scrubbed,
                        error_message=job.error_message,
                        update_time=to_timestamp(job.updated_at),
                    )
                    for job in figures.x_compliance_jobs
                ],
            )

        return await self._answer("GetStats", validation.StatsQuery(), compute)

    def _spend(self, row: records.SpendRow) -> pb.SourceSpend:
        cost = to_usd(row.cost_micros)
        budget = self.daily_budgets_usd.get(row.source, 0.0)
        return pb.SourceSpend(
            source=row.source,
            day=row.day.isoformat(),
            posts_billed=row.posts_billed,
            users_billed=row.users_billed,
            counts_requests=row.counts_requests,
            cost_usd=cost,
            daily_budget_usd=budget,
            budget_left_usd=max(budget - cost, 0.0),
            total_cost_usd=to_usd(row.total_cost_micros),
        )

    async def InvalidateAggregates(
        self, request: pb.InvalidateAggregatesRequest, context: grpc.aio.ServicerContext
    ) -> pb.InvalidateAggregatesResponse:
        try:
            generation = await self.cache.invalidate()
        except CacheUnavailable as error:
            raise Unavailable(f"cached answers could not be retired: {error}") from error
        log.info("cache invalidated", extra={"generation": generation, "reason": request.reason})
        return pb.InvalidateAggregatesResponse(generation=generation)


def _user(row: records.UserRow) -> resources_pb2.User:
    return resources_pb2.User(
        id=row.id,
        source=row.source,
        username=row.username,
        display_name=row.display_name,
        followers_count=row.followers_count,
        location=row.location,
        country_code=row.country_code,
        post_count=row.post_count,
    )


def _hour(row: summaries.HourRow) -> pb.HourCount:
    if row.local_start is None:
        return pb.HourCount(hour_of_day=row.hour_of_day, post_count=row.post_count)
    return pb.HourCount(
        hour_of_day=row.hour_of_day,
        hour_start_time=to_timestamp(row.local_start),
        local_hour_start=row.local_start.isoformat(),
        post_count=row.post_count,
    )


def _coverage(row: coverage.CoverageRow) -> pb.HashtagCoverage:
    # Without counts, every figure stays unset: zeros would read as "X counted nothing".
    return pb.HashtagCoverage(
        hashtag=row.hashtag,
        time_zone=row.time_zone,
        counts_available=row.counts_available,
        message=row.message,
        query=row.query or "",
        counts_fetch_time=to_timestamp(row.fetched_at),
        hours=[
            pb.CoverageHour(
                start_time=to_timestamp(hour.start),
                end_time=to_timestamp(hour.end),
                local_start=hour.local_start.isoformat(),
                x_post_count=hour.x_posts,
                stored_post_count=hour.stored_posts,
                coverage=hour.coverage,
            )
            for hour in row.hours
        ],
        x_post_count=row.x_posts if row.counts_available else None,
        stored_post_count=row.stored_posts if row.counts_available else None,
        coverage=row.coverage,
    )


def _post(row: records.PostRow) -> resources_pb2.Post:
    return resources_pb2.Post(
        id=row.id,
        source=row.source,
        author_id=row.author_id,
        author_username=row.author_username,
        text=row.text,
        language=row.language,
        create_time=to_timestamp(row.created_at),
        country_code=row.country_code,
        hashtags=row.hashtags,
    )
