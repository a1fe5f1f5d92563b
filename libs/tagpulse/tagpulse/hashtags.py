"""What a hashtag is: one rule for collection requests, queries and stored posts."""

from __future__ import annotations

import unicodedata

from tagpulse.text import quoted

MAX_HASHTAG_LENGTH = 100


class InvalidHashtag(ValueError):
    """A string that cannot be a hashtag."""


def _is_hashtag_character(char: str) -> bool:
    # Letters and digits of any script, underscores, and combining marks: without the marks
    # Devanagari or Thai hashtags ("भारत") would be rejected.
    return char == "_" or char.isalnum() or unicodedata.category(char).startswith("M")


def normalize_hashtag(raw: str) -> str:
    """Case-fold and strip one leading '#': "#DevOps" -> "devops"."""
    tag = raw.strip()
    if tag.startswith("#"):
        tag = tag[1:]
    tag = unicodedata.normalize("NFC", tag.casefold())
    if not 1 <= len(tag) <= MAX_HASHTAG_LENGTH or not all(map(_is_hashtag_character, tag)):
        raise InvalidHashtag(
            f"{quoted(raw)} is not a hashtag: use 1-{MAX_HASHTAG_LENGTH} letters, digits or "
            "underscores, with an optional leading '#'"
        )
    return tag
