"""A fake X API v2 recent search serving real recorded pages (tests/fixtures/x/).

GET /2/tweets/search/recent?query=#tag[ -is:retweet]&next_token=…&since_id=… answers like
the real endpoint, from the recorded pages of that hashtag:

- the recorded `meta.next_token` of page n leads to page n+1; the last page's is removed, so
  the result ends there;
- `-is:retweet` drops retweets from `data` (and recounts `meta`);
- `since_id` keeps only newer tweets; a page that lost any tweet ends the result, and an
  empty result is `{"meta": {"result_count": 0}}`, with no `data` key;
- `includes` holds what the request's `expansions` ask for, for the tweets served: their
  authors (`author_id`) and the posts they reference (`referenced_tweets.id`);
- a wrong bearer token is a 401 with X's problem body; rate-limit headers come with every
  answer;
- `billed` adds up what X would bill for the answers: posts in `data` and `includes.tweets`,
  user objects in `includes.users`.

GET /2/tweets/counts/recent?query=#tag[ -is:retweet]&granularity=hour answers with the recorded
counts served for that hashtag (`RECORDED_COUNTS`; a hashtag without one counts nothing):

- any other query or granularity is X's 400 invalid-request, so a test learns that the
  collector asked for something else than the search's own query by the hour;
- `start_time` drops the buckets that end before it (a `since_id` cannot be applied to recorded
  buckets: it is only recorded with the request);
- `counts_page_size` splits the buckets into pages linked by `meta.next_token`, as X may.

The batch compliance jobs (/2/compliance/jobs and the storage URLs they hand out) are
`tests.support.fake_x_compliance`, reached through `compliance`.
"""

from __future__ import annotations

import copy
import functools
import json
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tests.support.fake_http import FakeApi, Fault, Request, Response
from tests.support.fake_x_compliance import DOWNLOAD_PREFIX, JOBS_PATH, UPLOAD_PREFIX, FakeCompliance

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "x"
# The recordings served per hashtag (BLM's five pages were a keyword search; served as a tag).
RECORDED_SEARCHES = {
    "brexit": "brexit.jsonl",
    "kpop": "kpop.jsonl",
    "blacklivesmatter": "blacklivesmatter.jsonl",
}
# The recorded counts served per hashtag: the recordings counted `dogs` (twarc-csv) and `Tweepy`
# (tweepy's cassette), served as the counts of these tags.
RECORDED_COUNTS = {"brexit": "counts.jsonl", "kpop": "tweepy_counts_recent.json"}
SEARCH_PATH = "/2/tweets/search/recent"
COUNTS_PATH = "/2/tweets/counts/recent"
UNAUTHORIZED = {"title": "Unauthorized", "type": "about:blank", "status": 401, "detail": "Unauthorized"}
TOO_MANY_REQUESTS = {
    "title": "Too Many Requests",
    "detail": "Too Many Requests",
    "type": "about:blank",
    "status": 429,
}
USAGE_CAPPED = {
    "title": "UsageCapExceeded",
    "detail": "Usage cap exceeded: Monthly product cap",
    "type": "https://api.twitter.com/2/problems/usage-capped",
    "period": "Monthly",
    "scope": "Product",
}


def load_pages(name: str) -> list[dict[str, Any]]:
    """The recorded response pages of a fixture file, as JSON objects (a fresh copy)."""
    return copy.deepcopy(_recorded(name))


@functools.cache
def _recorded(name: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (FIXTURES / name).read_text().splitlines() if line.strip()]


def load_counts(name: str) -> dict[str, Any]:
    """The recorded counts response of a fixture file (its body, without `__twarc`), a fresh copy."""
    return copy.deepcopy(_recorded_counts(name))


@functools.cache
def _recorded_counts(name: str) -> dict[str, Any]:
    if name.endswith(".jsonl"):
        body = dict(_recorded(name)[0])
        body.pop("__twarc", None)
        return body
    # A response the shared fixture set decoded from a tweepy cassette: {uri, status, headers, body}.
    recorded: dict[str, Any] = json.loads((FIXTURES / name).read_text())["body"]
    return recorded


def bucket_instant(text: str) -> datetime:
    """A recorded bucket's start or end ("2021-10-16T18:21:34.000Z") as an aware UTC datetime."""
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.000Z").replace(tzinfo=UTC)


def invalid_request(parameter: str, value: str, message: str) -> bytes:
    """X's 400 for a bad parameter (the shape of the recorded delete_error.json)."""
    return json.dumps(
        {
            "errors": [{"parameters": {parameter: [value]}, "message": message}],
            "title": "Invalid Request",
            "detail": "One or more parameters to your request was invalid.",
            "type": "https://api.twitter.com/2/problems/invalid-request",
        }
    ).encode()


def is_retweet(tweet: Mapping[str, Any]) -> bool:
    return any(r.get("type") == "retweeted" for r in tweet.get("referenced_tweets", ()))


def hashtag_of(query: str) -> str:
    return next((word[1:].casefold() for word in query.split() if word.startswith("#")), "")


def page_number(request: Request, pages: list[dict[str, Any]]) -> int:
    """1-based number of the page a request asks for (by its next_token)."""
    token = request.query.get("next_token")
    if not token:
        return 1
    for number, page in enumerate(pages[:-1], 1):
        if page.get("meta", {}).get("next_token") == token:
            return number + 1
    return 0


class FakeXApi(FakeApi):
    def __init__(
        self,
        bearer_token: str,
        searches: Mapping[str, str] = RECORDED_SEARCHES,
        counts: Mapping[str, str] = RECORDED_COUNTS,
    ) -> None:
        super().__init__()
        self.bearer_token = bearer_token
        # Read-only: every answer is built from a deep copy.
        self.pages = {tag: _recorded(name) for tag, name in searches.items()}
        self.counts = {tag: _recorded_counts(name) for tag, name in counts.items()}
        # Buckets per counts page (None: all of them in one, as recorded).
        self.counts_page_size: int | None = None
        self.remaining = 450
        self.billed = {"posts": 0, "users": 0}
        self.compliance = FakeCompliance(self.base_url)

    def rate_limit_headers(self, remaining: int | None = None, reset_in: int = 900) -> dict[str, str]:
        return {
            "x-rate-limit-limit": "450",
            "x-rate-limit-remaining": str(self.remaining if remaining is None else remaining),
            "x-rate-limit-reset": str(int(time.time()) + reset_in),
        }

    def search_requests(self, hashtag: str | None = None) -> list[Request]:
        return [
            r
            for r in self.requests
            if r.path == SEARCH_PATH and (hashtag is None or hashtag_of(r.query.get("query", "")) == hashtag)
        ]

    def counts_requests(self, hashtag: str | None = None) -> list[Request]:
        return [
            r
            for r in self.requests
            if r.path == COUNTS_PATH and (hashtag is None or hashtag_of(r.query.get("query", "")) == hashtag)
        ]

    def on_page(self, number: int, hashtag: str) -> Callable[[Request], bool]:
        """A fault match: the requests for page `number` of `hashtag`."""

        def match(request: Request) -> bool:
            return (
                request.path == SEARCH_PATH
                and hashtag_of(request.query.get("query", "")) == hashtag
                and page_number(request, self.pages.get(hashtag, [])) == number
            )

        return match

    def handle(self, request: Request) -> Response:
        if request.path.startswith((UPLOAD_PREFIX, DOWNLOAD_PREFIX)):
            return self.compliance.handle_storage(request)
        compliance = request.path == JOBS_PATH or request.path.startswith(JOBS_PATH + "/")
        if request.path not in (SEARCH_PATH, COUNTS_PATH) and not compliance:
            return Response(404, b'{"title": "Not Found Error", "type": "about:blank", "status": 404}')
        if request.headers.get("authorization") != f"Bearer {self.bearer_token}":
            return Response(401, json.dumps(UNAUTHORIZED).encode(), self.rate_limit_headers())
        self.remaining = max(self.remaining - 1, 0)
        if compliance:
            return self.compliance.handle_api(request)
        if request.path == COUNTS_PATH:
            return self.handle_counts(request)
        query = request.query.get("query", "")
        pages = self.pages.get(hashtag_of(query), [])
        number = page_number(request, pages)
        if not 1 <= number <= len(pages):
            return Response(200, b'{"meta": {"result_count": 0}}', self.rate_limit_headers())
        page = copy.deepcopy(pages[number - 1])
        page.pop("__twarc", None)
        meta = page.setdefault("meta", {})
        data = list(page.get("data", []))
        if "-is:retweet" in query:
            data = [t for t in data if not is_retweet(t)]
        since_id = request.query.get("since_id")
        if since_id:
            newer = [t for t in data if int(t["id"]) > int(since_id)]
            if len(newer) < len(data):
                meta.pop("next_token", None)
            data = newer
        data = data[: int(request.query.get("max_results", "100"))]
        if number == len(pages):
            meta.pop("next_token", None)
        if not data:
            body: dict[str, Any] = {"meta": {"result_count": 0}}
        else:
            ids = [t["id"] for t in data]
            page["data"] = data
            page["includes"] = expanded(page.get("includes", {}), data, request.query.get("expansions", ""))
            self.billed["posts"] += len(data) + len(page["includes"].get("tweets", []))
            self.billed["users"] += len(page["includes"].get("users", []))
            meta.update(
                result_count=len(data),
                newest_id=max(ids, key=int),
                oldest_id=min(ids, key=int),
            )
            body = page
        return Response(200, json.dumps(body).encode(), self.rate_limit_headers())

    def handle_counts(self, request: Request) -> Response:
        query = request.query.get("query", "")
        hashtag = hashtag_of(query)
        if not hashtag or query not in (f"#{hashtag}", f"#{hashtag} -is:retweet"):
            return Response(
                400, invalid_request("query", query, "not the search's query"), self.rate_limit_headers()
            )
        granularity = request.query.get("granularity", "hour")
        if granularity != "hour":
            message = "the collector asks for hours"
            return Response(
                400, invalid_request("granularity", granularity, message), self.rate_limit_headers()
            )
        recorded = self.counts.get(hashtag)
        buckets = list(recorded["data"]) if recorded is not None else []
        start_time = request.query.get("start_time")
        if start_time:
            since = datetime.fromisoformat(start_time)
            buckets = [b for b in buckets if datetime.fromisoformat(b["end"]) > since]
        size = self.counts_page_size or max(len(buckets), 1)
        token = request.query.get("next_token", "")
        first = int(token.removeprefix("counts-")) if token.startswith("counts-") else 0
        page = buckets[first : first + size]
        meta: dict[str, Any] = {"total_tweet_count": sum(b["tweet_count"] for b in page)}
        if first + size < len(buckets):
            meta["next_token"] = f"counts-{first + size}"
        body: dict[str, Any] = {"data": page, "meta": meta} if page else {"meta": meta}
        return Response(200, json.dumps(body).encode(), self.rate_limit_headers())


def expanded(includes: Mapping[str, Any], tweets: list[dict[str, Any]], expansions: str) -> dict[str, Any]:
    """The recorded `includes` cut down to what `expansions` bring for `tweets`."""
    asked = set(expansions.split(","))
    kept = dict(includes)
    authors = {t.get("author_id") for t in tweets} if "author_id" in asked else set()
    kept["users"] = [u for u in includes.get("users", []) if u.get("id") in authors]
    referenced = {r["id"] for t in tweets for r in t.get("referenced_tweets", [])}
    wanted = referenced if "referenced_tweets.id" in asked else set()
    kept["tweets"] = [t for t in includes.get("tweets", []) if t.get("id") in wanted]
    return {key: value for key, value in kept.items() if value}


def rate_limited(reset_in: int = 0, **fault: Any) -> Fault:
    """A 429 whose window resets `reset_in` seconds from now."""
    return Fault(
        status=429,
        body=json.dumps(TOO_MANY_REQUESTS).encode(),
        headers={
            "x-rate-limit-limit": "450",
            "x-rate-limit-remaining": "0",
            "x-rate-limit-reset": str(int(time.time()) + reset_in),
        },
        **fault,
    )


# X's pay-per-use answer when the credits are spent. No response of it is recorded (the
# recordings predate pay-per-use): the status is HTTP's 402 Payment Required, the problem's title
# is the "CreditsDepleted" that API users report, in the shape of X's other problems.
CREDITS_DEPLETED = {
    "title": "CreditsDepleted",
    "detail": "Your enrolled account does not have any credits to fulfill this request.",
    "type": "https://api.x.com/2/problems/credits-depleted",
    "status": 402,
}


def credits_depleted(**fault: Any) -> Fault:
    return Fault(status=402, body=json.dumps(CREDITS_DEPLETED).encode(), **fault)


def usage_capped(**fault: Any) -> Fault:
    return Fault(status=429, body=json.dumps(USAGE_CAPPED).encode(), **fault)
