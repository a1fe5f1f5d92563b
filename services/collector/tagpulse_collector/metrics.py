"""The collector's domain metrics (the gRPC ones come from the shared interceptor)."""

from collections.abc import Iterable

from prometheus_client import Counter, Gauge, Histogram

from tagpulse.series_at_zero import create_at_zero
from tagpulse_collector.streams import metrics as stream_metrics

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
INVALIDATION_DELIVERED, INVALIDATION_FAILED = "ok", "error"
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
# The chart's TagpulseSourceCreditsDepleted alert watches it.
CREDITS_DEPLETED = Counter(
    "tagpulse_source_credits_depleted_total",
    "HTTP 402 answers (pay-per-use credits spent) that stopped a run or a stream.",
    ("source",),
)
POSTS_DELETED = Counter(
    "tagpulse_posts_deleted_total",
    "Stored posts deleted, with everything they counted, by reason: retention, request, upstream.",
    ("source", "reason"),
)
MASTODON_RECHECKS = Counter(
    "tagpulse_mastodon_rechecks_total",
    "Stored Mastodon statuses looked up again on their instance, by outcome: present, gone (deleted "
    "here), failed (left for a later pass), held (gone, but kept: most of the pass answered gone).",
    ("outcome",),
)
RECHECK_OUTCOMES = ("present", "gone", "failed", "held")
X_COMPLIANCE_JOBS = Counter(
    "tagpulse_x_compliance_jobs_total",
    "X batch compliance jobs ended, by job type (tweets, users) and outcome: done (results applied), "
    "failed or expired (a new job takes their ids).",
    ("job_type", "outcome"),
)
X_COMPLIANCE_RESULTS = Counter(
    "tagpulse_x_compliance_results_total",
    "Results of X batch compliance jobs applied, by job type and X's reason: deleted, deactivated, "
    "protected, suspended (the posts are deleted), scrub_geo (their geo information is), other.",
    ("job_type", "reason"),
)
SPEND_USD = Counter(
    "tagpulse_source_spend_usd_total",
    "US dollars a paying platform bills for what tagpulse read (at the configured unit prices).",
    ("source",),
)
BILLABLE_RESOURCES = Counter(
    "tagpulse_source_billable_resources_total",
    "Resources a paying platform bills, by kind: post, user, counts_request.",
    ("source", "kind"),
)
# The chart's TagpulseDailyBudgetReached alert watches its daily series.
BUDGET_STOPS = Counter(
    "tagpulse_source_budget_stops_total",
    "Collections and streams a budget stopped before a read that could pass it, by budget: daily, run.",
    ("source", "budget"),
)
# The chart's TagpulseDailyBudget* alerts divide the first by the second.
SPENT_TODAY_USD = Gauge(
    "tagpulse_source_spent_today_usd",
    "US dollars spent on a paying platform in the current UTC day, as the database holds it.",
    ("source",),
)
DAILY_BUDGET_USD = Gauge(
    "tagpulse_source_daily_budget_usd",
    "The daily budget of a paying platform (TAGPULSE_X_DAILY_BUDGET_USD); absent when unset.",
    ("source",),
)
# The chart's TagpulseSourceRateLimitExhausted alert watches it.
RATE_LIMIT_REMAINING = Gauge(
    "tagpulse_source_rate_limit_remaining",
    "Requests left in the current rate-limit window, as the platform last reported.",
    ("source",),
)


def run_outcome(state: str) -> str:
    """The `outcome` label of a run that ended in `state` (SUCCEEDED: succeeded)."""
    return state.lower()


def create_series_at_zero(sources: Iterable[str], finished_run_states: Iterable[str]) -> None:
    """The collector's series whose label values are known in advance, at zero, before the metrics
    port opens: the alerts' `increase()` then sees the first failed run or dead letter after a
    start. Not tagpulse_source_rate_limit_remaining: at zero it would say the limit is exhausted;
    it appears when a platform first reports its limit."""
    sources = list(sources)
    create_at_zero(COLLECTION_RUNS, source=sources, outcome=[run_outcome(s) for s in finished_run_states])
    create_at_zero(RUN_SECONDS, source=sources)
    create_at_zero(CACHE_INVALIDATIONS, result=[INVALIDATION_DELIVERED, INVALIDATION_FAILED])
    create_at_zero(CREDITS_DEPLETED, source=sources)
    create_at_zero(POSTS_DELETED, source=sources, reason=["retention", "request", "upstream"])
    create_at_zero(MASTODON_RECHECKS, outcome=list(RECHECK_OUTCOMES))
    create_at_zero(X_COMPLIANCE_JOBS, job_type=["tweets", "users"], outcome=["done", "failed", "expired"])
    create_at_zero(
        X_COMPLIANCE_RESULTS,
        job_type=["tweets", "users"],
        reason=["deleted", "deactivated", "protected", "suspended", "scrub_geo", "other"],
    )
    create_at_zero(BUDGET_STOPS, source=sources, budget=["daily", "run"])
    for counter in (
        stream_metrics.MESSAGES_RECEIVED,
        stream_metrics.MESSAGES_MATCHED,
        stream_metrics.MESSAGES_WRITTEN,
        stream_metrics.POSTS_UNIQUE,
        stream_metrics.POSTS_DUPLICATE,
        stream_metrics.DEAD_LETTERED,
    ):
        create_at_zero(counter, source=sources)
    # A gauge at zero is the truth here: no reader yet.
    create_at_zero(stream_metrics.READERS, source=sources)
