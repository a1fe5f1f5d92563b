"""The `import` command: a progress bar while `importer` works, the figures at the end."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from tagpulse.db.engine import database_engine
from tagpulse_collector.archive.importer import ImportReport, import_archives
from tagpulse_collector.ingestion.batches import IngestResult
from tagpulse_collector.query_client import invalidate_once
from tagpulse_collector.settings import CollectorSettings


def _print_report(console: Console, report: ImportReport) -> None:
    table = Table(title="import finished", show_header=False)
    for label, value in (
        ("files", report.files),
        ("pages", report.pages),
        ("posts fetched", report.fetched),
        ("posts new", report.new),
        ("posts duplicate", report.duplicate),
        ("errors reported by X in the pages", report.api_errors),
        ("lines skipped", report.problems.count),
        ("seconds", f"{report.seconds:.1f}"),
        ("posts per second", f"{report.fetched / report.seconds:,.0f}" if report.seconds else "-"),
    ):
        table.add_row(label, str(value))
    console.print(table)
    for example in report.problems.examples:
        console.print(f"  skipped {example}", soft_wrap=True)


def run_import(
    settings: CollectorSettings,
    files: list[Path],
    batch_posts: int,
    writers: int,
    show_progress: bool,
    invalidate: bool,
    as_json: bool,
) -> int:
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        print(f"no such file: {', '.join(missing)}", file=sys.stderr)
        return 2
    console = Console(stderr=True)
    engine = database_engine(settings)
    total = sum(f.stat().st_size for f in files)
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TextColumn("{task.fields[posts]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        disable=not show_progress,
    )
    figures = {"fetched": 0, "new": 0}

    try:
        with progress:
            task = progress.add_task("importing", total=total, posts="")

            def on_bytes(count: int) -> None:
                progress.advance(task, count)

            def on_batch(result: IngestResult) -> None:
                figures["fetched"] += result.fetched
                figures["new"] += result.new
                progress.update(task, posts=f"{figures['fetched']:,} posts, {figures['new']:,} new")

            report = import_archives(engine, files, batch_posts, writers, on_bytes, on_batch)
    finally:
        engine.dispose()
    if as_json:
        print(json.dumps(report.as_dict()))
    else:
        _print_report(console, report)
    if invalidate and report.new:
        api_token = settings.api_token.get_secret_value() if settings.api_token else None
        # A few seconds only: an import on a laptop often runs without a query service.
        invalidate_once(
            settings.query_address,
            api_token,
            f"archive import stored {report.new} new posts",
            retry_seconds=5,
        )
    return 0
