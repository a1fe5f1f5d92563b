"""Page sizes and opaque page tokens, the same for every List method."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from tagpulse.errors import InvalidArgument


def page_size_of(requested: int, default: int, maximum: int) -> int:
    """0 means the default; anything else must lie in 1..maximum."""
    if requested == 0:
        return default
    if not 1 <= requested <= maximum:
        raise InvalidArgument({"page_size": f"must be between 1 and {maximum}"})
    return requested


def encode_page_token(kind: str, cursor: dict[str, Any]) -> str:
    """An opaque token: clients pass it back, they do not build it."""
    payload = json.dumps({"k": kind, **cursor}, separators=(",", ":"), sort_keys=True)
    return base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")


def decode_page_token(token: str, kind: str) -> dict[str, Any] | None:
    """The cursor inside a token from `encode_page_token(kind, …)`; None for an empty token."""
    if not token:
        return None
    try:
        padded = token + "=" * (-len(token) % 4)
        cursor = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        cursor = None
    if not isinstance(cursor, dict) or cursor.pop("k", None) != kind:
        raise InvalidArgument(
            {"page_token": "is not a page token from this list; pass next_page_token as it came"}
        )
    return cursor
