"""The SQL that writes a batch of one stream's buffer entries exactly once: it settles the entries,
stores the matched posts through the one ingestion path, keeps the stream's first sight of each
post and counts only those, and records dead letters once.

Exactly-once figures on at-least-once delivery: in the same transaction as the posts,

1. the batch's buffer entry ids go into `stream_entries` (`settle_entries`); entries already
   there were written before (a writer died between the commit and the acknowledgement, or
   another writer claimed them while this one was still writing) and are only acknowledged;
2. the matched posts are stored with `ingestion.batches.ingest_pages` (dedupe, rollups,
   country): `posts_new` counts the posts new to the database;
3. (stream, source, post id) goes into `stream_posts` with ON CONFLICT DO NOTHING: the rows
   that insert created are the stream's unique posts, and only they add to the counts per rule,
   language and country; every other matched message is a duplicate;
4. the deletions the source announced (Bluesky) remove the posts that are stored, through the
   one deletion path (`deletion.posts`), and are counted;
5. the figures and the reader's position are added to the stream's row (`store.add_figures`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import and_, bindparam, delete, or_, select, text
from sqlalchemy.engine import Connection

from tagpulse.db.engine import upsert
from tagpulse.db.models import (
    STREAM_COUNT_KEY,
    StreamCount,
    StreamDeadLetter,
    StreamEntry,
    width,
)
from tagpulse.db.types import UTCDateTime
from tagpulse_collector.deletion.posts import UPSTREAM, delete_posts
from tagpulse_collector.ingestion.batches import prepare_batch, write_prepared
from tagpulse_collector.metrics import POSTS_DELETED
from tagpulse_collector.sources.base import Page
from tagpulse_collector.streams import store
from tagpulse_collector.streams.buffer import Entry, entry_key
from tagpulse_collector.streams.messages import (
    DELETED,
    MESSAGE,
    BadMessage,
    BufferMessage,
    ParsedMessage,
    parse_message,
)
from tagpulse_collector.streams.store import StreamRecord

MAX_DEAD_LETTER_BODY = 64 * 1024
# A rule, language or country longer than its column is counted under its first characters.
MAX_KEY = width(STREAM_COUNT_KEY)


@dataclass(frozen=True)
class ParsedEntry:
    entry: Entry
    message: BufferMessage
    # The post of a matched message; None for an unmatched count or a message that matched no rule.
    parsed: ParsedMessage | None


@dataclass(frozen=True)
class WriteResult:
    entries: int = 0
    received: int = 0
    matched: int = 0
    unique: int = 0
    new: int = 0
    deleted: int = 0

    @property
    def duplicate(self) -> int:
        return self.matched - self.unique


def parse_entry(stream: StreamRecord, entry: Entry) -> ParsedEntry:
    """Raises BadMessage when the entry or its message cannot be written."""
    message = BufferMessage.from_fields(entry.fields)
    if message.error:
        raise BadMessage(message.error)
    parsed = None
    if message.kind == MESSAGE and message.rules:
        parsed = parse_message(stream.source, message.body)
    return ParsedEntry(entry, message, parsed)


def write_entries(
    connection: Connection, stream: StreamRecord, entries: Sequence[ParsedEntry]
) -> WriteResult:
    """Store a batch of one stream's entries in the connection's transaction (see the module)."""
    fresh_keys = settle_entries(connection, stream.id, [entry_key(e.entry.id) for e in entries])
    fresh = [e for e in entries if entry_key(e.entry.id) in fresh_keys]
    if not fresh:
        return WriteResult()
    received = sum(e.message.count if e.message.kind != MESSAGE else 1 for e in fresh)
    matched = [e for e in fresh if e.parsed is not None]
    positions = [e.message.position for e in fresh if e.message.position is not None]
    unique, new = 0, 0
    if matched:
        posts = [e.parsed.post for e in matched if e.parsed is not None]
        authors = [a for e in matched if e.parsed is not None for a in e.parsed.authors]
        batch = prepare_batch([Page(posts=posts, authors=authors)])
        new = write_prepared(connection, batch).new
        # (No staged posts when every matched post's id was too long to store.)
        unique = _count_unique(connection, stream, matched) if batch.posts else 0
    gone = sorted({e.message.body.decode() for e in fresh if e.message.kind == DELETED})
    # The platform says these posts were deleted: they leave tagpulse with everything they
    # counted, in this batch's transaction (the stream counts how many of them were stored).
    deleted = delete_posts(connection, [(stream.source, post_id) for post_id in gone]).posts
    if deleted:
        POSTS_DELETED.labels(source=stream.source, reason=UPSTREAM).inc(deleted)
    store.add_figures(
        connection,
        stream.id,
        received=received,
        matched=len(matched),
        unique=unique,
        new=new,
        position=max(positions) if positions else None,
        deleted=deleted,
    )
    return WriteResult(len(fresh), received, len(matched), unique, new, deleted)


def settle_entries(
    connection: Connection, stream_id: int, keys: Sequence[tuple[int, int]]
) -> set[tuple[int, int]]:
    """Record buffer entries as settled; returns the ones nobody settled before.

    The stream's row is locked first, as pruning and draining lock it: an entry that was
    settled and then forgotten (below `settled_below_*`, or after the drain) is never taken for
    a new one, however long a writer held its copy."""
    floor = store.lock_settled_floor(connection, stream_id)
    if floor is None:
        return set()
    candidates = sorted({key for key in keys if key >= floor})
    if not candidates:
        return set()
    if connection.dialect.name == "postgresql":
        # Two array parameters: one short statement whatever the batch size, where a row of
        # parameters per entry cost a stream batch more than its posts' ingestion.
        inserted = connection.execute(
            SETTLE_ENTRIES_POSTGRESQL,
            {"stream_id": stream_id, "ms": [k[0] for k in candidates], "seq": [k[1] for k in candidates]},
        )
        return {(int(ms), int(seq)) for ms, seq in inserted}
    table = StreamEntry.table()
    # Rows as execute() parameters, not .values(): the statement is compiled once and cached
    # (SQLAlchemy's "insertmanyvalues" still sends one INSERT per 1,000 rows).
    inserted = connection.execute(
        upsert(connection, table).on_conflict_do_nothing().returning(table.c.entry_ms, table.c.entry_seq),
        [{"stream_id": stream_id, "entry_ms": ms, "entry_seq": seq} for ms, seq in candidates],
    )
    return {(int(ms), int(seq)) for ms, seq in inserted}


SETTLE_ENTRIES_POSTGRESQL = text(
    """
INSERT INTO stream_entries (stream_id, entry_ms, entry_seq)
SELECT :stream_id, e.ms, e.seq FROM unnest(CAST(:ms AS bigint[]), CAST(:seq AS bigint[])) AS e(ms, seq)
ORDER BY e.ms, e.seq
ON CONFLICT DO NOTHING
RETURNING entry_ms, entry_seq
"""
)


# The stream's first sight of each post of the batch, with the stored post's language and
# country: one statement over the rows the ingestion path just staged (`tagpulse_stage_posts`, the
# batch's distinct posts, see ingestion/staging.py) joined to `posts`, rather than a lookup and
# an insert with a parameter per post, which cost most of a stream batch's time (BENCHMARKS.md).
# (`WHERE true` lets SQLite tell the upsert's ON CONFLICT from a join's ON.)
INSERT_FIRST_SIGHTINGS = text(
    """
INSERT INTO stream_posts (stream_id, source, post_id, language, country_code, first_seen_at)
SELECT :stream_id, p.source, p.id, p.language, p.country_code, :now
FROM tagpulse_stage_posts s JOIN posts p ON p.source = s.source AND p.id = s.id
WHERE true
ORDER BY p.source, p.id
ON CONFLICT (stream_id, source, post_id) DO NOTHING
RETURNING source, post_id, language, country_code
"""
).bindparams(bindparam("now", type_=UTCDateTime()))


def _count_unique(connection: Connection, stream: StreamRecord, matched: Sequence[ParsedEntry]) -> int:
    """Insert the stream's first sight of each post; count and roll up only those."""
    rule_keys: dict[tuple[str, str], set[str]] = {}
    for entry in matched:
        assert entry.parsed is not None
        keys = rule_keys.setdefault((entry.parsed.post.source, entry.parsed.post.id), set())
        keys.update(stream.rules[i].key for i in entry.message.rules if 0 <= i < len(stream.rules))
    first_seen = connection.execute(
        INSERT_FIRST_SIGHTINGS, {"stream_id": stream.id, "now": datetime.now(UTC)}
    ).all()
    counts: Counter[tuple[str, str]] = Counter()
    for source, post_id, language, country in first_seen:
        counts.update(("rule", key) for key in rule_keys[(source, post_id)])
        counts[("language", language)] += 1
        counts[("country", country)] += 1
    if counts:
        table = StreamCount.table()
        statement = upsert(connection, table)
        connection.execute(
            statement.on_conflict_do_update(
                index_elements=["stream_id", "dimension", "key"],
                set_={"post_count": table.c.post_count + statement.excluded.post_count},
            ),
            [
                {"stream_id": stream.id, "dimension": dimension, "key": key[:MAX_KEY], "post_count": n}
                for (dimension, key), n in sorted(counts.items())
            ],
        )
    return len(first_seen)


# What became of an entry given up on (record_dead_letter).
DEAD_LETTERED, ALREADY_DEAD_LETTERED, WRITTEN_ELSEWHERE = "dead-lettered", "already dead-lettered", "written"


def record_dead_letter(
    connection: Connection, stream: StreamRecord, entry: Entry, error: str, attempts: int
) -> str:
    """Record a dead letter once and count it (DEAD_LETTERED). An entry that another writer
    settled first is not counted again: ALREADY_DEAD_LETTERED, or WRITTEN_ELSEWHERE when that
    writer stored it after all (then it is no dead letter)."""
    table = StreamDeadLetter.table()
    if not settle_entries(connection, stream.id, [entry_key(entry.id)]):
        known = connection.execute(
            select(table.c.entry_id).where(table.c.stream_id == stream.id, table.c.entry_id == entry.id)
        ).first()
        return ALREADY_DEAD_LETTERED if known is not None else WRITTEN_ELSEWHERE
    body = entry.fields.get(b"b", b"") or repr(dict(entry.fields)).encode()
    connection.execute(
        upsert(connection, table)
        .values(
            stream_id=stream.id,
            entry_id=entry.id,
            error=error[:2000],
            attempts=attempts,
            body=body[:MAX_DEAD_LETTER_BODY].decode("utf-8", "replace").replace("\x00", ""),
            dead_lettered_at=datetime.now(UTC),
        )
        .on_conflict_do_nothing()
    )
    store.count_dead_letter(
        connection, stream.id, f"message {entry.id} dead-lettered after {attempts} failed attempts: {error}"
    )
    return DEAD_LETTERED


def prune_entries(connection: Connection, stream_id: int, floor: tuple[int, int]) -> None:
    """Forget settled entries below `floor`: they are acknowledged and never delivered again.
    The floor is kept on the stream's row, so a copy of one that a writer still holds is known
    for what it is (see `settle_entries`)."""
    if not store.raise_settled_floor(connection, stream_id, floor):
        return
    table = StreamEntry.table()
    connection.execute(
        delete(table).where(
            table.c.stream_id == stream_id,
            or_(
                table.c.entry_ms < floor[0],
                and_(table.c.entry_ms == floor[0], table.c.entry_seq < floor[1]),
            ),
        )
    )


def forget_entries(connection: Connection, stream_id: int) -> None:
    table = StreamEntry.table()
    connection.execute(delete(table).where(table.c.stream_id == stream_id))
