"""Figures over everything stored: from the rollups and the runs, never by counting posts."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import and_, func, select
from sqlalchemy.engine import Connection

from tagpulse.db.models import (
    CollectionRun,
    CollectionRunHashtag,
    DailySpend,
    SourceCount,
    User,
    XComplianceJob,
)
from tagpulse_query.records import ComplianceJobRow, LastRunRow, SourceRow, SpendRow, StatsRow

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
        spend=_spend(connection, datetime.now(UTC).date()),
        x_compliance_jobs=_newest_compliance_jobs(connection),
    )


def _newest_compliance_jobs(connection: Connection) -> tuple[ComplianceJobRow, ...]:
    """The newest X compliance job of each type (the URLs, credentials of X's storage, stay out)."""
    jobs = XComplianceJob.table()
    newest = select(func.max(jobs.c.id)).group_by(jobs.c.job_type)
    columns = [jobs.c[name] for name in ComplianceJobRow.__dataclass_fields__]
    rows = connection.execute(select(*columns).where(jobs.c.id.in_(newest)).order_by(jobs.c.job_type))
    return tuple(ComplianceJobRow(**row._mapping) for row in rows)


def _spend(connection: Connection, today: date) -> tuple[SpendRow, ...]:
    """Per source that was ever billed: today's spend, and the total over every day."""
    spend = DailySpend.table()
    by_source = select(spend.c.source, func.sum(spend.c.cost_micros).label("total")).group_by(spend.c.source)
    totals = {row.source: int(row.total) for row in connection.execute(by_source)}
    todays = {r.source: r for r in connection.execute(select(spend).where(spend.c.day == today))}
    return tuple(
        SpendRow(
            source=source,
            day=today,
            posts_billed=todays[source].posts_billed if source in todays else 0,
            users_billed=todays[source].users_billed if source in todays else 0,
            counts_requests=todays[source].counts_requests if source in todays else 0,
            cost_micros=todays[source].cost_micros if source in todays else 0,
            total_cost_micros=int(total),
        )
        for source, total in sorted(totals.items())
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
