"""Schemathesis hooks for tests/e2e/test_openapi_fuzz.py (loaded through SCHEMATHESIS_HOOKS).

They bound the side effects of the mutating operations without hiding any input from the
services' validation: a collection run asks for at most a few posts per hashtag, and for a
few hashtags. Out-of-range values are left alone (the services must refuse them).
"""

from __future__ import annotations

from typing import Any

import schemathesis

MAX_POSTS = 5
MAX_HASHTAGS = 3


@schemathesis.hook
def before_call(context: schemathesis.HookContext, case: schemathesis.Case, kwargs: dict[str, Any]) -> None:
    operation = context.operation
    if operation is None or (operation.method.upper(), operation.path) != ("POST", "/v1/collections"):
        return
    body = case.body
    if not isinstance(body, dict):
        return
    posts = body.get("maxPostsPerHashtag")
    if isinstance(posts, int) and not isinstance(posts, bool) and MAX_POSTS < posts <= 10_000:
        body["maxPostsPerHashtag"] = MAX_POSTS
    hashtags = body.get("hashtags")
    if isinstance(hashtags, list) and len(hashtags) > MAX_HASHTAGS:
        body["hashtags"] = hashtags[:MAX_HASHTAGS]
