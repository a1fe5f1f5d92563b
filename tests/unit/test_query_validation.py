from datetime import UTC, datetime

import pytest

from tagpulse import pagination
from tagpulse.db.models import PLATFORM_ID, width
from tagpulse.errors import InvalidArgument
from tagpulse.pagination import HASHTAG_COUNTS, HashtagCountCursor, HashtagCursor, PostCursor, UserCursor
from tagpulse_query.validation import (
    CoverageQuery,
    HashtagCountFilter,
    HashtagsQuery,
    PostQuery,
    coverage_query,
    hashtag_count_query,
    hashtags_query,
    hour_count_query,
    post_query,
    posts_query,
    top_users_query,
    users_query,
)
from tests.support.page_tokens import tampered

T0 = datetime(2026, 1, 1, tzinfo=UTC)
T1 = datetime(2026, 1, 2, tzinfo=UTC)


def test_top_users_defaults_and_normalizes() -> None:
    assert top_users_query(0, "").limit == 5
    assert top_users_query(100, "#DevOps").hashtag == "devops"


@pytest.mark.parametrize(("limit", "hashtag", "fields"), [
    (101, "", {"limit"}),
    (-1, "", {"limit"}),
    (5, "no spaces", {"hashtag"}),
    (0, "'; DROP TABLE posts; --", {"hashtag"}),
    (500, "a-b", {"limit", "hashtag"}),
])  # fmt: skip
def test_top_users_violations(limit: int, hashtag: str, fields: set[str]) -> None:
    with pytest.raises(InvalidArgument) as error:
        top_users_query(limit, hashtag)
    assert set(error.value.violations) == fields


def test_hour_counts_defaults() -> None:
    query = hour_count_query("", "", "", None, None)
    assert (query.mode, query.time_zone, query.hashtag) == ("HOUR_OF_DAY", "UTC", None)
    assert hour_count_query("TIMELINE", "Asia/Kathmandu", "#SRE", T0, T1).hashtag == "sre"


@pytest.mark.parametrize(("args", "fields"), [
    (("SECONDLY", "", "", None, None), {"mode"}),
    (("", "Mars/Olympus", "", None, None), {"time_zone"}),
    (("", "../../etc/passwd", "", None, None), {"time_zone"}),
    (("", "", "", T1, T0), {"start_time"}),
    (("", "", "", T0, T0), {"start_time"}),
    (("TIMELINE", "", "", datetime(2020, 1, 1, tzinfo=UTC), T1), {"end_time"}),
    (("7", "Nowhere", "bad tag", None, None), {"mode", "time_zone", "hashtag"}),
    # Instants no post can have, where local times and bucket ends would overflow.
    (("", "America/New_York", "", datetime(1, 1, 1, tzinfo=UTC), None), {"start_time"}),
    (("", "", "", None, datetime(9999, 12, 31, 23, 59, tzinfo=UTC)), {"end_time"}),
    (("", "", "", datetime(1969, 12, 31, tzinfo=UTC), datetime(9999, 6, 1, tzinfo=UTC)),
     {"start_time", "end_time"}),
    (("TIMELINE", "", "", datetime(1970, 1, 1, tzinfo=UTC), datetime(9999, 1, 1, tzinfo=UTC)), {"end_time"}),
    (("", "x" * 20_000, "", None, None), {"time_zone"}),
])  # fmt: skip
def test_hour_count_violations(args: tuple, fields: set[str]) -> None:  # type: ignore[type-arg]
    with pytest.raises(InvalidArgument) as error:
        hour_count_query(*args)
    assert set(error.value.violations) == fields


def test_hashtag_counts() -> None:
    query = hashtag_count_query("")
    assert query.filter == HashtagCountFilter(None, None, None, "post_count desc")
    assert (query.page_size, query.after) == (100, None)
    assert hashtag_count_query("#DevOps", " en ", "np", "HASHTAG").filter == HashtagCountFilter(
        "devops", "en", "NP", "hashtag"
    )
    with pytest.raises(InvalidArgument):
        hashtag_count_query("#")


def test_hashtag_counts_refuse_what_they_cannot_page() -> None:
    with pytest.raises(InvalidArgument) as error:
        hashtag_count_query(order_by="language", page_size=1001, page_token="nope")
    assert set(error.value.violations) == {"order_by", "page_size", "page_token"}
    # A token is only good for the filters it was issued for.
    first = hashtag_count_query(language="en", page_size=1)
    token = HASHTAG_COUNTS.encode(HashtagCountCursor(5, "devops", "en", "IN"), first.filter)
    assert hashtag_count_query(language="en", page_size=1, page_token=token).after is not None
    with pytest.raises(InvalidArgument):
        hashtag_count_query(language="es", page_size=1, page_token=token)


def test_coverage_normalizes_the_hashtag_and_defaults_to_utc() -> None:
    assert coverage_query("#DevOps", "") == CoverageQuery(hashtag="devops", time_zone="UTC")
    assert coverage_query("sre", "Asia/Kathmandu").time_zone == "Asia/Kathmandu"


@pytest.mark.parametrize(("hashtag", "time_zone", "fields"), [
    ("", "", {"hashtag"}),
    ("bad tag", "", {"hashtag"}),
    ("devops", "Mars/Olympus", {"time_zone"}),
    ("devops", "x" * 20_000, {"time_zone"}),
    ("", "Nowhere", {"hashtag", "time_zone"}),
])  # fmt: skip
def test_coverage_violations(hashtag: str, time_zone: str, fields: set[str]) -> None:
    with pytest.raises(InvalidArgument) as error:
        coverage_query(hashtag, time_zone)
    assert set(error.value.violations) == fields


# --- lists and lookups ---------------------------------------------------------------------

NO_FILTERS = ("", "", "", "", None, None)


def test_posts_query_defaults_and_normalizes() -> None:
    query = posts_query(*NO_FILTERS, 0, "")
    assert (query.page_size, query.after) == (50, None)
    query = posts_query("#DevOps", "en", "42", "mx", T0, T1, 1000, "")
    assert (query.filter.hashtag, query.filter.country_code, query.page_size) == ("devops", "MX", 1000)
    assert posts_query("", "", "", "Unknown", None, None, 1, "").filter.country_code == "unknown"
    # Values that look like SQL are values: they just match nothing.
    assert posts_query("", "'; DROP TABLE posts; --", "1 OR 1=1", "", None, None, 1, "").filter.language


def test_post_page_tokens_round_trip_and_are_bound_to_the_filters() -> None:
    query = posts_query("devops", "", "", "", None, None, 10, "")
    last = PostCursor(datetime(2026, 11, 1, 5, 6, 7, 891, tzinfo=UTC), "x", "123")
    token = pagination.POSTS.encode(last, query.filter)
    assert posts_query("#DEVOPS", "", "", "", None, None, 10, token).after == last
    for other in (("sre", "", "", "", None, None), ("devops", "en", "", "", None, None)):
        with pytest.raises(InvalidArgument) as error:
            posts_query(*other, 10, token)
        assert error.value.violations.keys() == {"page_token"}


@pytest.mark.parametrize(
    "change",
    [
        {"created_at": "not a time"},
        {"created_at": "2026-11-01T00:00:00"},
        {"created_at": 5},
        {"source": ["x"]},
        {"id": "9" * (width(PLATFORM_ID) + 1)},
    ],
)
def test_forged_post_tokens_are_invalid(change: dict[str, object]) -> None:
    last = PostCursor(datetime(2026, 11, 1, tzinfo=UTC), "x", "1")
    token = tampered(pagination.POSTS.encode(last, posts_query(*NO_FILTERS, 1, "").filter), **change)
    with pytest.raises(InvalidArgument) as error:
        posts_query(*NO_FILTERS, 1, token)
    assert error.value.violations.keys() == {"page_token"}


@pytest.mark.parametrize(("args", "fields"), [
    (("", "", "", "", None, None, 1001, ""), {"page_size"}),
    (("", "", "", "", None, None, -1, ""), {"page_size"}),
    (("", "", "", "", None, None, 0, "garbage"), {"page_token"}),
    (("", "", "", "", T1, T0, 0, ""), {"start_time"}),
    (("a b", "e\x00n", "x" * 101, "M\nX", None, None, 0, ""),
     {"hashtag", "language", "author_id", "country_code"}),
    (("#", "", "", "", T1, T1, 5000, "%%%"), {"hashtag", "start_time", "page_size", "page_token"}),
    (("", "", "", "", datetime(1, 1, 2, tzinfo=UTC), None, 0, ""), {"start_time"}),
])  # fmt: skip
def test_posts_query_violations(args: tuple, fields: set[str]) -> None:  # type: ignore[type-arg]
    with pytest.raises(InvalidArgument) as error:
        posts_query(*args)
    assert set(error.value.violations) == fields


def test_post_query() -> None:
    assert post_query(" 123 ", "") == PostQuery(id="123", source=None)
    assert post_query("123", "X").source == "x"
    for bad_id in ("", "  ", "1\x00", "9" * 101):
        with pytest.raises(InvalidArgument) as error:
            post_query(bad_id, "")
        assert error.value.violations.keys() == {"id"}


def test_users_query() -> None:
    assert users_query("", 0, "").order_by == "followers_count desc"
    assert users_query("followersCount  DESC", 0, "").order_by == "followers_count desc"
    assert users_query("id", 1000, "").order_by == "id"
    token = pagination.USERS.encode(UserCursor(5, "x", "7"), "id")
    assert users_query("id", 3, token).after == UserCursor(5, "x", "7")
    with pytest.raises(InvalidArgument) as error:
        users_query("", 3, token)  # a token of the other order
    assert error.value.violations.keys() == {"page_token"}
    with pytest.raises(InvalidArgument) as error:
        users_query("username; DROP TABLE users", 1001, "")
    assert error.value.violations.keys() == {"order_by", "page_size"}
    forged = tampered(token, followers_count="many")
    with pytest.raises(InvalidArgument):
        users_query("id", 3, forged)


def test_hashtags_query() -> None:
    assert hashtags_query(0, "") == HashtagsQuery(page_size=50, after=None)
    token = pagination.HASHTAGS.encode(HashtagCursor("sre"))
    assert hashtags_query(2, token).after == HashtagCursor("sre")
    users = pagination.USERS.encode(UserCursor(5, "x", "7"))
    for bad in ("nope", tampered(token, name=3), tampered(token, name="x" * 101), users):
        with pytest.raises(InvalidArgument):
            hashtags_query(2, bad)
