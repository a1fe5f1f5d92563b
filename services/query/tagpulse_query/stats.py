"""Figures over everything stored: from the rollups and the runs, never by counting posts."""

from __future__ import annotations

from sqlalchemy import and_, func, select
from sqlalchemy.engine import Connection

from tagpulse.db.models import CollectionRun, CollectionRunHashtag, SourceCount, User
from tagpulse_query.records import LastRunRow, SourceRow, StatsRow

# The state a hashtag's progress row ends in when it was collected completely.
SUCCEEDED = "SUCCEEDED"


def stats(connection: Connection) -> StatsRow:
    """Posts fetched and stored per source, users, and each hashtag's last successful run."""
    counts = SourceCount.table()
    sources = tuple(
        SourceRow(r.source, r.posts_fetched, r.posts_stored)
        for r in connection.execute(select(counts).order_by(counts.c.source))
    )
    users = int(connection.execute(select(func.count()).select_from(User.table())).scalar_one())
    return StatsRow(
        sources=sources,
        users=users,
        posts=sum(s.posts_stored for s in sources),
        last_successful_runs=_last_successful_runs(connection),
    )


def _last_successful_runs(connection: Connection) -> tuple[LastRunRow, ...]:
    """Per hashtag, the newest run that collected it completely (even if other hashtags of
    that run failed). A run still going has no end time yet."""
    progress, runs = CollectionRunHashtag.table(), CollectionRun.table()
    last = (
        select(progress.c.hashtag, func.max(progress.c.run_id).label("run_id"))
        .where(progress.c.state == SUCCEEDED)
        .group_by(progress.c.hashtag)
        .subquery()
    )
    statement = (
        select(last.c.hashtag, last.c.run_id, runs.c.ended_at)
        .select_from(last.join(runs, and_(runs.c.id == last.c.run_id)))
        .order_by(last.c.hashtag)
    )
    return tuple(LastRunRow(r.hashtag, r.run_id, r.ended_at) for r in connection.execute(statement))
