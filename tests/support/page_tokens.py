"""Page tokens as a client might tamper with them: decode one, change it, encode it again."""

from __future__ import annotations

import base64
import json
from typing import Any


def token_payload(token: str) -> dict[str, Any]:
    payload = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    assert isinstance(payload, dict)
    return payload


def forge(payload: object) -> str:
    text = json.dumps(payload, separators=(",", ":"))
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def tampered(token: str, **after: object) -> str:
    """`token` with some of its cursor's fields replaced (a field set to ... is removed)."""
    payload = token_payload(token)
    for name, value in after.items():
        if value is ...:
            payload["after"].pop(name, None)
        else:
            payload["after"][name] = value
    return forge(payload)
