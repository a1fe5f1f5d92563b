"""Which sources a collector offers, which one an empty `source` means, and what a request may ask."""

from __future__ import annotations

import threading

import pytest

from tagpulse.errors import InvalidArgument
from tagpulse_collector.runs.plan import plan_collection
from tagpulse_collector.server import configured_sources, default_source
from tagpulse_collector.settings import CollectorSettings
from tagpulse_collector.sources.mastodon import MastodonSource
from tagpulse_collector.sources.x_api import XApiSource


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
    ],
)
def test_credentials_decide_the_sources_and_the_default(
    values: dict[str, object], sources: set[str], default: str
) -> None:
    configured = configured_sources(settings(**values), threading.Event())
    assert set(configured) == sources
    assert default_source(settings(**values)) == default
    assert plan_collection([], 0, "", [], configured=configured, default_source=default).source == default


def test_the_platform_sources_get_their_settings() -> None:
    configured = configured_sources(
        settings(
            x_bearer_token="AAAA-token",
            x_api_base_url="http://127.0.0.1:9/",
            x_include_retweets=True,
            mastodon_base_url="https://mastodon.example",
            source_attempts=7,
            rate_limit_max_wait_seconds=12,
        ),
        threading.Event(),
    )
    x, mastodon = configured["x"](), configured["mastodon"]()
    assert isinstance(x, XApiSource)
    assert isinstance(mastodon, MastodonSource)
    assert (x.base_url, x.include_retweets, x.policy.attempts) == ("http://127.0.0.1:9", True, 7)
    assert x.policy.rate_limit.max_wait_seconds == 12
    assert mastodon.base_url == "https://mastodon.example"


def test_a_source_without_its_settings_is_a_bad_argument_that_says_what_to_set() -> None:
    with pytest.raises(InvalidArgument) as error:
        plan_collection([], 0, "mastodon", [], configured=("sample", "x"))
    assert error.value.violations == {
        "source": "source 'mastodon' is not configured on this collector (set TAGPULSE_MASTODON_BASE_URL); "
        "configured: sample, x"
    }
    with pytest.raises(InvalidArgument) as error:
        plan_collection([], 0, "myspace", [], configured=("sample",))
    assert "unknown source 'myspace'" in error.value.violations["source"]
