"""The platforms this collector can read, decided once from its settings.

The catalog answers every question about sources: which ones a run or a stream may name, which
one an empty `source` means, why one is not available (the setting it lacks), and what reads
each: the search source of a collection run, the feed of a stream matched here, the X filtered
stream's configuration. Adding a platform touches `sources/` (its client and parsing) and this
module, nothing else.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from tagpulse.text import quoted
from tagpulse_collector.settings import CollectorSettings
from tagpulse_collector.sources.api_client import HttpPolicy
from tagpulse_collector.sources.base import Source
from tagpulse_collector.sources.bluesky import BlueskyAccess, BlueskySource
from tagpulse_collector.sources.mastodon import MastodonAccess, MastodonSource
from tagpulse_collector.sources.rate_limits import WaitPolicy
from tagpulse_collector.sources.sample import SampleSource
from tagpulse_collector.sources.x_api import XAccess, XApiSource
from tagpulse_collector.spending.prices import SpendPolicy, spend_policy
from tagpulse_collector.streams.backoff import ReconnectPolicy
from tagpulse_collector.streams.bluesky_feed import jetstream_feed
from tagpulse_collector.streams.local_feed import Feed
from tagpulse_collector.streams.mastodon_feed import mastodon_feed
from tagpulse_collector.streams.sample_feed import sample_feed
from tagpulse_collector.streams.x_stream import XStreamConfig

KNOWN_SOURCES = ("x", "mastodon", "bluesky", "sample")
# What a collector needs before it can read from a platform.
REQUIRED_SETTINGS = {
    "x": "TAGPULSE_X_BEARER_TOKEN",
    "mastodon": "TAGPULSE_MASTODON_BASE_URL",
    "bluesky": "TAGPULSE_BLUESKY_HANDLE and TAGPULSE_BLUESKY_APP_PASSWORD",
}
# Platforms that match a stream's rules themselves; tagpulse matches every other source's.
MATCHED_BY_PLATFORM = frozenset({"x"})


class SourceNotConfigured(LookupError):
    """A run names a source this collector has no credentials for."""


def not_configured_message(source: str) -> str:
    setting = REQUIRED_SETTINGS.get(source, "its settings")
    return f"source {quoted(source)} is not configured on this collector (set {setting})"


@dataclass(frozen=True)
class StreamReading:
    """How the stream readers read: sample pace, Mastodon polling, X's connection, Jetstream's
    replay overlap, reconnects."""

    sample_rate: float = 20.0
    mastodon_poll_seconds: float = 5.0
    # Read Mastodon's streaming API too (with an access token).
    mastodon_streaming: bool = True
    bluesky_overlap_seconds: float = 5.0
    reconnect: ReconnectPolicy = field(default_factory=ReconnectPolicy)
    # Tag of the X rules this deployment adds (the Redis key prefix).
    x_marker: str = "tagpulse:"
    x_keepalive_seconds: float = 20.0
    x_backfill_minutes: int = 0


@dataclass(frozen=True)
class SourceCatalog:
    """The sources of one collector; the sample source is always there."""

    x: XAccess | None = None
    mastodon: MastodonAccess | None = None
    bluesky: BlueskyAccess | None = None
    sample_seed: int = 42
    x_include_retweets: bool = False
    # How old X's stored hourly counts of a hashtag may get before a run fetches them again; 0: never.
    x_counts_refresh_minutes: int = 0
    reading: StreamReading = field(default_factory=StreamReading)
    # What reading each platform costs, and the daily budgets.
    spend: SpendPolicy = field(default_factory=SpendPolicy)
    # Set on shutdown: a source waiting out a rate limit wakes up and stops.
    stop: threading.Event = field(default_factory=threading.Event, compare=False)

    @property
    def configured(self) -> tuple[str, ...]:
        available = {
            "x": self.x is not None,
            "mastodon": self.mastodon is not None,
            "bluesky": self.bluesky is not None,
            "sample": True,
        }
        return tuple(name for name in KNOWN_SOURCES if available[name])

    @property
    def default_source(self) -> str:
        """What an empty `source` means: the platform with credentials, X first, else the sample."""
        return next(name for name in KNOWN_SOURCES if name in self.configured)

    def choose(self, requested: str) -> tuple[str, str]:
        """The source a request names (the default when it names none), and what is wrong with
        that choice ("" when nothing is)."""
        source = (requested or self.default_source).strip().lower()
        if source not in KNOWN_SOURCES:
            return source, f"unknown source {quoted(source)}; use one of: {', '.join(KNOWN_SOURCES)}"
        if source not in self.configured:
            configured = ", ".join(sorted(self.configured))
            return source, f"{not_configured_message(source)}; configured: {configured}"
        return source, ""

    def matched_here(self, source: str) -> bool:
        """True when tagpulse matches a stream's rules itself (the platform does not)."""
        return source not in MATCHED_BY_PLATFORM

    def search_source(self, name: str) -> Source:
        """A new search source for a collection run; SourceNotConfigured when it has no settings."""
        if name == "sample":
            return SampleSource(seed=self.sample_seed)
        if name == "x" and self.x is not None:
            return XApiSource(
                self.x,
                self.x_include_retweets,
                self.stop,
                counts_refresh_minutes=self.x_counts_refresh_minutes,
            )
        if name == "mastodon" and self.mastodon is not None:
            return MastodonSource(self.mastodon, self.stop)
        if name == "bluesky" and self.bluesky is not None:
            return BlueskySource(self.bluesky, self.stop)
        raise SourceNotConfigured(not_configured_message(name))

    def local_feed(
        self, stream_id: int, source: str, started_at: datetime, on_error: Callable[[str], None]
    ) -> Feed | None:
        """The feed of a stream matched here; None when this collector cannot read its source."""
        if source == "sample":
            return sample_feed(self.sample_seed, stream_id, started_at, self.reading.sample_rate)
        if source == "mastodon" and self.mastodon is not None:
            return mastodon_feed(
                self.mastodon,
                self.reading.mastodon_poll_seconds,
                self.reading.reconnect,
                on_error,
                self.reading.mastodon_streaming,
            )
        if source == "bluesky" and self.bluesky is not None:
            return jetstream_feed(
                self.bluesky.jetstream_url,
                self.reading.bluesky_overlap_seconds,
                self.reading.reconnect,
                on_error,
            )
        return None

    def x_stream(self) -> XStreamConfig | None:
        """The X filtered stream's configuration; None without X credentials."""
        if self.x is None:
            return None
        return XStreamConfig(
            access=self.x,
            marker=self.reading.x_marker,
            keepalive_seconds=self.reading.x_keepalive_seconds,
            reconnect=self.reading.reconnect,
            backfill_minutes=self.reading.x_backfill_minutes,
        )


def http_policy(settings: CollectorSettings) -> HttpPolicy:
    return HttpPolicy(
        timeout_seconds=settings.source_timeout_seconds,
        attempts=settings.source_attempts,
        backoff_initial_seconds=settings.source_backoff_initial_seconds,
        backoff_max_seconds=settings.source_backoff_max_seconds,
        rate_limit=WaitPolicy(
            max_wait_seconds=settings.rate_limit_max_wait_seconds,
            margin_seconds=settings.rate_limit_margin_seconds,
        ),
        max_rate_limit_waits=settings.rate_limit_max_waits,
    )


def bluesky_access(settings: CollectorSettings, policy: HttpPolicy) -> BlueskyAccess | None:
    if not settings.bluesky_handle or settings.bluesky_app_password is None:
        return None
    return BlueskyAccess(
        handle=settings.bluesky_handle,
        app_password=settings.bluesky_app_password.get_secret_value(),
        base_url=settings.bluesky_base_url,
        policy=policy,
        profile_ttl_seconds=settings.bluesky_profile_ttl_minutes * 60,
        jetstream_url=settings.bluesky_jetstream_url,
    )


def catalog_from_settings(settings: CollectorSettings, stop: threading.Event | None = None) -> SourceCatalog:
    """The platforms whose settings are there (an X bearer token, a Mastodon URL, a Bluesky
    handle with its app password)."""
    policy = http_policy(settings)
    x_token = settings.x_bearer_token.get_secret_value() if settings.x_bearer_token else ""
    mastodon_token = (
        settings.mastodon_access_token.get_secret_value() if settings.mastodon_access_token else None
    )
    return SourceCatalog(
        x=XAccess(x_token, settings.x_api_base_url, policy) if x_token else None,
        mastodon=MastodonAccess(settings.mastodon_base_url, mastodon_token, policy)
        if settings.mastodon_base_url
        else None,
        bluesky=bluesky_access(settings, policy),
        sample_seed=settings.sample_seed,
        x_include_retweets=settings.x_include_retweets,
        x_counts_refresh_minutes=settings.x_counts_refresh_minutes,
        reading=StreamReading(
            sample_rate=settings.stream_sample_rate,
            mastodon_poll_seconds=settings.stream_mastodon_poll_seconds,
            mastodon_streaming=settings.stream_mastodon_streaming,
            bluesky_overlap_seconds=settings.stream_bluesky_overlap_seconds,
            reconnect=ReconnectPolicy(scale=settings.stream_backoff_scale),
            x_marker=settings.redis_key_prefix,
            x_keepalive_seconds=settings.stream_keepalive_seconds,
            x_backfill_minutes=settings.x_stream_backfill_minutes,
        ),
        spend=spend_policy(settings),
        stop=stop or threading.Event(),
    )
