"""The one small interface every source implements, and the records it yields."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
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
class BillableReads:
    """Resources a platform bills for (X pay-per-use): posts returned (included ones too), user
    objects returned, and requests to the counts endpoint."""

    posts: int = 0
    users: int = 0
    counts_requests: int = 0


# What a source calls before each request, with the most its answer can bill: it raises (a
# `SourceError`) to stop the search before the request is sent.
BeforePage = Callable[[BillableReads], None]


def no_budget(_most: BillableReads) -> None:
    return None


@dataclass(frozen=True)
class Page:
    """One response page: stored in one transaction, so a crash loses at most this page."""

    posts: Sequence[CollectedPost]
    authors: Sequence[Author] = field(default_factory=tuple)
    # Where the next page starts (X `next_token`, Mastodon `max_id`); None on the last page.
    next_cursor: str | None = None
    # The newest post id of the whole result (the platform's `meta.newest_id`), so the next
    # run can ask only for newer posts. Only the first page's value matters.
    newest_id: str | None = None
    # API requests this page cost, retries and rate-limit waits included.
    requests: int = 0
    # Problems the platform reported without failing the request (X's partial errors in a 200)
    # and failed attempts that a retry recovered from, one line each.
    errors: Sequence[str] = field(default_factory=tuple)
    # What the platform bills for the response(s) of this page.
    billed: BillableReads = field(default_factory=BillableReads)


class Source(Protocol):
    """A platform's search by hashtag."""

    name: str

    def search(
        self,
        hashtag: str,
        max_posts: int,
        cursor: str | None = None,
        since_id: str | None = None,
        before_page: BeforePage = no_budget,
    ) -> Iterator[Page]:
        """Pages of the newest posts with `hashtag`, at most `max_posts` in all, starting at
        `cursor` (a page's `next_cursor`) when resuming, and only posts newer than `since_id`
        when given. Before each request to a platform it calls `before_page` with the most the
        answer can bill. Raises `sources.errors.SourceError` when it cannot go on."""
        ...
