"""Collection runs in the background of the collector service.

A StartCollection call records the run and returns at once; the run executes here, in a thread
of its own, after the caller is gone. Runs get threads of their own (not the event loop's default
pool): a run waiting out a rate limit must not hold a thread that GetCollection needs.

Runs that no collector executes (their collector was killed, stopped on SIGTERM, or lost its
database session when PostgreSQL restarted) are resumed from their last stored page by a
supervisor that looks for them every `run_supervise_seconds`, when a collector starts and
whenever a run is started. A run resumed `run_max_resumes` times without finishing is given up:
its unfinished hashtags fail with the reason, so it never stays RUNNING with nobody working on
it. On shutdown, runs stop after the page in flight and stay RUNNING, to be resumed. After a run
ends, the query service is asked to retire its cached answers (`Invalidations`, until delivered).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
from collections.abc import Coroutine, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine

from tagpulse_collector.catalog import SourceCatalog
from tagpulse_collector.query_client import Invalidations
from tagpulse_collector.runs import store
from tagpulse_collector.runs.execute import execute_run
from tagpulse_collector.runs.plan import plan_collection
from tagpulse_collector.runs.store import RunRecord

log = logging.getLogger("tagpulse.collection")

# Runs executing at once in one collector; more wait for a thread (still RUNNING).
MAX_CONCURRENT_RUNS = 8


@dataclass(frozen=True)
class SupervisionPolicy:
    # How often to look for runs that no collector executes.
    every_seconds: float = 15.0
    # Resumes of one run before it is given up.
    max_resumes: int = 10


class RunExecutor:
    """Starts, executes, resumes and stops this collector's collection runs."""

    def __init__(
        self,
        engine: Engine,
        catalog: SourceCatalog,
        tracked_hashtags: Sequence[str],
        invalidations: Invalidations,
        supervision: SupervisionPolicy = SupervisionPolicy(),
        max_concurrent_runs: int = MAX_CONCURRENT_RUNS,
    ) -> None:
        self.engine = engine
        self.catalog = catalog
        self.tracked_hashtags = list(tracked_hashtags)
        self.invalidations = invalidations
        self.supervision = supervision
        # Set on shutdown (the catalog's sources wake up from rate-limit waits on it too).
        self.stop: threading.Event = catalog.stop
        # Runs executing in this process, by id.
        self._runs: dict[int, asyncio.Task[None]] = {}
        self._threads = ThreadPoolExecutor(max_workers=max_concurrent_runs, thread_name_prefix="collection")
        self._background: set[asyncio.Task[None]] = set()
        self._supervisor: asyncio.Task[None] | None = None

    async def start_run(
        self, hashtags: Sequence[str], max_posts_per_hashtag: int, source: str, max_cost_usd: float = 0.0
    ) -> RunRecord:
        """Check the request, record the run RUNNING and execute it in the background."""
        plan = plan_collection(
            hashtags, max_posts_per_hashtag, source, self.tracked_hashtags, self.catalog, max_cost_usd
        )
        run_id = await asyncio.to_thread(store.start_run, self.engine, plan, self.tracked_hashtags)
        record = await asyncio.to_thread(store.get_run, self.engine, run_id)
        assert record is not None
        self._launch(run_id)
        self._in_background(self.resume_interrupted_runs())
        return record

    def supervise(self) -> None:
        """On start: resume what a previous collector left RUNNING, then look again every
        `supervision.every_seconds`."""
        self._supervisor = asyncio.create_task(self._supervise())

    async def _supervise(self) -> None:
        while not self.stop.is_set():
            await self.resume_interrupted_runs()
            await asyncio.sleep(self.supervision.every_seconds)

    async def resume_interrupted_runs(self) -> None:
        """Resume RUNNING runs that no collector holds (their collector was killed)."""
        try:
            interrupted = await asyncio.to_thread(store.interrupted_runs, self.engine, set(self._runs))
        except Exception:
            log.exception("could not look for interrupted runs")
            return
        for run_id in interrupted:
            self._launch(run_id, resumed=True)

    async def shutdown(self) -> None:
        """Runs stop after the page in flight (they stay RUNNING and resume on the next
        start); wait for that."""
        self.stop.set()
        if self._supervisor is not None:
            self._supervisor.cancel()
        supervisor = [self._supervisor] if self._supervisor is not None else []
        pending = [*self._runs.values(), *self._background, *supervisor]
        if pending:
            await asyncio.wait(pending)
        self._threads.shutdown(wait=False)

    def _launch(self, run_id: int, resumed: bool = False) -> None:
        if run_id in self._runs or self.stop.is_set():
            return
        task = asyncio.create_task(self._execute(run_id, resumed))
        self._runs[run_id] = task
        task.add_done_callback(lambda _task: self._runs.pop(run_id, None))

    async def _execute(self, run_id: int, resumed: bool) -> None:
        work = functools.partial(
            execute_run,
            self.engine,
            run_id,
            self.catalog.search_source,
            self.stop,
            resumed,
            self.supervision.max_resumes,
            self.catalog.spend,
        )
        try:
            record = await asyncio.get_running_loop().run_in_executor(self._threads, work)
        except Exception:
            log.exception(
                "collection run crashed; it stays RUNNING and the supervisor resumes it",
                extra={"run_id": run_id},
            )
            return
        if record is not None and record.state != store.RUNNING:
            self.invalidations.request(f"collection {run_id} stored {record.posts_new} new posts")

    def _in_background(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coroutine)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
