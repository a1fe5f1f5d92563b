"""Page sizes and page tokens, the same for every List method.

A page token is opaque to clients: the cursor of the last item of the previous page (a frozen
dataclass with named fields), the list it came from, and a fingerprint of the filters it was
issued for, in base64url JSON. Each list has one `PageTokens` codec here, which both encodes the
next page's token and decodes the token a request brings back, so the two can never disagree.
A token that is not one of ours, comes from another list, or was issued for other filters is
refused with the same message, whatever the reason.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import json
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Generic, TypeVar, get_type_hints

from sqlalchemy import String

from tagpulse.db.models import COUNTRY, HASHTAG, LANGUAGE, MAX_BIGINT, MAX_INTEGER, PLATFORM_ID, SOURCE, width
from tagpulse.errors import InvalidArgument
from tagpulse.text import has_control_characters

NOT_FROM_THIS_LIST = "is not a page token from this list with these filters; pass next_page_token as it came"


def page_size_of(requested: int, default: int, maximum: int) -> int:
    """0 means the default; anything else must lie in 1..maximum."""
    if requested == 0:
        return default
    if not 1 <= requested <= maximum:
        raise InvalidArgument({"page_size": f"must be between 1 and {maximum}"})
    return requested


def _require(condition: bool) -> None:
    if not condition:
        raise ValueError("not a cursor of this list")


def _bounded_text(value: str, column_type: String) -> None:
    _require(0 < len(value) <= width(column_type))
    _require(not has_control_characters(value))
    value.encode()  # an unpaired surrogate ("\ud800") raises UnicodeEncodeError, a ValueError


# --- the cursors of each list ----------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class PostCursor:
    """The last post of the previous page: newest first, then by (source, id)."""

    created_at: datetime
    source: str
    id: str

    def __post_init__(self) -> None:
        _require(self.created_at.tzinfo is not None)
        _bounded_text(self.source, SOURCE)
        _bounded_text(self.id, PLATFORM_ID)


@dataclasses.dataclass(frozen=True)
class UserCursor:
    """The last user of the previous page: by followers (or not), then by (source, id)."""

    followers_count: int
    source: str
    id: str

    def __post_init__(self) -> None:
        _require(0 <= self.followers_count <= MAX_BIGINT)
        _bounded_text(self.source, SOURCE)
        _bounded_text(self.id, PLATFORM_ID)


@dataclasses.dataclass(frozen=True)
class HashtagCursor:
    """The last hashtag of the previous page, by name."""

    name: str

    def __post_init__(self) -> None:
        _bounded_text(self.name, HASHTAG)


@dataclasses.dataclass(frozen=True)
class HashtagCountCursor:
    """The last hashtag × language × country row of the previous page (its count too, for the
    order by count)."""

    post_count: int
    hashtag: str
    language: str
    country_code: str

    def __post_init__(self) -> None:
        _require(0 <= self.post_count <= MAX_BIGINT)
        _bounded_text(self.hashtag, HASHTAG)
        _bounded_text(self.language, LANGUAGE)
        _bounded_text(self.country_code, COUNTRY)


@dataclasses.dataclass(frozen=True)
class IdCursor:
    """Newest first by id: the next page holds the ids below `before_id`."""

    before_id: int

    def __post_init__(self) -> None:
        _require(0 < self.before_id <= MAX_INTEGER)


Cursor = TypeVar("Cursor")


def _fingerprint(filters: object) -> str:
    return hashlib.sha256(repr(filters).encode()).hexdigest()[:16]


def _to_json(value: object) -> object:
    return value.isoformat() if isinstance(value, datetime) else value


def _from_json(kind: object, value: object) -> object:
    """A cursor field's value of the declared type; ValueError for anything else."""
    if kind is datetime and isinstance(value, str):
        return datetime.fromisoformat(value)
    if kind is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if kind is str and isinstance(value, str):
        return value
    raise ValueError("wrong type")


class PageTokens(Generic[Cursor]):
    """The page tokens of one list: `encode` the cursor after a page, `decode` it back
    (an empty token stands for no cursor both ways)."""

    def __init__(self, list_name: str, cursor_type: type[Cursor]) -> None:
        self.list_name = list_name
        self.cursor_type = cursor_type
        self._fields = get_type_hints(cursor_type)

    def encode(self, cursor: Cursor | None, filters: object = None) -> str:
        """The token of the page after `cursor`; empty when there is none (the last page)."""
        if cursor is None:
            return ""
        after = {name: _to_json(getattr(cursor, name)) for name in self._fields}
        payload = {"list": self.list_name, "filters": _fingerprint(filters), "after": after}
        text = json.dumps(payload, separators=(",", ":"), sort_keys=True)
        return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")

    def decode(self, token: str, filters: object = None) -> Cursor | None:
        """The cursor a token carries; None for an empty token (the first page). Raises
        InvalidArgument (field `page_token`) for anything else that is not from `encode` with
        the same filters."""
        if not token:
            return None
        try:
            payload = json.loads(base64.urlsafe_b64decode((token + "=" * (-len(token) % 4)).encode()))
            _require(isinstance(payload, dict))
            _require(payload.get("list") == self.list_name)
            _require(payload.get("filters") == _fingerprint(filters))
            after = payload.get("after")
            _require(isinstance(after, dict) and after.keys() == self._fields.keys())
            values = {name: _from_json(kind, after[name]) for name, kind in self._fields.items()}
            return self.cursor_type(**values)
        except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
            raise InvalidArgument({"page_token": NOT_FROM_THIS_LIST}) from None


POSTS = PageTokens("posts", PostCursor)
USERS = PageTokens("users", UserCursor)
HASHTAGS = PageTokens("hashtags", HashtagCursor)
HASHTAG_COUNTS = PageTokens("hashtag_counts", HashtagCountCursor)
COLLECTIONS = PageTokens("collections", IdCursor)
STREAMS = PageTokens("streams", IdCursor)


@dataclasses.dataclass(frozen=True)
class PageRequest(Generic[Cursor]):
    size: int
    # Where the page starts; None for the first page.
    after: Cursor | None


def page_request(
    tokens: PageTokens[Cursor],
    page_size: int,
    page_token: str,
    default_size: int,
    max_size: int,
    filters: object = None,
    problems: dict[str, str] | None = None,
) -> PageRequest[Cursor]:
    """The page size and the cursor of a List request. What is wrong goes into `problems`
    when given (so it is reported with the request's other problems), else it is raised."""
    found: dict[str, str] = {}
    size: int = default_size
    cursor: Cursor | None = None
    try:
        size = page_size_of(page_size, default_size, max_size)
    except InvalidArgument as error:
        found.update(error.violations)
    try:
        cursor = tokens.decode(page_token, filters)
    except InvalidArgument as error:
        found.update(error.violations)
    if problems is not None:
        problems.update(found)
    elif found:
        raise InvalidArgument(found)
    return PageRequest(size, cursor)


Item = TypeVar("Item")


def page_of(
    rows: Sequence[Item], size: int, cursor_of: Callable[[Item], Cursor]
) -> tuple[list[Item], Cursor | None]:
    """A page from `size + 1` rows fetched: the first `size`, and the cursor after the last of
    them when the extra row says more follow (else None: the last page)."""
    page = list(rows[:size])
    return page, cursor_of(page[-1]) if len(rows) > size else None
