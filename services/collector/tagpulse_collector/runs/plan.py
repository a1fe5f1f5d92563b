"""The check of a StartCollection request: what a run will collect, or every field that is wrong."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from tagpulse.errors import InvalidArgument
from tagpulse.hashtags import InvalidHashtag, normalize_hashtag
from tagpulse.money import to_micros
from tagpulse_collector.catalog import SourceCatalog

DEFAULT_MAX_POSTS_PER_HASHTAG = 100
MAX_POSTS_PER_HASHTAG = 10_000


# The largest per-run budget a request may set, in US dollars.
MAX_COST_USD = 1_000_000


@dataclass(frozen=True)
class CollectionPlan:
    source: str
    hashtags: tuple[str, ...]
    max_posts_per_hashtag: int
    # The run's own budget, in millionths of a US dollar; None: only the daily budget applies.
    max_cost_micros: int | None = None


def plan_collection(
    hashtags: Sequence[str],
    max_posts_per_hashtag: int,
    source: str,
    tracked: Sequence[str],
    catalog: SourceCatalog,
    max_cost_usd: float = 0.0,
) -> CollectionPlan:
    """Check a request; empty hashtags mean the tracked ones, 0 posts means the default,
    an empty source means the catalog's default source, a max cost of 0 means none."""
    problems: dict[str, str] = {}
    normalized: list[str] = []
    for index, raw in enumerate(hashtags):
        try:
            normalized.append(normalize_hashtag(raw))
        except InvalidHashtag as error:
            problems[f"hashtags[{index}]"] = str(error)
    if len(hashtags) > 100:
        problems["hashtags"] = "at most 100 hashtags per run"
    limit = max_posts_per_hashtag or DEFAULT_MAX_POSTS_PER_HASHTAG
    if not 1 <= limit <= MAX_POSTS_PER_HASHTAG:
        problems["max_posts_per_hashtag"] = f"must be between 1 and {MAX_POSTS_PER_HASHTAG}"
    source, source_problem = catalog.choose(source)
    if source_problem:
        problems["source"] = source_problem
    if not (math.isfinite(max_cost_usd) and 0 <= max_cost_usd <= MAX_COST_USD):
        problems["max_cost_usd"] = f"must be between 0 (no limit) and {MAX_COST_USD} US dollars"
    if problems:
        raise InvalidArgument(problems)
    chosen = tuple(dict.fromkeys(normalized)) or tuple(tracked)
    return CollectionPlan(
        source=source,
        hashtags=chosen,
        max_posts_per_hashtag=limit,
        max_cost_micros=to_micros(max_cost_usd) if max_cost_usd else None,
    )
