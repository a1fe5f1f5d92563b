"""Checks a read request and turns it into a plain query; every bad field is reported at once."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tagpulse.errors import InvalidArgument
from tagpulse.hashtags import InvalidHashtag, normalize_hashtag

DEFAULT_TOP_USERS = 5
MAX_TOP_USERS = 100
HOUR_OF_DAY, TIMELINE = "HOUR_OF_DAY", "TIMELINE"
# A timeline longer than this is refused rather than answered with a huge body.
MAX_TIMELINE_HOURS = 24 * 366


@dataclass(frozen=True)
class TopUsersQuery:
    limit: int
    hashtag: str | None


@dataclass(frozen=True)
class HourCountQuery:
    mode: str
    time_zone: str
    hashtag: str | None
    start: datetime | None
    end: datetime | None


@dataclass(frozen=True)
class HashtagCountQuery:
    hashtag: str | None


def _hashtag(raw: str, problems: dict[str, str]) -> str | None:
    if not raw:
        return None
    try:
        return normalize_hashtag(raw)
    except InvalidHashtag as error:
        problems["hashtag"] = str(error)
        return None


def _raise_if(problems: dict[str, str]) -> None:
    if problems:
        raise InvalidArgument(problems)


def top_users_query(limit: int, hashtag: str) -> TopUsersQuery:
    problems: dict[str, str] = {}
    if limit == 0:
        limit = DEFAULT_TOP_USERS
    elif not 1 <= limit <= MAX_TOP_USERS:
        problems["limit"] = f"must be between 1 and {MAX_TOP_USERS}"
    tag = _hashtag(hashtag, problems)
    _raise_if(problems)
    return TopUsersQuery(limit=limit, hashtag=tag)


def hour_count_query(
    mode: str, time_zone: str, hashtag: str, start: datetime | None, end: datetime | None
) -> HourCountQuery:
    problems: dict[str, str] = {}
    mode = mode if mode not in ("", "MODE_UNSPECIFIED") else HOUR_OF_DAY
    if mode not in (HOUR_OF_DAY, TIMELINE):
        problems["mode"] = "must be HOUR_OF_DAY or TIMELINE"
    zone = time_zone or "UTC"
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        problems["time_zone"] = f"{time_zone!r} is not an IANA time zone name (e.g. Europe/Madrid)"
    if start is not None and end is not None:
        if start >= end:
            problems["start_time"] = "must be before end_time"
        elif mode == TIMELINE and (end - start).total_seconds() > MAX_TIMELINE_HOURS * 3600:
            problems["end_time"] = f"a timeline spans at most {MAX_TIMELINE_HOURS} hours"
    tag = _hashtag(hashtag, problems)
    _raise_if(problems)
    return HourCountQuery(mode=mode, time_zone=zone, hashtag=tag, start=start, end=end)


def hashtag_count_query(hashtag: str) -> HashtagCountQuery:
    problems: dict[str, str] = {}
    tag = _hashtag(hashtag, problems)
    _raise_if(problems)
    return HashtagCountQuery(hashtag=tag)
