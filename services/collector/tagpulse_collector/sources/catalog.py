"""The sources a request may name, what each needs configured, and the check of a choice:
collection runs and keyword streams choose their source the same way."""

from __future__ import annotations

from collections.abc import Collection


class SourceNotConfigured(LookupError):
    """A run names a source this collector has no credentials for."""


KNOWN_SOURCES = ("x", "mastodon", "sample")
# What a collector needs before it can read from a platform.
SOURCE_SETTINGS = {"x": "TAGPULSE_X_BEARER_TOKEN", "mastodon": "TAGPULSE_MASTODON_BASE_URL"}


def not_configured_message(source: str) -> str:
    setting = SOURCE_SETTINGS.get(source, "its settings")
    return f"source {source!r} is not configured on this collector (set {setting})"


def choose_source(requested: str, default_source: str, configured: Collection[str]) -> tuple[str, str]:
    """The source a request names (the default when it names none), and what is wrong with
    that choice ("" when nothing is)."""
    source = (requested or default_source).strip().lower()
    if source not in KNOWN_SOURCES:
        return source, f"unknown source {source!r}; use one of: {', '.join(KNOWN_SOURCES)}"
    if source not in configured:
        return source, f"{not_configured_message(source)}; configured: {', '.join(sorted(configured))}"
    return source, ""
