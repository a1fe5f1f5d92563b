"""Checks the collector's requests that name or page through resources: ids and List pages.

What a new run or stream asks for is checked where it is planned (`runs/plan.py`,
`streams/store.plan_stream`), since that needs the catalog of sources.
"""

from __future__ import annotations

from tagpulse import pagination
from tagpulse.db.models import MAX_INTEGER
from tagpulse.errors import InvalidArgument
from tagpulse.pagination import IdCursor, PageRequest, PageTokens
from tagpulse.text import quoted

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100


def _resource_id(raw: str, kind: str) -> int:
    # ASCII digits only: str.isdigit() also accepts "²" and "٣", which int() refuses or reads;
    # and few of them: int() refuses more than 4,300 digits with a ValueError of its own.
    digits_ok = raw.isascii() and raw.isdigit() and len(raw) <= len(str(MAX_INTEGER))
    if not digits_ok or not 0 < int(raw) <= MAX_INTEGER:
        raise InvalidArgument({"id": f"{quoted(raw)} is not a {kind} id (a positive number)"})
    return int(raw)


def collection_id(raw: str) -> int:
    return _resource_id(raw, "collection")


def stream_id(raw: str) -> int:
    return _resource_id(raw, "stream")


def list_page(tokens: PageTokens[IdCursor], page_size: int, page_token: str) -> PageRequest[IdCursor]:
    """The page a ListCollections or ListStreams request asks for (newest first)."""
    return pagination.page_request(tokens, page_size, page_token, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
