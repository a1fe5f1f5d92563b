"""Collection runs in the background of the collector service.

A StartCollection call records the run and returns at once; the run executes here, in a thread
of its own, after the caller is gone. Runs get threads of their own (not the event loop's default
pool): a run waiting out a rate limit must not hold a thread that GetCollection needs.

Runs that a collector left RUNNING (killed, or stopped on SIGTERM) are resumed from their last
stored page when a collector starts, and whenever a run is started (the CronJob's schedule is
also the moment to pick up what another replica left behind). On shutdown, runs stop after the
page in flight and stay RUNNING, to be resumed. After a run ends, the query service is asked to
retire its cached answers.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
from collections.abc import Coroutine, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlalchemy import Engine

from tagpulse_collector.catalog import SourceCatalog
from tagpulse_collector.query_client import QueryClient
from tagpulse_collector.runs import store
from tagpulse_collector.runs.execute import execute_run
from tagpulse_collector.runs.plan import plan_collection
from tagpulse_collector.runs.store import RunRecord

log = logging.getLogger("tagpulse.collection")

# Runs executing at once in one collector; more wait for a thread (still RUNNING).
MAX_CONCURRENT_RUNS = 8


class RunExecutor:
    """Starts, executes, resumes and stops this collector's collection runs."""

    def __init__(
        self,
        engine: Engine,
        catalog: SourceCatalog,
        tracked_hashtags: Sequence[str],
        query_client: QueryClient,
        max_concurrent_runs: int = MAX_CONCURRENT_RUNS,
    ) -> None:
        self.engine = engine
        self.catalog = catalog
        self.tracked_hashtags = list(tracked_hashtags)
        self.query_client = query_client
        # Set on shutdown (the catalog's sources wake up from rate-limit waits on it too).
        self.stop: threading.Event = catalog.stop
        # Runs executing in this process, by id.
        self._runs: dict[int, asyncio.Task[None]] = {}
        self._threads = ThreadPoolExecutor(max_workers=max_concurrent_runs, thread_name_prefix="collection")
        self._background: set[asyncio.Task[None]] = set()

    async def start_run(self, hashtags: Sequence[str], max_posts_per_hashtag: int, source: str) -> RunRecord:
        """Check the request, record the run RUNNING and execute it in the background."""
        plan = plan_collection(hashtags, max_posts_per_hashtag, source, self.tracked_hashtags, self.catalog)
        run_id = await asyncio.to_thread(store.start_run, self.engine, plan, self.tracked_hashtags)
        record = await asyncio.to_thread(store.get_run, self.engine, run_id)
        assert record is not None
        self._launch(run_id)
        self._in_background(self.resume_interrupted_runs())
        return record

    def resume_in_background(self) -> None:
        """On start: resume what a previous collector left RUNNING."""
        self._in_background(self.resume_interrupted_runs())

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
        pending = [*self._runs.values(), *self._background]
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
            execute_run, self.engine, run_id, self.catalog.search_source, self.stop, resumed
        )
        try:
            record = await asyncio.get_running_loop().run_in_executor(self._threads, work)
        except Exception:
            log.exception("collection run crashed", extra={"run_id": run_id})
            return
        if record is not None and record.state != store.RUNNING:
            await self.query_client.invalidate_aggregates(
                f"collection {run_id} stored {record.posts_new} new posts"
            )

    def _in_background(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coroutine)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
