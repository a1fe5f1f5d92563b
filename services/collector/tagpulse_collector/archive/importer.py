"""`python -m tagpulse_collector import FILE…`: load X archives (twarc2 JSONL) into the database.

A reader thread parses the files and prepares batches of several pages while the writer
stores the previous batch, each batch in one transaction, through the same ingestion path as
collection runs, so an import is idempotent: importing a file twice stores nothing twice,
and a post already collected live is a duplicate, not a second post (archive tweets keep the
source "x"). The queue between them is short, so memory stays flat whatever the file sizes.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.engine import Connection

from tagpulse_collector.archive.files import ArchiveProblems, read_archive
from tagpulse_collector.ingestion.batches import (
    Batch,
    IngestResult,
    in_transaction,
    prepare_batch,
    write_prepared,
)
from tagpulse_collector.ingestion.statistics import INGESTION_TABLES, analyze
from tagpulse_collector.sources.base import Page

log = logging.getLogger("tagpulse.import")

# Posts per transaction: big enough that per-statement costs vanish, small enough that a
# crash loses little and memory stays flat.
DEFAULT_BATCH_POSTS = 10_000


@dataclass
class ImportReport:
    files: int = 0
    pages: int = 0
    fetched: int = 0
    new: int = 0
    # Errors X reported inside the archived responses (suspended users of expansions …).
    api_errors: int = 0
    problems: ArchiveProblems = field(default_factory=ArchiveProblems)
    seconds: float = 0.0

    @property
    def duplicate(self) -> int:
        return self.fetched - self.new

    def as_dict(self) -> dict[str, object]:
        return {
            "files": self.files,
            "pages": self.pages,
            "posts_fetched": self.fetched,
            "posts_new": self.new,
            "posts_duplicate": self.duplicate,
            "api_errors": self.api_errors,
            "lines_skipped": self.problems.count,
            "seconds": round(self.seconds, 3),
            "posts_per_second": round(self.fetched / self.seconds) if self.seconds else 0,
        }


def _write_batch(connection: Connection, batch: Batch) -> IngestResult:
    # Each batch commits durably (synchronous_commit as the server sets it). Committing without
    # waiting for the disk measured no faster (22,333 vs 22,646 posts/s, BENCHMARKS.md) and is
    # not safe here: after a server crash and restart between two batches, the pool's pre-ping
    # reconnects silently, so the import would go on and report success without the batches
    # the crash lost. With durable commits a crash loses only the batch in flight, which fails
    # the import; running it again stores exactly what is missing (posts are idempotent).
    return write_prepared(connection, batch)


class _Done:
    """End of the reader's output (with its error, if it failed)."""

    def __init__(self, error: BaseException | None = None) -> None:
        self.error = error


def import_archives(
    engine: Engine,
    paths: Sequence[Path],
    batch_posts: int = DEFAULT_BATCH_POSTS,
    writers: int = 1,
    on_bytes: Callable[[int], None] | None = None,
    on_batch: Callable[[IngestResult], None] | None = None,
) -> ImportReport:
    """Import the files; `on_bytes` and `on_batch` report progress (they may be called from
    other threads)."""
    report = ImportReport(files=len(paths))
    # One batch waiting per writer: enough to keep them busy, little enough to keep memory flat.
    batches: queue.Queue[Batch | _Done] = queue.Queue(maxsize=max(writers, 1))
    stop = threading.Event()
    lock = threading.Lock()
    started = time.monotonic()

    def read() -> None:
        error: BaseException | None = None
        try:
            pending: list[Page] = []
            size = 0
            for path in paths:
                for page in read_archive(path, report.problems, on_bytes):
                    if stop.is_set():
                        return
                    report.pages += 1
                    report.api_errors += len(page.errors)
                    pending.append(page)
                    size += len(page.posts)
                    if size >= batch_posts:
                        batches.put(prepare_batch(pending))
                        pending, size = [], 0
            if pending:
                batches.put(prepare_batch(pending))
        except BaseException as failure:  # noqa: BLE001 - handed to the writers, raised there
            error = failure
        finally:
            for _ in range(max(writers, 1)):
                batches.put(_Done(error))

    failures: list[BaseException] = []

    def write() -> None:
        while True:
            item = batches.get()
            if isinstance(item, _Done):
                if item.error is not None:
                    failures.append(item.error)
                return
            if failures:
                continue  # drain, so the reader is never stuck on a full queue
            try:
                result = in_transaction(engine, partial(_write_batch, batch=item))
            except BaseException as error:  # noqa: BLE001 - raised below, after the threads stop
                failures.append(error)
                stop.set()
                continue
            with lock:
                report.fetched += result.fetched
                report.new += result.new
            if on_batch is not None:
                on_batch(result)

    reader = threading.Thread(target=read, name="archive-reader", daemon=True)
    workers = [threading.Thread(target=write, name=f"archive-writer-{n}") for n in range(max(writers, 1))]
    reader.start()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    stop.set()
    reader.join(timeout=5)
    if failures:
        raise failures[0]
    if report.fetched:
        # The first answers after an import must not wait for autovacuum's statistics.
        analyze(engine, INGESTION_TABLES if report.new else ("source_counts",))
    report.seconds = time.monotonic() - started
    log.debug("archive imported", extra=report.as_dict())
    return report
