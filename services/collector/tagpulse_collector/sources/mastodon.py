"""Mastodon hashtag timelines (GET /api/v1/timelines/tag/:hashtag) on one instance.

Public, so no token is needed (one is sent when set). Pages of 40 newest-first, paged through
the `Link` header's rel="next" (`max_id`); the cursor of a page is that `max_id`. Followers
come from `account.followers_count`, the language from `language`, hashtags from
`tags[].name`. An Account has no location field, but many people put one in their profile
metadata ("Location: Berlin"): that is used when present.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import httpx

from tagpulse_collector.sources.api_client import USER_AGENT, ApiClient, HttpPolicy, HttpSearch
from tagpulse_collector.sources.base import Author, BeforePage, BillableReads, CollectedPost, Page
from tagpulse_collector.sources.errors import MalformedResponse
from tagpulse_collector.sources.rate_limits import mastodon_rate_limit
from tagpulse_collector.sources.x_payloads import newest_of, normalize_tags

SOURCE_NAME = "mastodon"
PAGE_SIZE = 40
# Profile metadata names that hold a location, folded.
LOCATION_FIELD_NAMES = frozenset(
    {"location", "where", "based in", "ubicación", "ubicacion", "localização", "standort", "ort", "lieu"}
)
_LINK = re.compile(r'<([^>]*)>\s*;\s*rel="?([^";]+)"?')


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("br", "p") and self.parts:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def html_to_text(html: str) -> str:
    """A status's HTML content as plain text."""
    parser = _Text()
    parser.feed(html)
    parser.close()
    return "".join(parser.parts).strip()


def next_max_id(link_header: str | None) -> str | None:
    """The `max_id` of the Link header's rel="next" URL."""
    for url, rel in _LINK.findall(link_header or ""):
        if rel == "next":
            values = parse_qs(urlsplit(url).query).get("max_id")
            return values[0] if values else None
    return None


def _location(account: Mapping[str, Any]) -> str:
    for profile_field in account.get("fields") or ():
        if (
            isinstance(profile_field, dict)
            and str(profile_field.get("name", "")).strip().casefold() in LOCATION_FIELD_NAMES
        ):
            return html_to_text(str(profile_field.get("value") or ""))
    return ""


def parse_status(status: Mapping[str, Any]) -> tuple[CollectedPost, Author]:
    """One Status with its Account; raises ValueError when it lacks what a post needs."""
    shown = status.get("reblog") if isinstance(status.get("reblog"), dict) else status
    assert isinstance(shown, dict)
    account = status.get("account")
    if not isinstance(account, dict) or not status.get("id") or not account.get("id"):
        raise ValueError("a status without id or account")
    followers = account.get("followers_count")
    author = Author(
        source=SOURCE_NAME,
        id=str(account["id"]),
        username=str(account.get("acct") or account.get("username") or ""),
        display_name=str(account.get("display_name") or ""),
        followers_count=followers if isinstance(followers, int) and not isinstance(followers, bool) else 0,
        location=_location(account),
    )
    tags = [str(t["name"]) for t in shown.get("tags") or () if isinstance(t, dict) and t.get("name")]
    language = status.get("language")
    created = status.get("created_at")
    if not isinstance(created, str):
        raise ValueError("a status without created_at")
    post = CollectedPost(
        source=SOURCE_NAME,
        id=str(status["id"]),
        author_id=author.id,
        text=html_to_text(str(shown.get("content") or "")),
        language=language if isinstance(language, str) and language else "und",
        created_at=datetime.fromisoformat(created),
        hashtags=normalize_tags(tags),
    )
    return post, author


def _timeline(body: object) -> list[Any]:
    if not isinstance(body, list):
        raise MalformedResponse("the timeline is not a JSON array")
    return body


@dataclass(frozen=True)
class MastodonAccess:
    """What reaching a Mastodon instance takes, and the one place its HTTP client is made: the
    hashtag timelines of a run and the public timeline of a stream both go through here."""

    base_url: str
    # Public timelines need none; sent when set.
    access_token: str | None = field(default=None, repr=False)
    policy: HttpPolicy = field(default_factory=HttpPolicy)

    def client(
        self, stop: threading.Event | None = None, transport: httpx.BaseTransport | None = None
    ) -> ApiClient:
        """Requests with retries, rate-limit waits and request figures (`ApiClient`)."""
        headers = {"User-Agent": USER_AGENT, "Accept": "application/json"}
        if self.access_token:
            headers["Authorization"] = f"Bearer {self.access_token}"
        return ApiClient(
            source=SOURCE_NAME,
            base_url=self.base_url.rstrip("/"),
            headers=headers,
            policy=self.policy,
            read_rate_limit=mastodon_rate_limit,
            stop=stop,
            transport=transport,
        )


class MastodonSource(HttpSearch):
    name = SOURCE_NAME

    def _pages(
        self,
        client: ApiClient,
        hashtag: str,
        max_posts: int,
        cursor: str | None,
        since_id: str | None,
        before_page: BeforePage,
    ) -> Iterator[Page]:
        remaining, max_id = max_posts, cursor
        path = f"/api/v1/timelines/tag/{quote(hashtag, safe='')}"
        while remaining > 0:
            limit = min(remaining, PAGE_SIZE)
            before_page(BillableReads(posts=limit, users=limit))
            params: dict[str, str | int] = {"limit": limit}
            if max_id:
                params["max_id"] = max_id
            # The Link header's next URL drops since_id: ask with it on every page.
            if since_id:
                params["since_id"] = since_id
            response = client.get(path, params)
            statuses = client.parsed(response, _timeline)
            posts: list[CollectedPost] = []
            authors: dict[str, Author] = {}
            problems: list[str] = []
            for status in statuses[:remaining]:
                try:
                    post, author = parse_status(status if isinstance(status, dict) else {})
                except ValueError as error:
                    problems.append(f"status skipped: {error}")
                    continue
                posts.append(post)
                authors[author.id] = author
            remaining -= len(posts)
            following = next_max_id(response.headers.get("link")) if statuses else None
            if following == max_id or remaining <= 0:
                following = None
            requests, errors = client.take_figures()
            yield Page(
                posts=posts,
                authors=list(authors.values()),
                next_cursor=following,
                newest_id=newest_of(p.id for p in posts),
                requests=requests,
                errors=(*errors, *problems),
            )
            if following is None:
                return
            max_id = following
