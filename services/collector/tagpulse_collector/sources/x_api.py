"""X API v2 recent search (GET /2/tweets/search/recent) by hashtag.

Pages of 100 newest-first, following `meta.next_token` until `max_posts` or the end. The
cursor a page hands back is its `next_token`, so a killed run resumes at the next page with
the same query; `since_id` limits a run to posts newer than the last one stored.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import orjson

from tagpulse_collector.sources.api_client import (
    USER_AGENT,
    ApiClient,
    HttpPolicy,
    HttpSearch,
    Paging,
    problem_text,
)
from tagpulse_collector.sources.base import BeforePage, BillableReads, Page
from tagpulse_collector.sources.errors import MalformedResponse, RequestRejected
from tagpulse_collector.sources.rate_limits import x_rate_limit
from tagpulse_collector.sources.x_payloads import SOURCE_NAME, parse_page

log = logging.getLogger("tagpulse.sources")

SEARCH_PATH = "/2/tweets/search/recent"
TWEET_FIELDS = "created_at,lang,author_id,entities,geo,public_metrics,referenced_tweets"
# `referenced_tweets.id` brings the retweeted posts (a retweet's hashtags are in them), and X
# bills every post it returns: ask for them only when retweets are collected.
EXPANSIONS = "author_id,geo.place_id,referenced_tweets.id"
EXPANSIONS_WITHOUT_RETWEETS = "author_id,geo.place_id"
# Posts `includes.tweets` can hold per post of `data` with the expansion: a post can quote one
# post and reply to another.
MAX_REFERENCED_PER_POST = 2
USER_FIELDS = "username,name,public_metrics,location,verified"
PLACE_FIELDS = "country_code,full_name"
# The endpoint accepts 10–100 results per request.
MIN_RESULTS, MAX_RESULTS = 10, 100


def rejects_since_id(error: RequestRejected) -> bool:
    """X's 400 for a since_id outside the 7-day window of recent search."""
    return any(
        "since_id" in (e.get("parameters") or {})
        for e in error.problem.get("errors", [])
        if isinstance(e, dict)
    )


def search_query(hashtag: str, include_retweets: bool) -> str:
    """`#tag -is:retweet`: originals, replies and quotes; with retweets, just `#tag`."""
    return f"#{hashtag}" if include_retweets else f"#{hashtag} -is:retweet"


def is_usage_cap(response: httpx.Response) -> bool:
    """A 429 whose problem says a usage cap is spent (type …/usage-capped, UsageCapExceeded)."""
    text = problem_text(response)
    return "usage-capped" in text or "usagecapexceeded" in text or "usage cap" in text


@dataclass(frozen=True)
class XAccess:
    """What reaching the X API takes, and the one place its HTTP clients are made: recent search
    and the filtered stream's rules and connection all go through here."""

    bearer_token: str = field(repr=False)
    base_url: str = "https://api.x.com"
    policy: HttpPolicy = field(default_factory=HttpPolicy)

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.bearer_token}", "User-Agent": USER_AGENT}

    def client(
        self, stop: threading.Event | None = None, transport: httpx.BaseTransport | None = None
    ) -> ApiClient:
        """Requests with retries, rate-limit waits and request figures (`ApiClient`)."""
        return ApiClient(
            source=SOURCE_NAME,
            base_url=self.base_url.rstrip("/"),
            headers=self._headers(),
            policy=self.policy,
            read_rate_limit=x_rate_limit,
            is_usage_cap=is_usage_cap,
            stop=stop,
            transport=transport,
        )

    def streaming_client(
        self, read_timeout_seconds: float, transport: httpx.BaseTransport | None = None
    ) -> httpx.Client:
        """A plain client for the long-lived stream connection: a read that waits longer than
        `read_timeout_seconds` means the connection is dead."""
        return httpx.Client(
            base_url=self.base_url.rstrip("/"),
            headers=self._headers(),
            timeout=httpx.Timeout(self.policy.timeout_seconds, read=read_timeout_seconds),
            transport=transport,
            follow_redirects=False,
        )

    def storage_client(self, transport: httpx.BaseTransport | None = None) -> httpx.Client:
        """A plain client for the pre-signed upload and download URLs of compliance jobs: they are
        X's cloud storage and carry their own signature, so the bearer token is not sent there."""
        return httpx.Client(
            headers={"User-Agent": USER_AGENT},
            timeout=httpx.Timeout(self.policy.timeout_seconds, read=300.0),
            transport=transport,
            follow_redirects=False,
        )


class XApiSource(HttpSearch):
    name = SOURCE_NAME

    def __init__(
        self,
        access: XAccess,
        include_retweets: bool = False,
        stop: threading.Event | None = None,
        transport: httpx.BaseTransport | None = None,
        counts_refresh_minutes: int = 0,
    ) -> None:
        super().__init__(access, stop, transport)
        self.x_access = access
        self.include_retweets = include_retweets
        # How old a hashtag's stored hourly counts may get before a run that collects it fetches
        # them again (`counts.refresh_x_counts`); 0: never fetched.
        self.counts_refresh_minutes = counts_refresh_minutes

    def most_billed(self, max_results: int) -> BillableReads:
        """The most one search request asking for `max_results` posts can bill."""
        referenced = max_results * MAX_REFERENCED_PER_POST if self.include_retweets else 0
        return BillableReads(posts=max_results + referenced, users=max_results)

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
            max_results = min(max(paging.remaining, MIN_RESULTS), MAX_RESULTS)
            before_page(self.most_billed(max_results))
            params: dict[str, str | int] = {
                "query": search_query(hashtag, self.include_retweets),
                "max_results": max_results,
                "tweet.fields": TWEET_FIELDS,
                "expansions": EXPANSIONS if self.include_retweets else EXPANSIONS_WITHOUT_RETWEETS,
                "user.fields": USER_FIELDS,
                "place.fields": PLACE_FIELDS,
            }
            if since_id:
                params["since_id"] = since_id
            if paging.position:
                params["next_token"] = paging.position
            try:
                response = client.get(SEARCH_PATH, params)
            except RequestRejected as error:
                if not (since_id and rejects_since_id(error)):
                    raise
                # The last collection is older than the endpoint's 7 days: everything it can
                # return is newer anyway. Ask again without since_id.
                log.info(
                    "since_id is outside the search window; asking without it", extra={"hashtag": hashtag}
                )
                client.recover(error)
                since_id = None
                continue
            try:
                parsed = parse_page(orjson.loads(response.content))
            except (orjson.JSONDecodeError, MalformedResponse) as error:
                requests, errors = client.take_figures()
                raise MalformedResponse(
                    f"malformed response body ({error})", requests, len(errors) + 1
                ) from None
            posts = parsed.posts[: paging.remaining]
            next_token = paging.after_page(len(posts), parsed.next_token)
            requests, errors = client.take_figures()
            authors = {p.author_id for p in posts}
            yield Page(
                posts=posts,
                authors=[a for a in parsed.authors if a.id in authors],
                next_cursor=next_token,
                newest_id=parsed.newest_id,
                requests=requests,
                errors=(*errors, *parsed.errors),
                billed=parsed.billed,
            )
            if next_token is None:
                return
