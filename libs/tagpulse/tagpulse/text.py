"""Checks on free text that arrives in requests."""

from __future__ import annotations

import unicodedata


def has_control_characters(text: str) -> bool:
    """True when the text holds a C0/C1 control character (NUL, newline, escape, ...):
    such a value cannot be a tag, a language or an id, and would corrupt logs."""
    return any(unicodedata.category(char) == "Cc" for char in text)
