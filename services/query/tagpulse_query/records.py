"""The rows the reads return: plain data, built from database rows, known to no gRPC code."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy.engine import Row

from tagpulse.db.records import from_row


@dataclass(frozen=True)
class UserRow:
    source: str
    id: str
    username: str
    display_name: str
    followers_count: int
    location: str
    country_code: str
    post_count: int


def user_row(row: Row[Any]) -> UserRow:
    """From a row of the users table."""
    return from_row(UserRow, row)


@dataclass(frozen=True)
class PostRow:
    source: str
    id: str
    author_id: str
    author_username: str
    text: str
    language: str
    created_at: datetime
    country_code: str
    hashtags: tuple[str, ...]


@dataclass(frozen=True)
class HashtagRow:
    name: str
    tracked: bool
    post_count: int
    last_collected_at: datetime | None


@dataclass(frozen=True)
class SourceRow:
    source: str
    posts_fetched: int
    posts_stored: int


@dataclass(frozen=True)
class LastRunRow:
    hashtag: str
    run_id: int
    ended_at: datetime | None


@dataclass(frozen=True)
class SpendRow:
    source: str
    day: date
    # Today's; money in millionths of a US dollar.
    posts_billed: int
    users_billed: int
    counts_requests: int
    cost_micros: int
    total_cost_micros: int


@dataclass(frozen=True)
class ComplianceJobRow:
    job_type: str
    state: str
    x_job_id: str | None
    pass_started_at: datetime
    attempt: int
    ids_uploaded: int
    results: int
    posts_deleted: int
    posts_geo_scrubbed: int
    error_message: str
    updated_at: datetime


@dataclass(frozen=True)
class StatsRow:
    sources: tuple[SourceRow, ...]
    users: int
    posts: int
    last_successful_runs: tuple[LastRunRow, ...]
    spend: tuple[SpendRow, ...] = ()
    x_compliance_jobs: tuple[ComplianceJobRow, ...] = ()
