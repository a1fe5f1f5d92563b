"""Planning a collection run (runs/plan.py): what a request may ask, and what an empty one means."""

from __future__ import annotations

import pytest

from tagpulse.errors import InvalidArgument
from tagpulse_collector.catalog import SourceCatalog
from tagpulse_collector.runs.plan import plan_collection

TRACKED = ["devops", "sre", "metrics"]
SAMPLE_ONLY = SourceCatalog()


@pytest.mark.parametrize(
    ("hashtags", "max_posts", "source", "fields"),
    [
        (["ok", "bad tag"], 0, "sample", {"hashtags[1]"}),
        ([], 10_001, "sample", {"max_posts_per_hashtag"}),
        ([], -5, "sample", {"max_posts_per_hashtag"}),
        ([], 0, "x", {"source"}),
        ([], 0, "myspace", {"source"}),
        (["#"], 20_000, "nope", {"hashtags[0]", "max_posts_per_hashtag", "source"}),
    ],
)
def test_plans_reject_bad_requests(
    hashtags: list[str], max_posts: int, source: str, fields: set[str]
) -> None:
    with pytest.raises(InvalidArgument) as error:
        plan_collection(hashtags, max_posts, source, TRACKED, SAMPLE_ONLY)
    assert set(error.value.violations) == fields


def test_plans_default_to_the_tracked_hashtags() -> None:
    plan = plan_collection([], 0, "", TRACKED, SAMPLE_ONLY)
    assert (plan.hashtags, plan.max_posts_per_hashtag, plan.source) == (tuple(TRACKED), 100, "sample")
    assert plan_collection(["#SRE", "sre", "Metrics"], 5, "SAMPLE", TRACKED, SAMPLE_ONLY).hashtags == (
        "sre",
        "metrics",
    )
