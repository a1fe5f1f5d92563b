"""`python -m tagpulse_collector retention`: what the chart's retention CronJob runs."""

from __future__ import annotations

import json
import sys

from tagpulse.db.engine import database_engine
from tagpulse_collector.deletion.retention import enforce_retention
from tagpulse_collector.query_client import invalidate_once
from tagpulse_collector.settings import CollectorSettings


def run_retention(settings: CollectorSettings) -> int:
    """Delete the posts past their retention, print what went as JSON, retire the cached answers.
    Exit status 0, also when another collector was doing it (nothing deleted here)."""
    if not settings.retention_days:
        print("no retention set (TAGPULSE_RETENTION_DAYS): every post is kept", file=sys.stderr)
        print(json.dumps({"posts_deleted": 0, "users_deleted": 0}))
        return 0
    engine = database_engine(settings)
    try:
        removed = enforce_retention(engine, settings.retention_days, settings.retention_batch_posts)
    finally:
        engine.dispose()
    if removed is None:
        print("another collector is enforcing the retention right now", file=sys.stderr)
        print(json.dumps({"posts_deleted": 0, "users_deleted": 0}))
        return 0
    print(json.dumps({"posts_deleted": removed.posts, "users_deleted": removed.users}))
    if removed.posts:
        api_token = settings.api_token.get_secret_value() if settings.api_token else None
        invalidate_once(settings.query_address, api_token, f"retention deleted {removed.posts} posts")
    return 0
