"""A fake Bluesky PDS serving the recorded XRPC responses (tests/fixtures/bluesky/).

- POST com.atproto.server.createSession: the recorded 200 (with fresh tokens: the recording's
  were blanked) for the fake's handle and app password, the recorded 401 otherwise.
  refreshSession trades a live refresh token for new tokens; `expire_access_tokens()` makes the
  live access tokens answer 400 ExpiredToken, as Bluesky does when one times out.
- GET app.bsky.feed.searchPosts: `q=#rstats` is the two recorded #rstats pages (2025-07-04,
  then 2024-03-01: 200 posts, newest first), `q=rstats` the plain-word page; paged by `limit`
  with an offset `cursor` as Bluesky's is ("100"), no cursor on the last page; `since` keeps the
  posts whose sort time (the earlier of createdAt and indexedAt) is at or after it. Each answer
  carries the recorded file's `ratelimit-*` headers.
- GET app.bsky.actor.getProfiles: the recorded profiles where there is one; for the other
  authors of the served posts (no recording has their profiles) a profile made from the
  author view in the search results with a follower count made up here (`followers_of`).
"""

from __future__ import annotations

import hashlib
import json
import secrets
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tests.support.fake_http import FakeApi, Request, Response

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "bluesky"
HANDLE = "tagpulse-test.bsky.social"
APP_PASSWORD = "abcd-efgh-ijkl-mnop"
HASHTAG_PAGES = (
    "atrrr/searchPosts_hashtag-rstats_limit100_2025-07-04.json",
    "atrrr/searchPosts_hashtag-rstats_limit100_2024-03-01.json",
)
WORD_PAGE = "atrrr/searchPosts_rstats_limit100_2025-07-04.json"
PROFILE_FILES = (
    "atrrr/getProfiles_25actors_2025-07-04.json",
    "bskyr/getProfiles_chriskenny_2025-05-19.json",
)
EXPIRED = {"error": "ExpiredToken", "message": "Token has expired"}
AUTH_MISSING = {"error": "AuthMissing", "message": "Authentication Required"}


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def recorded_headers(name: str) -> dict[str, str]:
    """The `ratelimit-*` headers recorded with a file (from its folder's `_responses.jsonl`)."""
    folder, file = name.split("/")
    for line in (FIXTURES / folder / "_responses.jsonl").read_text().splitlines():
        response = json.loads(line)
        if response["file"] == file:
            return {
                k.lower(): v
                for k, v in response["response_headers"].items()
                if k.lower().startswith("ratelimit")
            }
    raise KeyError(name)


def recorded_posts(*names: str) -> list[dict[str, Any]]:
    """The post views of recorded search pages, in their order, once each."""
    seen: dict[str, dict[str, Any]] = {}
    for name in names:
        for post in load(name)["posts"]:
            seen.setdefault(post["uri"], post)
    return list(seen.values())


def hashtag_posts() -> list[dict[str, Any]]:
    return recorded_posts(*HASHTAG_PAGES)


def recorded_profiles() -> dict[str, dict[str, Any]]:
    profiles: dict[str, dict[str, Any]] = {}
    for name in PROFILE_FILES:
        for profile in load(name)["profiles"]:
            profiles.setdefault(profile["did"], profile)
    return profiles


def followers_of(did: str) -> int:
    """The made-up follower count of an author without a recorded profile."""
    return int.from_bytes(hashlib.sha256(did.encode()).digest()[:4], "big") % 5000


def time_of(value: str) -> datetime:
    return datetime.fromisoformat(value).astimezone(UTC)


def sort_time(post: dict[str, Any]) -> datetime:
    created = time_of(post["record"]["createdAt"])
    return min(created, time_of(post["indexedAt"])) if post.get("indexedAt") else created


class FakeBluesky(FakeApi):
    def __init__(self) -> None:
        super().__init__()
        self.timelines = {
            "#rstats": (hashtag_posts(), recorded_headers(HASHTAG_PAGES[0])),
            "rstats": (recorded_posts(WORD_PAGE), recorded_headers(WORD_PAGE)),
        }
        self.profiles = recorded_profiles()
        for posts, _headers in self.timelines.values():
            for post in posts:
                author = post["author"]
                if author["did"] not in self.profiles:
                    self.profiles[author["did"]] = {**author, "followersCount": followers_of(author["did"])}
        # Authors whose profile getProfiles leaves out (deactivated accounts).
        self.gone: set[str] = set()
        self.tokens_lock = threading.Lock()
        self.access_tokens: set[str] = set()
        self.expired_tokens: set[str] = set()
        self.refresh_tokens: set[str] = set()
        # Every token handed out, for tests that look for them where they must not be.
        self.issued: list[str] = []

    # --- what tests look at ---------------------------------------------------------------

    def search_requests(self) -> list[Request]:
        return [r for r in self.requests if r.path.endswith("app.bsky.feed.searchPosts")]

    def profile_requests(self) -> list[Request]:
        return [r for r in self.requests if r.path.endswith("app.bsky.actor.getProfiles")]

    def session_requests(self) -> list[Request]:
        return [r for r in self.requests if r.path.startswith("/xrpc/com.atproto.server.")]

    def expire_access_tokens(self) -> None:
        with self.tokens_lock:
            self.expired_tokens |= self.access_tokens
            self.access_tokens = set()

    def followers(self, did: str) -> int:
        return int(self.profiles[did]["followersCount"])

    # --- the API ----------------------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        method = request.path.removeprefix("/xrpc/")
        if method == "com.atproto.server.createSession":
            return self._create_session(request)
        if method == "com.atproto.server.refreshSession":
            return self._refresh_session(request)
        refused = self._refused(request)
        if refused is not None:
            return refused
        if method == "app.bsky.feed.searchPosts":
            return self._search(request)
        if method == "app.bsky.actor.getProfiles":
            return self._profiles(request)
        return _json(404, {"error": "MethodNotImplemented", "message": "Method Not Implemented"})

    def _new_session(self) -> Response:
        access, refresh = f"access-{secrets.token_hex(12)}", f"refresh-{secrets.token_hex(12)}"
        with self.tokens_lock:
            self.access_tokens.add(access)
            self.refresh_tokens.add(refresh)
            self.issued += [access, refresh]
        body = load("bskyr/createSession_200_2025-05-22.json")
        body.update(handle=HANDLE, accessJwt=access, refreshJwt=refresh)
        return _json(200, body, recorded_headers("bskyr/createSession_200_2025-05-22.json"))

    def _create_session(self, request: Request) -> Response:
        given = json.loads(request.body or b"{}")
        if given.get("identifier") == HANDLE and given.get("password") == APP_PASSWORD:
            return self._new_session()
        return _json(401, load("bskyr/createSession_401_AuthenticationRequired_2025-05-22.json"))

    def _refresh_session(self, request: Request) -> Response:
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        with self.tokens_lock:
            live = token in self.refresh_tokens
            self.refresh_tokens.discard(token)
        return self._new_session() if live else _json(400, EXPIRED)

    def _refused(self, request: Request) -> Response | None:
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        with self.tokens_lock:
            if token in self.access_tokens:
                return None
            if token in self.expired_tokens:
                return _json(400, EXPIRED)
        return _json(401, AUTH_MISSING)

    def _search(self, request: Request) -> Response:
        posts, headers = self.timelines.get(request.query.get("q", ""), ([], {}))
        since = request.query.get("since")
        if since:
            posts = [p for p in posts if sort_time(p) >= time_of(since)]
        offset = int(request.query.get("cursor") or 0)
        limit = int(request.query.get("limit") or 25)
        body: dict[str, Any] = {"posts": posts[offset : offset + limit]}
        if offset + limit < len(posts):
            body["cursor"] = str(offset + limit)
        return _json(200, body, headers)

    def _profiles(self, request: Request) -> Response:
        actors = [value for name, value in request.params if name == "actors"]
        if len(actors) > 25:
            return _json(
                400, {"error": "InvalidRequest", "message": "actors must not have more than 25 elements"}
            )
        by_handle = {p["handle"]: p for p in self.profiles.values()}
        found = [self.profiles.get(actor) or by_handle.get(actor) for actor in actors]
        profiles = [p for p in found if p is not None and p["did"] not in self.gone]
        return _json(
            200,
            {"profiles": profiles},
            recorded_headers("atrrr/searchPosts_hashtag-rstats_limit100_2025-07-04.json"),
        )


def _json(status: int, body: object, headers: dict[str, str] | None = None) -> Response:
    return Response(status, json.dumps(body).encode(), dict(headers or {}))
