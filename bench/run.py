"""The ingestion benchmark: our import, the ORM row-at-a-time baseline and the raw COPY floor,
on the same generated archive, each into a fresh PostgreSQL database; writes BENCHMARKS.md.

    python -m bench.run                       # 1,000,000 posts; the ORM on the first 10,000
    python -m bench.run --posts 100000 --out /tmp/BENCHMARKS.md

The server is TAGPULSE_BENCH_DATABASE_URL (default: the local PostgreSQL); the databases are
named tagpulse_bench_<pid>_<n> and dropped afterwards. Not a test: nothing here is timed
against a threshold, the numbers are written down.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

from bench.sections import replace_section
from tagpulse.db.models import Hashtag, Post, PostCountByBucket, PostHashtag, User
from tagpulse.migrate import upgrade

ROOT = Path(__file__).resolve().parents[1]
SERVER = os.environ.get(
    "TAGPULSE_BENCH_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


@dataclass
class Result:
    fetched: int
    new: int
    seconds: float
    max_rss_mb: float
    extra: dict[str, Any]

    @property
    def rate(self) -> float:
        return self.fetched / self.seconds


class Databases:
    def __init__(self) -> None:
        self.count = 0
        self.admin = create_engine(SERVER, isolation_level="AUTOCOMMIT")

    def fresh(self) -> str:
        self.count += 1
        name = f"tagpulse_bench_{os.getpid()}_{self.count}"
        with self.admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        url = make_url(SERVER).set(database=name).render_as_string(hide_password=False)
        upgrade(url)
        return url

    def drop(self, url: str) -> None:
        with self.admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)'))


INGESTION_BEGIN = "<!-- ingestion:begin -->"
INGESTION_END = "<!-- ingestion:end -->"


def run(command: list[str], database_url: str) -> tuple[dict[str, Any], float, float]:
    """Run a command; (its last stdout line as JSON, wall seconds, peak RSS in MiB)."""
    started = time.monotonic()
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        env={**os.environ, "TAGPULSE_DATABASE_URL": database_url, "TAGPULSE_LOG_LEVEL": "WARNING"},
        stdout=subprocess.PIPE,
    )
    assert process.stdout is not None
    output = process.stdout.read().decode()
    _, status, usage = os.wait4(process.pid, 0)
    if status != 0:
        raise SystemExit(f"{' '.join(command)} failed with status {status}")
    return json.loads(output.strip().splitlines()[-1]), time.monotonic() - started, usage.ru_maxrss / 1024


def import_once(python: str, data: Path, writers: int, databases: Databases) -> tuple[Result, str]:
    """Our import into a fresh database, checked, then imported again (all duplicates)."""
    command = [
        *(python, "-m", "tagpulse_collector", "import", str(data)),
        *("--no-progress", "--no-invalidate", "--json", "--writers", str(writers)),
    ]
    url = databases.fresh()
    try:
        figures, _, rss = run(command, url)
        result = Result(figures["posts_fetched"], figures["posts_new"], figures["seconds"], rss, figures)
        # First, before anything else reads the tables: what the first reader after an import waits.
        result.extra["cold"], _, _ = run([python, "bench/cold_reads.py"], url)
        verdict = check(url, result.new)
        result.extra["second_import"], _, _ = run(command, url)
    finally:
        databases.drop(url)
    return result, verdict


def check(url: str, new: int) -> str:
    """Stored exactly once, and the rollups agree with the rows."""
    engine = create_engine(url)
    with engine.connect() as connection:
        posts = connection.execute(select(func.count()).select_from(Post.table())).scalar_one()
        bucketed = connection.execute(select(func.sum(PostCountByBucket.post_count))).scalar_one()
        links = connection.execute(select(func.count()).select_from(PostHashtag.table())).scalar_one()
        tagged = connection.execute(select(func.sum(Hashtag.post_count))).scalar_one()
        counted = connection.execute(select(func.sum(User.post_count))).scalar_one()
    engine.dispose()
    problems = [
        f"{name}: {got} != {want}"
        for name, got, want in (
            ("posts", posts, new),
            ("post_counts_by_bucket", bucketed, posts),
            ("hashtags.post_count", tagged, links),
            ("users.post_count", counted, posts),
        )
        if got != want
    ]
    return "; ".join(problems) or f"ok ({posts:,} posts, {links:,} hashtag links)"


def machine() -> dict[str, str]:
    def lscpu(field: str) -> str:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines():
            if line.startswith(field + ":"):
                return line.split(":", 1)[1].strip()
        return "?"

    meminfo = Path("/proc/meminfo").read_text().splitlines()
    memory = next(line for line in meminfo if line.startswith("MemTotal"))
    engine = create_engine(SERVER)
    with engine.connect() as connection:
        settings = {
            name: connection.execute(text(f"SHOW {name}")).scalar_one()
            for name in ("server_version", "shared_buffers", "max_wal_size", "synchronous_commit")
        }
    engine.dispose()
    return {
        "cpu": f"{lscpu('Model name')}, {lscpu('CPU(s)')} CPUs ({lscpu('Hypervisor vendor')} VM)",
        "memory": f"{int(memory.split()[1]) / 2**20:.1f} GiB",
        "os": platform.platform(),
        "python": platform.python_version(),
        "postgresql": ", ".join(f"{k} {v}" for k, v in settings.items()),
        "load": " ".join(f"{v:.2f}" for v in os.getloadavg()),
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--posts", type=int, default=1_000_000)
    parser.add_argument("--orm-posts", type=int, default=10_000, help="the ORM baseline runs on this many")
    parser.add_argument("--writers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeat", type=int, default=2, help="runs of each measurement; the best is kept")
    parser.add_argument("--data", type=Path, default=ROOT / "var" / "bench" / "posts.jsonl")
    parser.add_argument("--out", type=Path, default=ROOT / "BENCHMARKS.md")
    args = parser.parse_args()

    if not args.data.exists():
        subprocess.run(
            [sys.executable, "bench/generate.py", "--posts", str(args.posts), "--out", str(args.data)],
            cwd=ROOT,
            check=True,
        )
    python = sys.executable
    before = machine()
    databases = Databases()
    ours: dict[int, Result] = {}
    checks: dict[int, str] = {}
    breakdown: dict[str, Any] = {}
    floor: Result | None = None
    # The machine is shared: every measurement runs `--repeat` times, the rounds interleaved so
    # that a burst of other work does not land on one row only, and the best run is kept.
    for _ in range(args.repeat):
        for writers in args.writers:
            result, verdict = import_once(python, args.data, writers, databases)
            if writers not in ours or result.rate > ours[writers].rate:
                ours[writers], checks[writers] = result, verdict
            print(
                f"ours, {writers} writer(s): {result.rate:,.0f} posts/s, {result.max_rss_mb:.0f} MiB",
                file=sys.stderr,
            )
        url = databases.fresh()
        try:
            measured, _, _ = run([python, "bench/breakdown.py", str(args.data), "--posts", "100000"], url)
        finally:
            databases.drop(url)
        if not breakdown or sum(measured["seconds"].values()) < sum(breakdown["seconds"].values()):
            breakdown = measured
        url = databases.fresh()
        try:
            figures, _, rss = run([python, "bench/copy_floor.py", str(args.data)], url)
        finally:
            databases.drop(url)
        seconds = figures["seconds"]["primary_key_only"]
        copied = Result(figures["posts"], figures["posts"], seconds, rss, figures)
        if floor is None or copied.rate > floor.rate:
            floor = copied
        print(f"COPY floor: {copied.rate:,.0f} posts/s", file=sys.stderr)
    assert floor is not None

    url = databases.fresh()
    try:
        command = [python, "bench/orm_baseline.py", str(args.data), "--posts", str(args.orm_posts)]
        figures, _, rss = run(command, url)
        orm = Result(figures["posts_fetched"], figures["posts_new"], figures["seconds"], rss, figures)
    finally:
        databases.drop(url)
    print(f"ORM: {orm.rate:,.0f} posts/s", file=sys.stderr)

    after = machine()
    write_report(args, before, after, ours, checks, orm, floor, breakdown)
    return 0


FLOOR_SHARE_TARGET = 0.35
SEED_STYLE_TARGET = 40
RSS_TARGET_MB = 200


def write_report(
    args: argparse.Namespace,
    before: dict[str, str],
    after: dict[str, str],
    ours: dict[int, Result],
    checks: dict[int, str],
    orm: Result,
    floor: Result,
    breakdown: dict[str, Any],
) -> None:
    best = max(ours.values(), key=lambda r: r.rate)
    any_run = next(iter(ours.values()))
    rows = []
    for writers, result in ours.items():
        second = result.extra["second_import"]
        rows.append(
            f"| tagpulse ingest (`import --writers {writers}`): parse, dedupe, users, posts, links, "
            "all rollups, ANALYZE "
            f"| {result.fetched:,} | {result.new:,} | {result.seconds:.1f} | **{result.rate:,.0f}** "
            f"| {result.max_rss_mb:.0f} | {checks[writers]}; importing it again: {second['posts_new']} new, "
            f"{second['posts_per_second']:,} posts/s |"
        )
    rows.append(
        f"| ORM row at a time (the seeds' way), first {orm.fetched:,} posts | {orm.fetched:,} | {orm.new:,} "
        f"| {orm.seconds:.1f} | {orm.rate:,.0f} | {orm.max_rss_mb:.0f} | the whole archive would take "
        f"{any_run.fetched / orm.rate / 60:,.0f} min (extrapolated) |"
    )
    posts_table_seconds = floor.extra["seconds"]["posts_table"]
    rows.append(
        f"| raw `COPY` of the distinct posts (id, author, time, language, text) into a table with only a "
        f"primary key (**the floor**) | {floor.fetched:,} | {floor.new:,} | {floor.seconds:.1f} "
        f"| {floor.rate:,.0f} | – | database time only: parsing and rendering untimed |"
    )
    rows.append(
        "| raw `COPY` of the same posts into the real `posts` table (its indexes), same run "
        f"| {floor.fetched:,} | {floor.new:,} | {posts_table_seconds:.1f} "
        f"| {floor.fetched / posts_table_seconds:,.0f} | – "
        "| no links, users or rollups |"
    )
    per_post = 1e6 / breakdown["posts"]
    total = sum(breakdown["seconds"].values())
    statements = "\n".join(
        f"| {name} | {seconds * per_post:.1f} | {seconds / total:.0%} |"
        for name, seconds in breakdown["seconds"].items()
    )
    share = best.rate / floor.rate
    seed_ratio = best.rate / orm.rate
    verdicts = [
        f"≥ {FLOOR_SHARE_TARGET:.0%} of the COPY floor: {_met(share >= FLOOR_SHARE_TARGET)} "
        f"({best.rate:,.0f} posts/s, {share:.0%} of {floor.rate:,.0f})",
        f"≥ {SEED_STYLE_TARGET}× the seeds' way: {_met(seed_ratio >= SEED_STYLE_TARGET)} "
        f"({seed_ratio:,.0f}×)",
        f"peak RSS ≤ {RSS_TARGET_MB} MB: {_met(best.max_rss_mb <= RSS_TARGET_MB)} "
        f"({best.max_rss_mb:.0f} MiB)",
        "every figure exact: " + _met(all(c.startswith("ok") for c in checks.values())),
    ]
    cold_rows = "\n".join(
        f"| `import --writers {writers}` | "
        + " · ".join(f"{tag} {ms:.1f}" for tag, ms in result.extra["cold"]["top_users_ms"].items())
        + " |"
        for writers, result in ours.items()
    )
    cpus = os.cpu_count() or 1
    load = max(float(before["load"].split()[1]), float(after["load"].split()[1]))
    report = f"""{INGESTION_BEGIN}
# Benchmarks: ingestion

## {any_run.fetched:,} X API v2 posts into PostgreSQL

Generated by `python -m bench.run` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; the archive by
`bench/generate.py` ({args.data.stat().st_size / 2**20:.0f} MiB of twarc2 JSONL: {any_run.fetched:,} tweets in
{any_run.extra["pages"]:,} search pages over 10 hashtags, {any_run.new:,} distinct posts, 200,000 authors,
15 % retweets, 3 % geotagged). Each row starts from a fresh, migrated database; each
measurement but the ORM's ran {args.repeat} times, interleaved with the others, and the best run is shown.
The 5-minute load average reached {load:.1f} on {cpus} CPUs (a shared machine): the ratios between rows
of one run say more than the absolute rates.

| machine | |
|---|---|
| CPU | {before["cpu"]} |
| memory | {before["memory"]} |
| OS, Python | {before["os"]}, Python {before["python"]} |
| PostgreSQL | {before["postgresql"]} (same machine, shared) |
| load average (1, 5, 15 min) | before {before["load"]}; after {after["load"]} (shared machine) |

| what | posts fetched | posts new | seconds | posts/s | peak RSS (MiB) | notes |
|---|---|---|---|---|---|---|
{chr(10).join(rows)}

Targets: {"; ".join(verdicts)}.

### Cold top users right after the import

Milliseconds for each hashtag's first `users:top` answer, computed from the tables by the query
service's domain function (`bench/cold_reads.py`), before anything else read them:

| after | (all) and each hashtag, ms |
|---|---|
{cold_rows}

### Database time per new post, by statement

The first {breakdown["posts"]:,} new posts of the archive, in batches of 10,000, into a fresh
database (`bench/breakdown.py`; client-side timing, round trips included; parsing untimed).

| statement | µs per new post | share |
|---|---|---|
{statements}
| **all** | **{total * per_post:.1f}** | |
{INGESTION_END}"""
    replace_section(args.out, INGESTION_BEGIN, INGESTION_END, report)
    print(f"wrote {args.out}", file=sys.stderr)


def _met(ok: bool) -> str:
    return "met" if ok else "**missed**"


if __name__ == "__main__":
    sys.exit(main())
