"""Bluesky (AT Protocol): hashtag search with an app password, and the authors' profiles.

- The session: `com.atproto.server.createSession` with the handle and an app password gives an
  access token and a refresh token; `refreshSession` renews them when the access token expires
  (an `ExpiredToken` answer). The session belongs to the collector, not to a run: Bluesky allows
  10 createSession calls a day per account. Neither token is ever logged or stored.
- The search: `app.bsky.feed.searchPosts` with `q=#tag`, `sort=latest`, `limit=100`, following
  `cursor` (the page's cursor is what a resumed run starts at); an incremental run asks with
  `since` = the newest stored post's time (`newest_id` of the last run: a time, not an id).
  `since` is inclusive, so the newest stored post comes back once and counts as a duplicate.
- A post's hashtags: its tag facets and `record.tags` (outline tags), case-folded. That is what
  `#tag` search matches: `#tag` typed as plain text without a facet is not a hashtag here (the
  recordings show such posts are not found by the search).
- Followers: search results carry none, so the authors' profiles are read with `getProfiles`
  (25 a call), and reused for `profile_ttl_seconds`. Profiles have no location field: a Bluesky
  post's country is unknown.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson

from tagpulse_collector.sources.api_client import (
    USER_AGENT,
    ApiClient,
    HttpPolicy,
    HttpSearch,
    Paging,
    Params,
)
from tagpulse_collector.sources.base import Author, BeforePage, BillableReads, CollectedPost, Page
from tagpulse_collector.sources.errors import MalformedResponse, SourceError
from tagpulse_collector.sources.rate_limits import bluesky_rate_limit
from tagpulse_collector.sources.x_payloads import normalize_tags

log = logging.getLogger("tagpulse.sources")

SOURCE_NAME = "bluesky"
CREATE_SESSION = "/xrpc/com.atproto.server.createSession"
REFRESH_SESSION = "/xrpc/com.atproto.server.refreshSession"
SEARCH_POSTS = "/xrpc/app.bsky.feed.searchPosts"
GET_PROFILES = "/xrpc/app.bsky.actor.getProfiles"
POST_COLLECTION = "app.bsky.feed.post"
TAG_FACET = "app.bsky.richtext.facet#tag"
# searchPosts returns at most 100 posts a call, getProfiles at most 25 profiles.
PAGE_SIZE = 100
PROFILES_PER_CALL = 25
# XRPC errors that a renewed session fixes.
SESSION_ERRORS = frozenset({"ExpiredToken", "InvalidToken"})
_FRACTION = re.compile(r"(\.\d{6})\d+")


def parse_time(value: object) -> datetime:
    """An AT Protocol datetime (offsets and up to nanoseconds occur) as an aware UTC datetime;
    raises ValueError."""
    if not isinstance(value, str) or not value:
        raise ValueError("no datetime")
    instant = datetime.fromisoformat(_FRACTION.sub(r"\1", value))
    if instant.tzinfo is None:
        raise ValueError(f"a datetime without a time zone: {value!r}")
    return instant.astimezone(UTC)


def format_time(instant: datetime) -> str:
    """The form `since` is sent in, and kept as a run's newest_id: UTC, microseconds."""
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def hashtags_of(record: Mapping[str, Any]) -> tuple[str, ...]:
    """The tag facets' tags, then `record.tags`, case-folded, once each."""
    tags: list[str] = []
    for facet in record.get("facets") or ():
        if not isinstance(facet, dict):
            continue
        for feature in facet.get("features") or ():
            if isinstance(feature, dict) and feature.get("$type") == TAG_FACET and feature.get("tag"):
                tags.append(str(feature["tag"]))
    tags.extend(str(tag) for tag in record.get("tags") or () if isinstance(tag, str) and tag)
    return normalize_tags(tags)


def language_of(record: Mapping[str, Any]) -> str:
    """The first of `record.langs`, its primary subtag ("en-US" → "en", as X and Mastodon report
    languages); "und" when the post declares none."""
    langs = record.get("langs")
    if isinstance(langs, list) and langs and isinstance(langs[0], str) and langs[0].strip():
        return langs[0].strip().split("-")[0].casefold()
    return "und"


def post_uri(did: str, rkey: str) -> str:
    """A post's identity: its at:// URI."""
    return f"at://{did}/{POST_COLLECTION}/{rkey}"


def post_of(uri: str, did: str, record: Mapping[str, Any]) -> CollectedPost:
    """A post record (searchPosts' `record`, Jetstream's `commit.record`); raises ValueError."""
    if not uri or not did:
        raise ValueError("a post without uri or author")
    return CollectedPost(
        source=SOURCE_NAME,
        id=uri,
        author_id=did,
        text=str(record.get("text") or ""),
        language=language_of(record),
        created_at=parse_time(record.get("createdAt")),
        hashtags=hashtags_of(record),
    )


def author_of(view: Mapping[str, Any]) -> Author:
    """A profile view (basic or detailed); followers are 0 where the view has none."""
    followers = view.get("followersCount")
    return Author(
        source=SOURCE_NAME,
        id=str(view.get("did") or ""),
        username=str(view.get("handle") or ""),
        display_name=str(view.get("displayName") or "").strip(),
        followers_count=followers if isinstance(followers, int) and not isinstance(followers, bool) else 0,
        # Bluesky profiles have no location; the free-text description is no location.
        location="",
    )


def sort_time(view: Mapping[str, Any], created_at: datetime) -> datetime:
    """What `since` and `sort=latest` compare: the earlier of createdAt and indexedAt (a post
    dated in the future sorts at the time Bluesky indexed it)."""
    try:
        return min(created_at, parse_time(view.get("indexedAt")))
    except ValueError:
        return created_at


@dataclass(frozen=True)
class SearchPage:
    posts: list[CollectedPost]
    # The author view of each post's author, by DID.
    authors: dict[str, Author]
    cursor: str | None
    newest: datetime | None
    errors: list[str]


def parse_search(body: object) -> SearchPage:
    """A searchPosts response; raises MalformedResponse when it is not one."""
    if not isinstance(body, dict) or not isinstance(body.get("posts"), list):
        raise MalformedResponse("no `posts` array in the search response")
    posts: list[CollectedPost] = []
    authors: dict[str, Author] = {}
    errors: list[str] = []
    newest: datetime | None = None
    for view in body["posts"]:
        try:
            if not isinstance(view, dict) or not isinstance(view.get("author"), dict):
                raise ValueError("not a post view")
            record = view.get("record") if isinstance(view.get("record"), dict) else {}
            assert isinstance(record, dict)
            post = post_of(str(view.get("uri") or ""), str(view["author"].get("did") or ""), record)
        except ValueError as error:
            errors.append(f"post skipped: {error}")
            continue
        posts.append(post)
        authors.setdefault(post.author_id, author_of(view["author"]))
        sorted_at = sort_time(view, post.created_at)
        newest = sorted_at if newest is None else max(newest, sorted_at)
    cursor = body.get("cursor")
    return SearchPage(posts, authors, str(cursor) if cursor else None, newest, errors)


class ProfileCache:
    """Profiles read recently, by DID, shared by every run of the collector: an author's
    follower count is read at most once per `ttl_seconds`."""

    def __init__(self, ttl_seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl_seconds = ttl_seconds
        self.clock = clock
        self._lock = threading.Lock()
        self._profiles: dict[str, tuple[float, Author]] = {}

    def fresh(self, dids: Iterable[str]) -> dict[str, Author]:
        now = self.clock()
        with self._lock:
            found = {did: self._profiles.get(did) for did in dids}
        return {did: entry[1] for did, entry in found.items() if entry and now - entry[0] < self.ttl_seconds}

    def keep(self, authors: Iterable[Author]) -> None:
        now = self.clock()
        with self._lock:
            # Entries past their time are dropped as new ones come, so the cache stays small.
            self._profiles = {
                did: entry for did, entry in self._profiles.items() if now - entry[0] < self.ttl_seconds
            }
            self._profiles.update((author.id, (now, author)) for author in authors)


class Session:
    """The account's access and refresh tokens (never in a log, a repr or the database)."""

    def __init__(self, handle: str, app_password: str) -> None:
        self.handle = handle
        self._app_password = app_password
        self._lock = threading.Lock()
        self._access: str | None = None
        self._refresh: str | None = None

    def __repr__(self) -> str:
        return f"Session(handle={self.handle!r})"

    def authorize(self, client: ApiClient) -> str:
        """Give the client the current access token (creating the session when there is none);
        returns it, for `renew` to tell whether another thread renewed it already."""
        with self._lock:
            if self._access is None:
                self._create(client)
            assert self._access is not None
            client.client.headers["Authorization"] = f"Bearer {self._access}"
            return self._access

    def renew(self, client: ApiClient, stale: str) -> None:
        """The access token `stale` was refused as expired: refresh the session (or create a new
        one when the refresh token is spent too), unless another thread did already."""
        with self._lock:
            if self._access == stale:
                self._refreshed(client)
            assert self._access is not None
            client.client.headers["Authorization"] = f"Bearer {self._access}"

    def _create(self, client: ApiClient) -> None:
        response = client.request(
            "POST", CREATE_SESSION, json={"identifier": self.handle, "password": self._app_password}
        )
        self._keep(response)
        log.info("bluesky session created", extra={"handle": self.handle})

    def _refreshed(self, client: ApiClient) -> None:
        if self._refresh is not None:
            try:
                response = client.request(
                    "POST", REFRESH_SESSION, headers={"Authorization": f"Bearer {self._refresh}"}
                )
            except SourceError as error:
                if error.problem.get("error") not in SESSION_ERRORS:
                    raise
                client.recover(error)
            else:
                self._keep(response)
                log.info("bluesky session refreshed", extra={"handle": self.handle})
                return
        self._create(client)

    def _keep(self, response: httpx.Response) -> None:
        try:
            body = orjson.loads(response.content)
            access, refresh = body["accessJwt"], body["refreshJwt"]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            raise MalformedResponse("the session answer has no tokens") from None
        if not isinstance(access, str) or not isinstance(refresh, str) or not access or not refresh:
            raise MalformedResponse("the session answer has no tokens")
        self._access, self._refresh = access, refresh


@dataclass(frozen=True)
class BlueskyAccess:
    """What reaching Bluesky takes (the account's PDS, which serves the AppView's reads too), and
    what the collector keeps of it between runs: the session and the profiles read recently."""

    handle: str
    app_password: str = field(repr=False)
    base_url: str = "https://bsky.social"
    policy: HttpPolicy = field(default_factory=HttpPolicy)
    profile_ttl_seconds: float = 6 * 3600.0
    # The Jetstream instance keyword streams read (public: it needs no session).
    jetstream_url: str = "wss://jetstream2.us-east.bsky.network/subscribe"
    session: Session = field(init=False, repr=False, compare=False)
    profiles: ProfileCache = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "session", Session(self.handle, self.app_password))
        object.__setattr__(self, "profiles", ProfileCache(self.profile_ttl_seconds))

    def client(
        self, stop: threading.Event | None = None, transport: httpx.BaseTransport | None = None
    ) -> ApiClient:
        """Requests with retries, rate-limit waits and request figures (`ApiClient`)."""
        return ApiClient(
            source=SOURCE_NAME,
            base_url=self.base_url.rstrip("/"),
            headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
            policy=self.policy,
            read_rate_limit=bluesky_rate_limit,
            stop=stop,
            transport=transport,
        )

    def get(self, client: ApiClient, path: str, params: Params) -> httpx.Response:
        """A GET in the session, renewed once when Bluesky says its token expired."""
        token = self.session.authorize(client)
        try:
            return client.get(path, params)
        except SourceError as error:
            if error.problem.get("error") not in SESSION_ERRORS:
                raise
            client.recover(error)
        self.session.renew(client, token)
        return client.get(path, params)

    def authors(self, client: ApiClient, seen: Mapping[str, Author]) -> tuple[list[Author], list[str]]:
        """The profiles of the authors `seen` (their views in the search results), read with
        getProfiles unless read recently; an author whose profile does not come back (a
        deactivated account) keeps the view it had, without followers. Also the problems met."""
        known = self.profiles.fresh(seen)
        missing = [did for did in seen if did not in known]
        read: list[Author] = []
        problems: list[str] = []
        for first in range(0, len(missing), PROFILES_PER_CALL):
            chunk = missing[first : first + PROFILES_PER_CALL]
            body = client.parsed(self.get(client, GET_PROFILES, {"actors": chunk}), _json_object)
            for view in body.get("profiles") or ():
                if isinstance(view, dict) and view.get("did") in seen:
                    read.append(author_of(view))
        self.profiles.keep(read)
        known.update((author.id, author) for author in read)
        for did in missing:
            if did not in known:
                problems.append(f"no profile for {did}: kept without followers")
        return [known.get(did, view) for did, view in seen.items()], problems


def _json_object(body: object) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise MalformedResponse("not a JSON object")
    return body


class BlueskySource(HttpSearch):
    name = SOURCE_NAME

    def __init__(
        self,
        access: BlueskyAccess,
        stop: threading.Event | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        super().__init__(access, stop, transport)
        self.bluesky = access

    def _pages(
        self,
        client: ApiClient,
        hashtag: str,
        max_posts: int,
        cursor: str | None,
        since_id: str | None,
        before_page: BeforePage,
    ) -> Iterator[Page]:
        paging = Paging(max_posts, cursor)
        while paging.remaining > 0:
            limit = min(paging.remaining, PAGE_SIZE)
            # Bluesky bills nothing: the check only keeps the interface's promise.
            before_page(BillableReads(posts=limit, users=limit))
            params: dict[str, str | int | Sequence[str]] = {
                "q": f"#{hashtag}",
                "sort": "latest",
                "limit": limit,
            }
            if since_id:
                params["since"] = since_id
            if paging.position:
                params["cursor"] = paging.position
            parsed = client.parsed(self.bluesky.get(client, SEARCH_POSTS, params), parse_search)
            posts = parsed.posts[: paging.remaining]
            following = paging.after_page(len(posts), parsed.cursor)
            seen = {p.author_id: parsed.authors[p.author_id] for p in posts}
            authors, problems = self.bluesky.authors(client, seen)
            requests, errors = client.take_figures()
            yield Page(
                posts=posts,
                authors=authors,
                next_cursor=following,
                newest_id=format_time(parsed.newest) if parsed.newest else None,
                requests=requests,
                errors=(*errors, *parsed.errors, *problems),
            )
            if following is None:
                return
