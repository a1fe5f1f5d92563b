"""Which sources a collector offers, which one an empty `source` means, and what a request may ask."""

from __future__ import annotations

import pytest

from tagpulse.errors import InvalidArgument
from tagpulse_collector.catalog import SourceCatalog, SourceNotConfigured, catalog_from_settings
from tagpulse_collector.runs.plan import plan_collection
from tagpulse_collector.settings import CollectorSettings
from tagpulse_collector.sources.bluesky import BlueskySource
from tagpulse_collector.sources.mastodon import MastodonAccess, MastodonSource
from tagpulse_collector.sources.sample import SampleSource
from tagpulse_collector.sources.x_api import XAccess, XApiSource


def settings(**values: object) -> CollectorSettings:
    return CollectorSettings(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("values", "sources", "default"),
    [
        ({}, {"sample"}, "sample"),
        ({"x_bearer_token": "AAAA-token"}, {"sample", "x"}, "x"),
        ({"mastodon_base_url": "https://mastodon.example"}, {"sample", "mastodon"}, "mastodon"),
        (
            {"x_bearer_token": "AAAA-token", "mastodon_base_url": "https://mastodon.example"},
            {"sample", "x", "mastodon"},
            "x",
        ),
        (
            {"bluesky_handle": "someone.bsky.social", "bluesky_app_password": "abcd-efgh-ijkl-mnop"},
            {"sample", "bluesky"},
            "bluesky",
        ),
        ({"bluesky_handle": "someone.bsky.social"}, {"sample"}, "sample"),
        (
            {"mastodon_base_url": "https://mastodon.example", "bluesky_app_password": "abcd-efgh-ijkl-mnop"},
            {"sample", "mastodon"},
            "mastodon",
        ),
    ],
)
def test_credentials_decide_the_sources_and_the_default(
    values: dict[str, object], sources: set[str], default: str
) -> None:
    catalog = catalog_from_settings(settings(**values))
    assert set(catalog.configured) == sources
    assert catalog.default_source == default
    assert plan_collection([], 0, "", [], catalog).source == default
    for name in ("x", "mastodon", "bluesky", "sample"):
        if name in sources:
            assert catalog.search_source(name).name == name
        else:
            with pytest.raises(SourceNotConfigured):
                catalog.search_source(name)


def test_the_platform_sources_get_their_settings() -> None:
    catalog = catalog_from_settings(
        settings(
            x_bearer_token="AAAA-token",
            x_api_base_url="http://127.0.0.1:9/",
            x_include_retweets=True,
            mastodon_base_url="https://mastodon.example",
            source_attempts=7,
            rate_limit_max_wait_seconds=12,
            sample_seed=7,
        )
    )
    x, mastodon = catalog.search_source("x"), catalog.search_source("mastodon")
    sample = catalog.search_source("sample")
    assert isinstance(x, XApiSource)
    assert isinstance(mastodon, MastodonSource)
    assert isinstance(sample, SampleSource)
    assert (x.access.base_url, x.include_retweets, x.access.policy.attempts) == (
        "http://127.0.0.1:9/",
        True,
        7,
    )
    assert x.access.policy.rate_limit.max_wait_seconds == 12
    assert mastodon.access.base_url == "https://mastodon.example"
    assert sample.seed == 7
    # Sources wake up from rate-limit waits when the collector stops.
    assert x.stop is catalog.stop
    assert mastodon.stop is catalog.stop


def test_bluesky_gets_its_account_urls_and_profile_time() -> None:
    catalog = catalog_from_settings(
        settings(
            bluesky_handle="someone.bsky.social",
            bluesky_app_password="abcd-efgh-ijkl-mnop",
            bluesky_base_url="http://127.0.0.1:9",
            bluesky_jetstream_url="ws://127.0.0.1:9/subscribe",
            bluesky_profile_ttl_minutes=2,
            stream_bluesky_overlap_seconds=3,
        )
    )
    bluesky = catalog.search_source("bluesky")
    assert isinstance(bluesky, BlueskySource)
    assert bluesky.stop is catalog.stop
    access = bluesky.bluesky
    assert (access.handle, access.base_url, access.jetstream_url) == (
        "someone.bsky.social",
        "http://127.0.0.1:9",
        "ws://127.0.0.1:9/subscribe",
    )
    assert (access.profile_ttl_seconds, access.profiles.ttl_seconds) == (120, 120)
    assert catalog.reading.bluesky_overlap_seconds == 3
    assert "abcd-efgh-ijkl-mnop" not in repr(catalog)
    assert "abcd-efgh-ijkl-mnop" in settings(bluesky_app_password="abcd-efgh-ijkl-mnop").secret_values()


def test_a_source_without_its_settings_is_a_bad_argument_that_says_what_to_set() -> None:
    with pytest.raises(InvalidArgument) as error:
        plan_collection([], 0, "mastodon", [], SourceCatalog(x=XAccess("AAAA-token")))
    assert error.value.violations == {
        "source": "source 'mastodon' is not configured on this collector (set TAGPULSE_MASTODON_BASE_URL); "
        "configured: sample, x"
    }
    with pytest.raises(InvalidArgument) as error:
        plan_collection([], 0, "myspace", [], SourceCatalog())
    assert "unknown source 'myspace'" in error.value.violations["source"]


def test_the_catalog_hides_the_credentials_in_its_repr() -> None:
    catalog = SourceCatalog(
        x=XAccess("AAAA-secret-token"), mastodon=MastodonAccess("https://m.example", "mastodon-secret")
    )
    assert "secret" not in repr(catalog)
