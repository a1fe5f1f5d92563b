"""The collector's settings: the shared ones plus its ports, where the query service is, and
how patient the platform sources are. Every field's description is the configuration reference
(docs/configuration.md, written by `make docs`)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import NoDecode

from tagpulse.settings import GRPC_PORT_DESCRIPTION, METRICS_PORT_DESCRIPTION, Settings

# Sources a retention can name: the catalog's KNOWN_SOURCES, which imports these settings
# (tests/unit/test_retention_settings.py keeps the two equal). Imported archives are "x" posts.
RETAINED_SOURCES = ("x", "mastodon", "bluesky", "sample")


class CollectorSettings(Settings):
    grpc_port: int = Field(default=50052, ge=0, le=65535, description=GRPC_PORT_DESCRIPTION)
    metrics_port: int = Field(default=9102, ge=0, le=65535, description=METRICS_PORT_DESCRIPTION)
    query_address: str = Field(
        default="127.0.0.1:50051",
        description=(
            "The query service (`HOST:PORT`), told to retire its cached answers after each run and "
            "archive import, and while keyword streams store posts."
        ),
    )
    invalidate_retry_max_seconds: float = Field(
        default=15.0,
        gt=0,
        le=600,
        description=(
            "Longest wait between attempts to deliver a cache invalidation while the query service "
            "is unreachable (the waits double from half a second); attempts go on until it is delivered."
        ),
    )
    run_supervise_seconds: float = Field(
        default=15.0,
        gt=0,
        le=600,
        description=(
            "How often the collector looks for RUNNING collection runs that no collector executes "
            "(killed, or its database session broke) and resumes them from their last stored page."
        ),
    )
    run_max_resumes: int = Field(
        default=10,
        ge=0,
        le=1000,
        description=(
            "Resumes of one collection run before it is given up: its unfinished hashtags fail "
            "with the reason, so no run stays RUNNING for ever."
        ),
    )
    collector_address: str = Field(
        default="127.0.0.1:50052", description="The collector (`HOST:PORT`) that the `trigger` command calls."
    )
    x_include_retweets: bool = Field(
        default=False,
        description=(
            "X search also collects retweets (`#tag` instead of `#tag -is:retweet`); their hashtags "
            "then come from the retweeted post."
        ),
    )
    source_timeout_seconds: float = Field(
        default=30.0, gt=0, description="Timeout of one HTTP request to X, Mastodon or Bluesky."
    )
    source_attempts: int = Field(
        default=5,
        ge=1,
        le=20,
        description=(
            "Attempts of a request to X, Mastodon or Bluesky that meets a 5xx, a timeout or a "
            "connection error."
        ),
    )
    source_backoff_initial_seconds: float = Field(
        default=1.0,
        ge=0,
        description="First wait of the exponential backoff (with jitter) between those attempts.",
    )
    source_backoff_max_seconds: float = Field(
        default=60.0, ge=0, description="Longest wait of the exponential backoff between those attempts."
    )
    rate_limit_max_wait_seconds: float = Field(
        default=960.0,
        ge=0,
        description="The longest single wait for a rate-limit window to reset (X windows are 15 minutes).",
    )
    rate_limit_margin_seconds: float = Field(
        default=1.0, ge=0, description="Added to every rate-limit wait (resets have one-second resolution)."
    )
    rate_limit_max_waits: int = Field(
        default=3, ge=0, le=100, description="429 answers in a row for one request before the run stops."
    )
    stream_poll_seconds: float = Field(
        default=1.0,
        gt=0,
        le=60,
        description=(
            "How often each collector looks at the keyword streams: starts and stops readers, takes "
            "over the streams of dead collectors, and tells its writer which buffers to read."
        ),
    )
    stream_batch_size: int = Field(
        default=1000, ge=1, le=5000, description="Stream buffer entries a writer stores per transaction."
    )
    stream_claim_idle_seconds: float = Field(
        default=30.0,
        gt=0,
        description=(
            "How long a buffer entry stays pending (its writer died, or storing it failed) before "
            "another writer claims it."
        ),
    )
    stream_max_attempts: int = Field(
        default=3,
        ge=1,
        le=100,
        description="Failed attempts to store a stream message before it goes to the dead-letter buffer.",
    )
    stream_keepalive_seconds: float = Field(
        default=20.0, gt=0, description="Silence on the X filtered stream that means the connection is dead."
    )
    stream_backoff_scale: float = Field(
        default=1.0,
        gt=0,
        le=10,
        description=(
            "Multiplies every reconnect wait of X's guidance for the filtered stream (tests shrink them)."
        ),
    )
    stream_sample_rate: float = Field(
        default=20.0, gt=0, le=10_000, description="Messages per second of a `sample` keyword stream."
    )
    stream_mastodon_poll_seconds: float = Field(
        default=5.0, gt=0, description="How often a `mastodon` keyword stream polls the public timeline."
    )
    stream_mastodon_streaming: bool = Field(
        default=True,
        description=(
            "With TAGPULSE_MASTODON_ACCESS_TOKEN set, a `mastodon` keyword stream also reads the "
            "instance's streaming API (GET /api/v1/streaming/public) once its polls have caught up: new "
            "statuses at once, and `delete` events that remove the stored statuses they name. An "
            "instance that refuses it is polled. false: poll only."
        ),
    )
    stream_bluesky_overlap_seconds: float = Field(
        default=5.0,
        ge=0,
        le=600,
        description=(
            "A `bluesky` keyword stream that reconnects (or whose collector restarted) asks Jetstream "
            "for the events from this long before the furthest one it read, since Jetstream's order "
            "by time is not strict; the posts read twice count once."
        ),
    )
    bluesky_profile_ttl_minutes: float = Field(
        default=360.0,
        ge=0,
        le=7 * 24 * 60,
        description=(
            "How long a Bluesky author's profile (its follower count) read by a collection is reused "
            "before it is read again with getProfiles; 0: read on every page."
        ),
    )
    stream_invalidate_seconds: float = Field(
        default=10.0,
        ge=0,
        description="While streams store posts, the query service's cache is retired at most this often.",
    )
    x_stream_backfill_minutes: int = Field(
        default=0,
        ge=0,
        le=5,
        description=(
            "X's `backfill_minutes` on a filtered-stream reconnect: resend what the reconnect missed "
            "(Pro and Enterprise access only)."
        ),
    )
    x_counts_refresh_minutes: int = Field(
        default=60,
        ge=0,
        le=7 * 24 * 60,
        description=(
            "A collection from X fetches X's hourly counts of a hashtag's posts over the last 7 days "
            "(GET /2/tweets/counts/recent, one billed request) when the stored ones are older than "
            "this; the coverage route compares them with the posts stored. 0: never fetch counts."
        ),
    )
    retention_days: Annotated[dict[str, int], NoDecode] = Field(
        default_factory=dict,
        description=(
            "How long posts are kept, per source: `x=30,mastodon=90` deletes X posts created more "
            "than 30 days ago and Mastodon posts after 90, with everything they counted. A source "
            "not named keeps everything; empty keeps everything."
        ),
    )
    retention_interval_minutes: float = Field(
        default=60.0,
        ge=0,
        le=7 * 24 * 60,
        description=(
            "How often the collector deletes the posts past their retention, one replica at a time. "
            "0: never (the Helm chart's retention CronJob runs `python -m tagpulse_collector "
            "retention` instead, and sets 0 here)."
        ),
    )
    retention_batch_posts: int = Field(
        default=1000,
        ge=1,
        le=100_000,
        description="Posts deleted per transaction when enforcing the retention.",
    )

    mastodon_rechecks_per_hour: int = Field(
        default=600,
        ge=0,
        le=100_000,
        description=(
            "Stored Mastodon statuses the collector looks up again per hour (GET /api/v1/statuses/:id "
            "on TAGPULSE_MASTODON_BASE_URL, one request each, the least recently checked first) to "
            "delete those the instance answers 404 or 410 (deleted); one replica at a time. 0: no "
            "re-checks. Mastodon allows 300 requests per 5 minutes by default: leave room for "
            "collections and streams."
        ),
    )
    mastodon_recheck_interval_minutes: float = Field(
        default=15.0,
        gt=0,
        le=24 * 60,
        description=(
            "How often the collector runs a pass of Mastodon re-checks; each pass spends its share of "
            "TAGPULSE_MASTODON_RECHECKS_PER_HOUR."
        ),
    )
    mastodon_recheck_after_hours: float = Field(
        default=24.0,
        ge=0,
        le=365 * 24,
        description="A Mastodon status found still there is not looked up again for this long.",
    )

    x_compliance_interval_hours: float = Field(
        default=24.0,
        ge=0,
        le=30 * 24,
        description=(
            "How often the collector starts a pass of X batch compliance jobs (POST /2/compliance/jobs): "
            "every stored X post id and author id is sent to X, and the posts X reports deleted, "
            "deactivated, protected or suspended are deleted (docs/deletion.md); one replica at a time. "
            "Only with TAGPULSE_X_BEARER_TOKEN. 0: no compliance jobs."
        ),
    )
    x_compliance_ids_per_job: int = Field(
        default=100_000,
        ge=1,
        le=100_000,
        description=(
            "Ids uploaded per X compliance job (X takes up to 100,000); a pass runs as many jobs as it needs."
        ),
    )
    x_compliance_poll_seconds: float = Field(
        default=60.0,
        gt=0,
        le=3600,
        description="How often the collector asks X whether a compliance job it is processing is complete.",
    )

    @field_validator("retention_days", mode="before")
    @classmethod
    def _parse_retention(cls, value: object) -> object:
        if isinstance(value, str):
            days: dict[str, int] = {}
            for part in (p.strip() for p in value.split(",")):
                if not part:
                    continue
                source, separator, number = part.partition("=")
                if not separator or not number.strip().isdigit() or int(number) < 1:
                    raise ValueError(f"{part!r}: write SOURCE=DAYS, days a whole number of at least 1")
                days[source.strip().lower()] = int(number)
            value = days
        if isinstance(value, dict):
            unknown = sorted(set(value) - set(RETAINED_SOURCES))
            if unknown:
                raise ValueError(f"unknown source {unknown[0]!r}; use one of: {', '.join(RETAINED_SOURCES)}")
        return value
