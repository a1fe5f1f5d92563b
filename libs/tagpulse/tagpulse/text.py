"""Checks on free text that arrives in requests."""

from __future__ import annotations

import unicodedata


def has_control_characters(text: str) -> bool:
    """True when the text holds a C0/C1 control character (NUL, newline, escape, ...):
    such a value cannot be a tag, a language or an id, and would corrupt logs."""
    return any(unicodedata.category(char) == "Cc" for char in text)


QUOTED_LENGTH = 60


def quoted(value: str, limit: int = QUOTED_LENGTH) -> str:
    """A request's value for an error message: repr()'d, and cut when long, so that an error
    never echoes a 20,000-character input back (or into a log line)."""
    if len(value) <= limit:
        return repr(value)
    return f"{value[:limit]!r}… ({len(value):,} characters)"


def bounded(message: str, limit: int) -> str:
    """A message cut to at most `limit` characters."""
    return message if len(message) <= limit else message[: limit - 1] + "…"
