"""What a keyword stream from a paying platform reads, counted against the daily budget as it
arrives.

A stream cannot ask before X sends: X bills each post it delivers. So the reader counts every
message's billable resources the moment it reads it, writes them to the day's spend at most
every `flush_seconds` (and when it stops), and stops its streams once the budget cannot hold one
more message at its most. The check uses the day's spend as of the last write plus what was read
since, and the pages collection runs hold: a run and a stream reading in the same second may pass
the budget by what that second delivered.
"""

from __future__ import annotations

import logging
import time

from sqlalchemy import Engine

from tagpulse_collector.sources.base import BillableReads
from tagpulse_collector.spending.budget import reserved_by_others, usd_text
from tagpulse_collector.spending.ledger import record_spend, spent_on, utc_today
from tagpulse_collector.spending.prices import SpendPolicy

log = logging.getLogger("tagpulse.spending")


class StreamMeter:
    """The spend of one platform's stream reader (used from the reader's thread only)."""

    def __init__(
        self,
        engine: Engine,
        policy: SpendPolicy,
        source: str,
        most_per_message: BillableReads,
        flush_seconds: float = 1.0,
    ) -> None:
        self.engine = engine
        self.source = source
        self.prices = policy.prices_of(source)
        self.daily_micros = policy.daily_budget_micros.get(source)
        self.most_per_message_micros = self.prices.cost(most_per_message)
        self.flush_seconds = flush_seconds
        self._unflushed = BillableReads()
        self._unflushed_micros = 0
        # The day's spend and the runs' held pages as of the last write; None: not read yet.
        self._committed_micros: int | None = None
        self._flushed_at = 0.0

    @property
    def paying(self) -> bool:
        return not self.prices.free

    def read(self, reads: BillableReads) -> None:
        """Count one message; written to the day's spend within `flush_seconds`."""
        if not self.paying:
            return
        billed = self.prices.billed(reads)
        self._unflushed = BillableReads(
            self._unflushed.posts + billed.posts,
            self._unflushed.users + billed.users,
            self._unflushed.counts_requests + billed.counts_requests,
        )
        self._unflushed_micros += self.prices.cost(reads)
        if time.monotonic() - self._flushed_at >= self.flush_seconds:
            self.flush()

    def flush(self) -> None:
        """Write what was read since the last write, and read the day's spend again. A failing
        database keeps the reads for the next attempt."""
        try:
            with self.engine.begin() as connection:
                record_spend(connection, self.source, self._unflushed, self._unflushed_micros)
                spent = spent_on(connection, self.source, utc_today())
                held = reserved_by_others(connection, self.source)
        except Exception as error:  # noqa: BLE001 - the reader goes on; the reads stay counted here
            log.warning(
                "stream spend not written; retrying", extra={"source": self.source, "reason": str(error)}
            )
            return
        self._unflushed, self._unflushed_micros = BillableReads(), 0
        self._committed_micros = spent + held
        self._flushed_at = time.monotonic()

    def budget_problem(self) -> str:
        """Why the stream must stop before reading on ("" while the budget holds one more message)."""
        if self.daily_micros is None or not self.paying:
            return ""
        if self._committed_micros is None:
            self.flush()
        spent = (self._committed_micros or 0) + self._unflushed_micros
        if spent + self.most_per_message_micros <= self.daily_micros:
            return ""
        return (
            f"the daily budget of {usd_text(self.daily_micros)} for {self.source} is spent "
            f"({usd_text(spent)} spent or held today; a message may cost up to "
            f"{usd_text(self.most_per_message_micros)}); start a new stream when the budget allows"
        )

    def close(self) -> None:
        """Write what was read since the last write (the reader stops)."""
        if self._unflushed_micros or self._unflushed.posts or self._unflushed.users:
            self.flush()
