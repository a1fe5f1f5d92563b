"""The collector's domain metrics (the gRPC ones come from the shared interceptor)."""

from prometheus_client import Counter, Gauge, Histogram

POSTS_FETCHED = Counter(
    "tagpulse_posts_fetched_total", "Posts returned by a source, duplicates included.", ("source", "hashtag")
)
POSTS_NEW = Counter("tagpulse_posts_new_total", "Posts stored for the first time.", ("source", "hashtag"))
POSTS_DUPLICATE = Counter(
    "tagpulse_posts_duplicate_total", "Posts fetched that were already stored.", ("source", "hashtag")
)
COLLECTION_RUNS = Counter(
    "tagpulse_collection_runs_total", "Finished collection runs by outcome.", ("source", "outcome")
)
RUN_SECONDS = Histogram(
    "tagpulse_collection_run_duration_seconds",
    "Wall time of a collection run (of this execution, when it was resumed).",
    ("source",),
    buckets=(0.1, 0.5, 1, 5, 15, 60, 300, 900, 1800, 3600),
)
CACHE_INVALIDATIONS = Counter(
    "tagpulse_cache_invalidations_total",
    "Calls to QueryService.InvalidateAggregates (after a run, an import, stream batches), by result.",
    ("result",),
)
# 1 while an invalidation waits to be delivered (the query service is down): answers may be stale.
CACHE_INVALIDATIONS_PENDING = Gauge(
    "tagpulse_cache_invalidations_pending",
    "1 while a cache invalidation waits to be delivered to the query service, else 0.",
)
SOURCE_REQUESTS = Counter(
    "tagpulse_source_requests_total",
    "HTTP requests to a platform API, by response status (or timeout, connection_error).",
    ("source", "status"),
)
# The chart's TagpulseSourceRateLimitExhausted alert watches it.
RATE_LIMIT_REMAINING = Gauge(
    "tagpulse_source_rate_limit_remaining",
    "Requests left in the current rate-limit window, as the platform last reported.",
    ("source",),
)
