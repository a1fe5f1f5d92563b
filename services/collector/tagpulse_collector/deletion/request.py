"""DeletePosts: the check of a request and its execution, in bounded batches."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial

from sqlalchemy import Engine

from tagpulse.db.models import PLATFORM_ID
from tagpulse.errors import InvalidArgument
from tagpulse.text import has_control_characters, quoted
from tagpulse_collector.deletion.posts import ON_REQUEST, Removed, delete_author_posts, delete_posts
from tagpulse_collector.ingestion.batches import in_transaction
from tagpulse_collector.metrics import POSTS_DELETED

MAX_POST_IDS = 1000
# Posts of an author deleted per transaction.
AUTHOR_BATCH = 1000


@dataclass(frozen=True)
class Deletion:
    source: str
    post_ids: tuple[str, ...] = ()
    author_id: str = ""


def plan_deletion(source: str, post_ids: Sequence[str], author_id: str, sources: Sequence[str]) -> Deletion:
    """Check a DeletePosts request; every field that is wrong at once."""
    problems: dict[str, str] = {}
    name = source.strip().lower()
    if name not in sources:
        problems["source"] = f"unknown source {quoted(source)}; use one of: {', '.join(sources)}"
    if bool(post_ids) == bool(author_id):
        problems["post_ids"] = "give post_ids or author_id, not both"
    if len(post_ids) > MAX_POST_IDS:
        problems["post_ids"] = f"at most {MAX_POST_IDS} ids per request"
    width = PLATFORM_ID.length or 64
    for index, post_id in enumerate(post_ids[:MAX_POST_IDS]):
        if not post_id or len(post_id) > width or has_control_characters(post_id):
            problems[f"post_ids[{index}]"] = (
                f"{quoted(post_id)} is not a post id (1–{width} printable characters)"
            )
    if author_id and (len(author_id) > width or has_control_characters(author_id)):
        problems["author_id"] = f"{quoted(author_id)} is not a user id (1–{width} printable characters)"
    if problems:
        raise InvalidArgument(problems)
    return Deletion(source=name, post_ids=tuple(dict.fromkeys(post_ids)), author_id=author_id)


def execute_deletion(engine: Engine, deletion: Deletion) -> Removed:
    """Delete what the request names, through the one deletion path."""
    if deletion.post_ids:
        keys = [(deletion.source, post_id) for post_id in deletion.post_ids]
        removed = in_transaction(engine, partial(delete_posts, keys=keys))
    else:
        removed = Removed()
        while True:
            batch = in_transaction(
                engine,
                partial(
                    delete_author_posts,
                    source=deletion.source,
                    authors=[deletion.author_id],
                    limit=AUTHOR_BATCH,
                ),
            )
            if batch.posts == 0:
                break
            removed = removed + batch
    POSTS_DELETED.labels(source=deletion.source, reason=ON_REQUEST).inc(removed.posts)
    return removed
