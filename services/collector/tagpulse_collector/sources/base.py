"""The one small interface every source implements, and the records it yields."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True)
class Author:
    source: str
    id: str
    username: str
    display_name: str
    followers_count: int
    # Free text as the user wrote it ("Ciudad de México", "Earth", "").
    location: str


@dataclass(frozen=True)
class CollectedPost:
    source: str
    id: str
    author_id: str
    text: str
    # As the platform reports it; "und" when unknown.
    language: str
    created_at: datetime
    # Case-folded, without '#'.
    hashtags: tuple[str, ...]
    # The country of the post's place, when the platform gives one.
    place_country_code: str | None = None


@dataclass(frozen=True)
class Page:
    """One response page: stored in one transaction, so a crash loses at most this page."""

    posts: Sequence[CollectedPost]
    authors: Sequence[Author] = field(default_factory=tuple)
    # Where the next page starts (X `next_token`); None on the last page.
    next_cursor: str | None = None


class Source(Protocol):
    """A platform's search by hashtag."""

    name: str

    def search(self, hashtag: str, max_posts: int, cursor: str | None = None) -> Iterator[Page]:
        """Pages of the newest posts with `hashtag`, at most `max_posts` in all, starting at
        `cursor` (a page's `next_cursor`) when resuming."""
        ...
