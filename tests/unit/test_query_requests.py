from datetime import UTC, datetime

import pytest

from tagpulse.errors import InvalidArgument
from tagpulse_query.requests import hashtag_count_query, hour_count_query, top_users_query

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
])  # fmt: skip
def test_hour_count_violations(args: tuple, fields: set[str]) -> None:  # type: ignore[type-arg]
    with pytest.raises(InvalidArgument) as error:
        hour_count_query(*args)
    assert set(error.value.violations) == fields


def test_hashtag_counts() -> None:
    assert hashtag_count_query("").hashtag is None
    with pytest.raises(InvalidArgument):
        hashtag_count_query("#")
