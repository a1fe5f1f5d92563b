"""BENCHMARKS.md holds one section per benchmark, each between its own begin and end markers:
a benchmark rewrites its section and leaves the rest of the page (the others' sections and the
hand-written notes) as it is."""

from __future__ import annotations

from pathlib import Path


def replace_section(path: Path, begin: str, end: str, section: str) -> None:
    """Put `section` (which starts with `begin` and ends with `end`) in place of the page's
    section between those markers; append it when the page has none yet."""
    page = path.read_text() if path.exists() else ""
    if begin in page and end in page:
        head, _, tail = page.partition(begin)
        _, _, rest = tail.partition(end)
        page = head + section + rest
    else:
        page = page.rstrip("\n") + "\n\n" + section + "\n" if page else section + "\n"
    path.write_text(page)
