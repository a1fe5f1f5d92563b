"""X archives on disk: twarc2 JSONL, one line per API response page (with `__twarc`), stream
output (one message per line), and `twarc2 flatten` output (one tweet per line). Gzipped
files (`.gz`) too.

Streamed line by line, so memory stays flat whatever the file size. A line that is not JSON
(a truncated last line of a killed twarc, say) is counted and skipped, not fatal.
"""

from __future__ import annotations

import gzip
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, cast

import orjson

from tagpulse_collector.sources.base import Author, CollectedPost, Page
from tagpulse_collector.sources.errors import MalformedResponse
from tagpulse_collector.sources.x_payloads import parse_flat_tweet, parse_page

# Flattened tweets are gathered into pages of this many.
FLAT_PAGE_SIZE = 100
# Problems kept verbatim for the report; the rest are only counted.
MAX_PROBLEMS_KEPT = 20


@dataclass
class ArchiveProblems:
    count: int = 0
    examples: list[str] = field(default_factory=list)

    def add(self, where: str, what: str) -> None:
        self.count += 1
        if len(self.examples) < MAX_PROBLEMS_KEPT:
            self.examples.append(f"{where}: {what}")


def _is_flat_tweet(obj: dict[str, Any]) -> bool:
    return "data" not in obj and "id" in obj and ("author_id" in obj or "text" in obj)


def _open(path: Path) -> tuple[IO[bytes], IO[bytes]]:
    """(lines to read, the raw file whose position is the progress)."""
    raw: IO[bytes] = path.open("rb")
    if path.suffix == ".gz":
        return cast(IO[bytes], gzip.GzipFile(fileobj=raw, mode="rb")), raw
    return raw, raw


def read_archive(
    path: Path, problems: ArchiveProblems, on_progress: Callable[[int], None] | None = None
) -> Iterator[Page]:
    """Pages of one archive file; `on_progress` gets the bytes read since its last call."""
    lines, raw = _open(path)
    flat_posts: list[CollectedPost] = []
    flat_authors: dict[str, Author] = {}
    position = 0
    with raw, lines:
        for number, line in enumerate(lines, 1):
            if on_progress is not None and number % 64 == 0:
                now = raw.tell()
                on_progress(now - position)
                position = now
            if not line.strip():
                continue
            try:
                obj = orjson.loads(line)
            except orjson.JSONDecodeError as error:
                problems.add(f"{path.name}:{number}", f"not JSON ({error})")
                continue
            if not isinstance(obj, dict):
                problems.add(f"{path.name}:{number}", "not a JSON object")
                continue
            if _is_flat_tweet(obj):
                try:
                    post, author = parse_flat_tweet(obj)
                except ValueError as error:
                    problems.add(f"{path.name}:{number}", str(error))
                    continue
                flat_posts.append(post)
                if author is not None:
                    flat_authors[author.id] = author
                if len(flat_posts) >= FLAT_PAGE_SIZE:
                    yield Page(posts=flat_posts, authors=list(flat_authors.values()))
                    flat_posts, flat_authors = [], {}
                continue
            try:
                parsed = parse_page(obj)
            except MalformedResponse as error:
                problems.add(f"{path.name}:{number}", str(error))
                continue
            yield Page(posts=parsed.posts, authors=parsed.authors, errors=parsed.errors)
        if flat_posts:
            yield Page(posts=flat_posts, authors=list(flat_authors.values()))
        if on_progress is not None:
            on_progress(raw.tell() - position)
