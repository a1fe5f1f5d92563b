"""Secrets out of text that leaves the process: log lines, and error messages that are stored
and answered (a platform's error body may echo the credentials it was sent)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

REDACTED = "[REDACTED]"

# Keys whose values are secret whatever they hold.
_SECRET_KEY = re.compile(r"(token|password|secret|authorization|api_key)", re.IGNORECASE)
# "Bearer <anything>" wherever it appears in a message.
_BEARER = re.compile(r"(Bearer\s+)[^\s'\",]+", re.IGNORECASE)
# Passwords inside URLs: scheme://user:password@host.
_URL_PASSWORD = re.compile(r"(://[^:/@\s]*:)[^@\s]+(@)")


class Redactor:
    """Replaces known secret values, bearer tokens and URL passwords in text."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self.secrets = sorted({s for s in secrets if s}, key=len, reverse=True)

    def text(self, value: str) -> str:
        for secret in self.secrets:
            value = value.replace(secret, REDACTED)
        value = _BEARER.sub(rf"\g<1>{REDACTED}", value)
        return _URL_PASSWORD.sub(rf"\g<1>{REDACTED}\g<2>", value)

    def value(self, key: str, value: Any) -> Any:
        if _SECRET_KEY.search(key) and value not in (None, ""):
            return REDACTED
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {k: self.value(str(k), v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self.value(key, v) for v in value]
        return value
