"""Checks a read request and turns it into a plain query; every bad field is reported at once.

Free-text filters (language, author id, country code) are plain values: anything that is not
stored simply matches nothing. Only what cannot be a value at all is refused: control
characters (PostgreSQL cannot even compare a string with NUL in it) and overlong strings.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tagpulse import pagination
from tagpulse.db.models import UNKNOWN_COUNTRY
from tagpulse.errors import InvalidArgument
from tagpulse.hashtags import InvalidHashtag, normalize_hashtag
from tagpulse.pagination import HashtagCountCursor, HashtagCursor, PostCursor, UserCursor
from tagpulse.text import has_control_characters, quoted

DEFAULT_TOP_USERS = 5
MAX_TOP_USERS = 100
HOUR_OF_DAY, TIMELINE = "HOUR_OF_DAY", "TIMELINE"
HOUR_MODES = (HOUR_OF_DAY, TIMELINE)
# A timeline longer than this is refused when both ends are given, and cut to this length
# when an end is left to the data: the answer's size and cost stay bounded whatever the span.
MAX_TIMELINE_HOURS = 24 * 366
# Instants a request may name: before 1970 there are no posts, and near year 9999 the local
# time of an instant or the end of its 15-minute bucket would overflow Python's datetime.
EARLIEST_INSTANT = datetime(1970, 1, 1, tzinfo=UTC)
LATEST_INSTANT = datetime(9999, 1, 1, tzinfo=UTC)
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000
# Free-text filters longer than this are refused; shorter ones that are not stored match nothing.
MAX_VALUE_LENGTH = 100
ORDER_BY_FOLLOWERS, ORDER_BY_ID = "followers_count desc", "id"
ORDER_BY_COUNT, ORDER_BY_HASHTAG = "post_count desc", "hashtag"
# Rows of CountPostsByHashtag a client gets unless it asks for more: a table one can read (all
# hashtags × languages × countries run to thousands of rows).
DEFAULT_COUNTS_PAGE_SIZE = 100


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
class HashtagCountFilter:
    hashtag: str | None
    language: str | None
    country_code: str | None
    order_by: str


@dataclass(frozen=True)
class HashtagCountQuery:
    filter: HashtagCountFilter
    page_size: int
    after: HashtagCountCursor | None


@dataclass(frozen=True)
class CoverageQuery:
    hashtag: str
    time_zone: str


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


def _value(raw: str, field: str, max_length: int, problems: dict[str, str]) -> str | None:
    """A free-text filter value; None when empty."""
    value = raw.strip()
    if not value:
        return None
    if len(value) > max_length:
        problems[field] = f"must be at most {max_length} characters"
    elif has_control_characters(value):
        problems[field] = "must not contain control characters"
    return value


def _time_zone(raw: str, problems: dict[str, str]) -> str:
    """An IANA time zone name; "UTC" when empty."""
    zone = raw or "UTC"
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        problems["time_zone"] = f"{quoted(raw)} is not an IANA time zone name (e.g. Europe/Madrid)"
    return zone


def _time_range(start: datetime | None, end: datetime | None, problems: dict[str, str]) -> None:
    in_range = True
    for field, instant in (("start_time", start), ("end_time", end)):
        if instant is not None and not EARLIEST_INSTANT <= instant <= LATEST_INSTANT:
            problems[field] = f"must lie between {_iso(EARLIEST_INSTANT)} and {_iso(LATEST_INSTANT)}"
            in_range = False
    if in_range and start is not None and end is not None and start >= end:
        problems["start_time"] = "must be before end_time"


def _iso(instant: datetime) -> str:
    return instant.isoformat().replace("+00:00", "Z")


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
    mode = mode or HOUR_OF_DAY
    if mode not in HOUR_MODES:
        problems["mode"] = "must be HOUR_OF_DAY or TIMELINE"
    zone = _time_zone(time_zone, problems)
    _time_range(start, end, problems)
    if (
        start is not None
        and end is not None
        and start < end
        and mode == TIMELINE
        and (end - start).total_seconds() > MAX_TIMELINE_HOURS * 3600
    ):
        problems["end_time"] = f"a timeline spans at most {MAX_TIMELINE_HOURS} hours"
    tag = _hashtag(hashtag, problems)
    _raise_if(problems)
    return HourCountQuery(mode=mode, time_zone=zone, hashtag=tag, start=start, end=end)


_COUNT_ORDERS = {
    "": ORDER_BY_COUNT,
    "post_count desc": ORDER_BY_COUNT,
    "postcount desc": ORDER_BY_COUNT,
    "hashtag": ORDER_BY_HASHTAG,
    "hashtag asc": ORDER_BY_HASHTAG,
}


def hashtag_count_query(
    hashtag: str = "",
    language: str = "",
    country_code: str = "",
    order_by: str = "",
    page_size: int = 0,
    page_token: str = "",
) -> HashtagCountQuery:
    problems: dict[str, str] = {}
    order = _COUNT_ORDERS.get(" ".join(order_by.lower().split()))
    if order is None:
        problems["order_by"] = f"must be {ORDER_BY_COUNT!r} (the default) or {ORDER_BY_HASHTAG!r}"
    counts_filter = HashtagCountFilter(
        hashtag=_hashtag(hashtag, problems),
        language=_value(language, "language", MAX_VALUE_LENGTH, problems),
        country_code=_country(country_code, problems),
        order_by=order or ORDER_BY_COUNT,
    )
    page = pagination.page_request(
        pagination.HASHTAG_COUNTS,
        page_size,
        page_token,
        DEFAULT_COUNTS_PAGE_SIZE,
        MAX_PAGE_SIZE,
        counts_filter,
        problems,
    )
    _raise_if(problems)
    return HashtagCountQuery(filter=counts_filter, page_size=page.size, after=page.after)


def coverage_query(hashtag: str, time_zone: str) -> CoverageQuery:
    problems: dict[str, str] = {}
    tag = _hashtag(hashtag, problems)
    if tag is None and "hashtag" not in problems:
        problems["hashtag"] = "is required"
    zone = _time_zone(time_zone, problems)
    _raise_if(problems)
    assert tag is not None
    return CoverageQuery(hashtag=tag, time_zone=zone)


# --- lists and lookups ---------------------------------------------------------------------


@dataclass(frozen=True)
class PostFilter:
    hashtag: str | None
    language: str | None
    author_id: str | None
    country_code: str | None
    start: datetime | None
    end: datetime | None


@dataclass(frozen=True)
class PostsQuery:
    filter: PostFilter
    page_size: int
    after: PostCursor | None


@dataclass(frozen=True)
class PostQuery:
    id: str
    source: str | None


@dataclass(frozen=True)
class UsersQuery:
    order_by: str
    page_size: int
    after: UserCursor | None


@dataclass(frozen=True)
class HashtagsQuery:
    page_size: int
    after: HashtagCursor | None


@dataclass(frozen=True)
class StatsQuery:
    """GetStats takes no parameters; one cache key."""


def _country(raw: str, problems: dict[str, str]) -> str | None:
    value = _value(raw, "country_code", MAX_VALUE_LENGTH, problems)
    if value is None:
        return None
    # Stored as ISO 3166-1 alpha-2 in upper case, or "unknown".
    return UNKNOWN_COUNTRY if value.lower() == UNKNOWN_COUNTRY else value.upper()


def posts_query(
    hashtag: str,
    language: str,
    author_id: str,
    country_code: str,
    start: datetime | None,
    end: datetime | None,
    page_size: int,
    page_token: str,
) -> PostsQuery:
    problems: dict[str, str] = {}
    post_filter = PostFilter(
        hashtag=_hashtag(hashtag, problems),
        language=_value(language, "language", MAX_VALUE_LENGTH, problems),
        author_id=_value(author_id, "author_id", MAX_VALUE_LENGTH, problems),
        country_code=_country(country_code, problems),
        start=start,
        end=end,
    )
    _time_range(start, end, problems)
    page = pagination.page_request(
        pagination.POSTS, page_size, page_token, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, post_filter, problems
    )
    _raise_if(problems)
    return PostsQuery(filter=post_filter, page_size=page.size, after=page.after)


def post_query(post_id: str, source: str) -> PostQuery:
    problems: dict[str, str] = {}
    value = _value(post_id, "id", MAX_VALUE_LENGTH, problems)
    if value is None:
        problems["id"] = "is required"
    source_value = _value(source, "source", MAX_VALUE_LENGTH, problems)
    _raise_if(problems)
    assert value is not None
    return PostQuery(id=value, source=source_value.lower() if source_value else None)


_ORDERS = {
    "": ORDER_BY_FOLLOWERS,
    "followers_count desc": ORDER_BY_FOLLOWERS,
    "followerscount desc": ORDER_BY_FOLLOWERS,
    "id": ORDER_BY_ID,
    "id asc": ORDER_BY_ID,
}


def users_query(order_by: str, page_size: int, page_token: str) -> UsersQuery:
    problems: dict[str, str] = {}
    order = _ORDERS.get(" ".join(order_by.lower().split()))
    if order is None:
        problems["order_by"] = f"must be {ORDER_BY_FOLLOWERS!r} (the default) or {ORDER_BY_ID!r}"
    page = pagination.page_request(
        pagination.USERS, page_size, page_token, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, order, problems
    )
    _raise_if(problems)
    assert order is not None
    return UsersQuery(order_by=order, page_size=page.size, after=page.after)


def hashtags_query(page_size: int, page_token: str) -> HashtagsQuery:
    problems: dict[str, str] = {}
    page = pagination.page_request(
        pagination.HASHTAGS, page_size, page_token, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, problems=problems
    )
    _raise_if(problems)
    return HashtagsQuery(page_size=page.size, after=page.after)
