from datetime import UTC, datetime

import pytest

from tagpulse import pagination
from tagpulse.db.models import PLATFORM_ID, width
from tagpulse.errors import InvalidArgument
from tagpulse.pagination import (
    NOT_FROM_THIS_LIST,
    HashtagCursor,
    IdCursor,
    PostCursor,
    UserCursor,
    page_of,
    page_request,
    page_size_of,
)
from tests.support.page_tokens import forge, tampered, token_payload

LAST_POST = PostCursor(datetime(2026, 11, 1, 5, 6, 7, 891, tzinfo=UTC), "x", "123")


def test_tokens_round_trip_with_named_fields() -> None:
    token = pagination.POSTS.encode(LAST_POST, filters=("devops", None))
    assert pagination.POSTS.decode(token, filters=("devops", None)) == LAST_POST
    assert token_payload(token)["after"] == {
        "created_at": "2026-11-01T05:06:07.000891+00:00",
        "source": "x",
        "id": "123",
    }
    assert pagination.POSTS.decode("") is None
    for tokens, cursor in (
        (pagination.USERS, UserCursor(5, "x", "7")),
        (pagination.HASHTAGS, HashtagCursor("sre")),
        (pagination.COLLECTIONS, IdCursor(41)),
        (pagination.STREAMS, IdCursor(2**31 - 1)),
    ):
        assert tokens.decode(tokens.encode(cursor)) == cursor


def test_a_token_is_bound_to_its_list_and_its_filters() -> None:
    collections = pagination.COLLECTIONS.encode(IdCursor(41))
    posts = pagination.POSTS.encode(LAST_POST, filters="devops")
    for decode, token in (
        (lambda t: pagination.STREAMS.decode(t), collections),
        (lambda t: pagination.POSTS.decode(t, filters="sre"), posts),
        (lambda t: pagination.POSTS.decode(t), posts),
    ):
        with pytest.raises(InvalidArgument) as error:
            decode(token)
        assert error.value.violations == {"page_token": NOT_FROM_THIS_LIST}


@pytest.mark.parametrize(
    "token",
    [
        "garbage",
        "!!!",
        "e30",  # {}
        "bnVsbA",  # null
        "W10",  # []
        forge({"list": "collections", "after": {"before_id": 41}}),
        tampered(pagination.COLLECTIONS.encode(IdCursor(41)), before_id=0),
        tampered(pagination.COLLECTIONS.encode(IdCursor(41)), before_id=2**63),
        # Run and stream ids are Integer columns: a bigger id would fail in the database.
        tampered(pagination.COLLECTIONS.encode(IdCursor(41)), before_id=2**31),
        tampered(pagination.COLLECTIONS.encode(IdCursor(41)), before_id="41"),
        tampered(pagination.COLLECTIONS.encode(IdCursor(41)), before_id=True),
        tampered(pagination.COLLECTIONS.encode(IdCursor(41)), before_id=...),
        tampered(pagination.COLLECTIONS.encode(IdCursor(41)), extra=1),
    ],
)
def test_malformed_and_forged_tokens_are_invalid_arguments(token: str) -> None:
    with pytest.raises(InvalidArgument) as error:
        pagination.COLLECTIONS.decode(token)
    assert error.value.violations == {"page_token": NOT_FROM_THIS_LIST}


@pytest.mark.parametrize(
    "change",
    [
        {"created_at": "not a time"},
        {"created_at": "2026-11-01T00:00:00"},  # no time zone
        {"created_at": 5},
        {"source": ["x"]},
        {"source": ""},
        {"source": "x" * 17},
        {"id": "9" * (width(PLATFORM_ID) + 1)},
        {"id": "12\u0000"},  # NUL: PostgreSQL text cannot hold it
        {"id": "\ud800"},  # an unpaired surrogate: not encodable as UTF-8
        {"source": "x\n"},
    ],
)
def test_forged_post_cursors_are_invalid(change: dict[str, object]) -> None:
    token = tampered(pagination.POSTS.encode(LAST_POST), **change)
    with pytest.raises(InvalidArgument):
        pagination.POSTS.decode(token)


def test_page_sizes() -> None:
    assert page_size_of(0, default=50, maximum=1000) == 50
    assert page_size_of(1000, default=50, maximum=1000) == 1000
    for bad in (-1, 1001):
        with pytest.raises(InvalidArgument):
            page_size_of(bad, default=50, maximum=1000)


def test_a_page_request_reports_both_problems_at_once() -> None:
    page = page_request(pagination.COLLECTIONS, 0, pagination.COLLECTIONS.encode(IdCursor(9)), 20, 100)
    assert (page.size, page.after) == (20, IdCursor(9))
    with pytest.raises(InvalidArgument) as error:
        page_request(pagination.COLLECTIONS, 101, "garbage", 20, 100)
    assert error.value.violations.keys() == {"page_size", "page_token"}
    problems: dict[str, str] = {}
    page_request(pagination.COLLECTIONS, -1, "", 20, 100, problems=problems)
    assert problems.keys() == {"page_size"}


def test_page_of_keeps_the_size_and_says_whether_more_follow() -> None:
    assert page_of([5, 4, 3], 2, IdCursor) == ([5, 4], IdCursor(4))
    assert page_of([5, 4], 2, IdCursor) == ([5, 4], None)
    assert page_of([], 2, IdCursor) == ([], None)
