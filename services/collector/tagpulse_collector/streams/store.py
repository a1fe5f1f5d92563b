"""Streams as stored: creating, stopping, reading them back with their figures, and every change
to a stream's row that the manager and the writers make (this module alone writes that row).
States:

    RUNNING ──DeleteStream──► STOPPING ──buffer written──► STOPPED
       └──────an error (X refused a rule)──────► FAILED (its buffer is still written out)

A stream whose reader is done (`reader_stopped_at`) and whose buffer is empty is drained
(`drained_at`): its figures are final.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, Engine, case, or_, select, update
from sqlalchemy.engine import Connection, Row

from tagpulse.db.engine import read_snapshot
from tagpulse.db.models import Stream, StreamCount, StreamDeadLetter
from tagpulse.db.records import from_row
from tagpulse.errors import InvalidArgument
from tagpulse.pagination import IdCursor, PageRequest, page_of
from tagpulse.text import has_control_characters
from tagpulse_collector.streams.rules import MAX_RULE_LENGTH, RuleSyntaxError, parse_rule

log = logging.getLogger("tagpulse.streams")

if TYPE_CHECKING:  # the catalog builds the stream readers, which read stream records from here
    from tagpulse_collector.catalog import SourceCatalog

RUNNING, STOPPING, STOPPED, FAILED = "RUNNING", "STOPPING", "STOPPED", "FAILED"
STREAM_STATES = (RUNNING, STOPPING, STOPPED, FAILED)
MAX_RULES = 25
MAX_TAG_LENGTH = 100
DIMENSIONS = ("rule", "language", "country")
DEAD_LETTERS_SHOWN = 10


@dataclass(frozen=True)
class Rule:
    value: str
    tag: str = ""

    @property
    def key(self) -> str:
        """The key its figures are counted under: the tag, else the rule itself."""
        return self.tag or self.value


@dataclass(frozen=True)
class StreamPlan:
    source: str
    rules: tuple[Rule, ...]


@dataclass(frozen=True)
class DeadLetter:
    entry_id: str
    error: str
    attempts: int
    at: datetime


@dataclass(frozen=True)
class StreamRecord:
    id: int
    source: str
    rules: tuple[Rule, ...]
    state: str
    started_at: datetime
    stopped_at: datetime | None
    posts_received: int = 0
    posts_matched: int = 0
    posts_duplicate: int = 0
    posts_unique: int = 0
    posts_new: int = 0
    messages_dead_lettered: int = 0
    posts_deleted: int = 0
    last_error: str = ""
    position: int | None = None
    reader_stopped_at: datetime | None = None
    drained_at: datetime | None = None
    counts: dict[str, list[tuple[str, int]]] = field(default_factory=dict)
    dead_letters: tuple[DeadLetter, ...] = ()


def plan_stream(
    rules: Sequence[tuple[str, str]],
    source: str,
    catalog: SourceCatalog,
) -> StreamPlan:
    """Check a CreateStream request: every problem at once, as InvalidArgument."""
    problems: dict[str, str] = {}
    source, source_problem = catalog.choose(source)
    if source_problem:
        problems["source"] = source_problem
    if not rules:
        problems["rules"] = "give at least one rule"
    elif len(rules) > MAX_RULES:
        problems["rules"] = f"at most {MAX_RULES} rules per stream"
    checked: list[Rule] = []
    seen: set[str] = set()
    for index, (raw_value, raw_tag) in enumerate(rules):
        value, tag = raw_value.strip(), raw_tag.strip()
        where = f"rules[{index}]"
        try:
            # A platform that matches the rules checks them itself; tagpulse must understand
            # every operator of the rules it matches.
            parse_rule(value, strict=catalog.matched_here(source))
        except RuleSyntaxError as error:
            problems[f"{where}.value"] = str(error)
        if value in seen:
            problems[f"{where}.value"] = "the same rule twice"
        seen.add(value)
        if len(tag) > MAX_TAG_LENGTH or has_control_characters(tag):
            problems[f"{where}.tag"] = f"at most {MAX_TAG_LENGTH} characters, without control characters"
        checked.append(Rule(value[:MAX_RULE_LENGTH], tag))
    if problems:
        raise InvalidArgument(problems)
    return StreamPlan(source=source, rules=tuple(checked))


def create_stream(engine: Engine, plan: StreamPlan, now: datetime | None = None) -> int:
    """Record a new RUNNING stream; a collector's manager starts reading it within a second."""
    with engine.begin() as connection:
        stream_id = connection.execute(
            Stream.table()
            .insert()
            .values(
                source=plan.source,
                rules=[{"value": r.value, "tag": r.tag} for r in plan.rules],
                state=RUNNING,
                started_at=now or datetime.now(UTC),
                posts_received=0,
                posts_matched=0,
                posts_duplicate=0,
                posts_unique=0,
                posts_new=0,
                messages_dead_lettered=0,
                posts_deleted=0,
                last_error="",
            )
            .returning(Stream.table().c.id)
        ).scalar_one()
    log.info(
        "stream created",
        extra={"stream_id": stream_id, "source": plan.source, "rules": [r.value for r in plan.rules]},
    )
    return int(stream_id)


def stop_stream(engine: Engine, stream_id: int) -> StreamRecord | None:
    """RUNNING → STOPPING; a stream that is not running is returned as it is."""
    streams = Stream.table()
    with engine.begin() as connection:
        connection.execute(
            update(streams)
            .where(streams.c.id == stream_id, streams.c.state == RUNNING)
            .values(state=STOPPING, stopped_at=datetime.now(UTC))
        )
    record = get_stream(engine, stream_id)
    if record is not None:
        log.info("stream stopped", extra={"stream_id": stream_id, "state": record.state})
    return record


def _rules_of(raw: object) -> tuple[Rule, ...]:
    if not isinstance(raw, list):
        return ()
    return tuple(Rule(str(r.get("value", "")), str(r.get("tag") or "")) for r in raw if isinstance(r, dict))


def _record(
    row: Row[Any], counts: dict[str, list[tuple[str, int]]], dead: tuple[DeadLetter, ...]
) -> StreamRecord:
    return from_row(StreamRecord, row, rules=_rules_of(row.rules), counts=counts, dead_letters=dead)


def _counts(connection: Connection, stream_ids: list[int]) -> dict[int, dict[str, list[tuple[str, int]]]]:
    table = StreamCount.table()
    found: dict[int, dict[str, list[tuple[str, int]]]] = {s: {d: [] for d in DIMENSIONS} for s in stream_ids}
    if stream_ids:
        rows = connection.execute(
            select(table)
            .where(table.c.stream_id.in_(stream_ids))
            .order_by(table.c.stream_id, table.c.dimension, table.c.post_count.desc(), table.c.key)
        )
        for row in rows:
            found[row.stream_id].setdefault(row.dimension, []).append((row.key, row.post_count))
    return found


def _dead_letters(connection: Connection, stream_id: int) -> tuple[DeadLetter, ...]:
    table = StreamDeadLetter.table()
    rows = connection.execute(
        select(table.c.entry_id, table.c.error, table.c.attempts, table.c.dead_lettered_at)
        .where(table.c.stream_id == stream_id)
        .order_by(table.c.dead_lettered_at.desc(), table.c.entry_id.desc())
        .limit(DEAD_LETTERS_SHOWN)
    )
    return tuple(DeadLetter(r.entry_id, r.error, r.attempts, r.dead_lettered_at) for r in rows)


def list_streams_page(
    engine: Engine, page: PageRequest[IdCursor]
) -> tuple[list[StreamRecord], IdCursor | None]:
    """One page of streams, newest first, and the cursor of the next page (None on the last)."""
    before = page.after.before_id if page.after else None
    return page_of(list_streams(engine, page.size + 1, before), page.size, lambda stream: IdCursor(stream.id))


def list_streams(
    engine: Engine, limit: int, before_id: int | None = None, stream_id: int | None = None
) -> list[StreamRecord]:
    """Streams newest first (by id), at most `limit`, older than `before_id` when given."""
    streams = Stream.table()
    query = select(streams).order_by(streams.c.id.desc()).limit(limit)
    if before_id is not None:
        query = query.where(streams.c.id < before_id)
    if stream_id is not None:
        query = query.where(streams.c.id == stream_id)
    # One snapshot: a stream's figures and its counts per rule, language and country agree.
    with read_snapshot(engine) as connection:
        rows = connection.execute(query).all()
        counts = _counts(connection, [row.id for row in rows])
        dead = {r.id: _dead_letters(connection, r.id) if r.messages_dead_lettered else () for r in rows}
    return [_record(row, counts[row.id], dead[row.id]) for row in rows]


def get_stream(engine: Engine, stream_id: int) -> StreamRecord | None:
    found = list_streams(engine, limit=1, stream_id=stream_id)
    return found[0] if found else None


def active_streams(engine: Engine) -> list[StreamRecord]:
    """Streams not drained yet: running ones, and stopped ones whose buffer is still written."""
    streams = Stream.table()
    with engine.connect() as connection:
        rows = connection.execute(
            select(streams).where(streams.c.drained_at.is_(None)).order_by(streams.c.id)
        ).all()
    return [_record(row, {}, ()) for row in rows]


def mark_reader_stopped(engine: Engine, stream_ids: Collection[int]) -> None:
    """No reader will append to these streams' buffers again."""
    if not stream_ids:
        return
    streams = Stream.table()
    with engine.begin() as connection:
        connection.execute(
            update(streams)
            .where(streams.c.id.in_(sorted(stream_ids)), streams.c.reader_stopped_at.is_(None))
            .values(reader_stopped_at=datetime.now(UTC))
        )


def fail_stream(engine: Engine, stream_id: int, error: str) -> None:
    """A RUNNING stream stops with an error it cannot get past (X refused one of its rules, or
    its credits are spent)."""
    streams = Stream.table()
    with engine.begin() as connection:
        connection.execute(
            update(streams)
            .where(streams.c.id == stream_id, streams.c.state == RUNNING)
            .values(state=FAILED, stopped_at=datetime.now(UTC), last_error=error[:2000])
        )


def set_last_error(engine: Engine, stream_ids: Collection[int], error: str) -> None:
    if not stream_ids:
        return
    streams = Stream.table()
    with engine.begin() as connection:
        connection.execute(
            update(streams).where(streams.c.id.in_(sorted(stream_ids))).values(last_error=error[:2000])
        )


def mark_drained(connection: Connection, stream_id: int) -> None:
    """The buffer is written out after the reader stopped: STOPPING becomes STOPPED."""
    streams = Stream.table()
    now = datetime.now(UTC)
    connection.execute(
        update(streams)
        .where(streams.c.id == stream_id, streams.c.drained_at.is_(None))
        .values(drained_at=now)
    )
    connection.execute(
        update(streams).where(streams.c.id == stream_id, streams.c.state == STOPPING).values(state=STOPPED)
    )


def lock_settled_floor(connection: Connection, stream_id: int) -> tuple[int, int] | None:
    """Lock the stream's row, which settling, pruning and draining all take first, and return
    the entry id below which every entry is settled and forgotten; None once the stream is
    drained (then all of them are)."""
    streams = Stream.table()
    row = connection.execute(
        select(streams.c.drained_at, streams.c.settled_below_ms, streams.c.settled_below_seq)
        .where(streams.c.id == stream_id)
        .with_for_update()
    ).one()
    return None if row.drained_at is not None else (row.settled_below_ms, row.settled_below_seq)


def raise_settled_floor(connection: Connection, stream_id: int, floor: tuple[int, int]) -> bool:
    """Every entry below `floor` is settled: keep that on the row (locked first). False when the
    floor was already there or higher, or the stream is drained."""
    settled = lock_settled_floor(connection, stream_id)
    if settled is None or floor <= settled:
        return False
    streams = Stream.table()
    connection.execute(
        update(streams)
        .where(streams.c.id == stream_id)
        .values(settled_below_ms=floor[0], settled_below_seq=floor[1])
    )
    return True


def _greatest(column: ColumnElement[int | None], value: int) -> ColumnElement[int | None]:
    # GREATEST on PostgreSQL, MAX(a, b) on SQLite: spelled out once for both.
    return case((or_(column.is_(None), column < value), value), else_=column)


def add_figures(
    connection: Connection,
    stream_id: int,
    received: int,
    matched: int,
    unique: int,
    new: int,
    position: int | None,
    deleted: int = 0,
) -> None:
    """Add a written batch's figures, and move the reader's position forward (never back)."""
    streams = Stream.table()
    values: dict[str, object] = {
        "posts_received": streams.c.posts_received + received,
        "posts_matched": streams.c.posts_matched + matched,
        "posts_duplicate": streams.c.posts_duplicate + (matched - unique),
        "posts_unique": streams.c.posts_unique + unique,
        "posts_new": streams.c.posts_new + new,
        "posts_deleted": streams.c.posts_deleted + deleted,
    }
    if position is not None:
        values["position"] = _greatest(streams.c.position, position)
    connection.execute(update(streams).where(streams.c.id == stream_id).values(**values))


def count_dead_letter(connection: Connection, stream_id: int, error: str) -> None:
    """A message given up on: received, dead-lettered, and the stream's last error."""
    streams = Stream.table()
    connection.execute(
        update(streams)
        .where(streams.c.id == stream_id)
        .values(
            posts_received=streams.c.posts_received + 1,
            messages_dead_lettered=streams.c.messages_dead_lettered + 1,
            last_error=error[:2000],
        )
    )
