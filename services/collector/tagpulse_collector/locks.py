"""Who is collecting what, across every collector replica.

On PostgreSQL these are session-level advisory locks held on a connection of their own: a run
holds its run's lock while it executes and a hashtag's lock while it collects that hashtag; a
collector's stream supervisor holds the lock of each stream whose reader it runs (and of the
shared X connection). Every namespace and key is made here.
When a process dies its connection closes and PostgreSQL releases the locks at once, so
"RUNNING in the table but nobody holds its lock" means the run was killed and may be resumed.
Two CronJob pods starting together therefore never fetch the same hashtag twice.

SQLite has no advisory locks; with SQLite there is one collector process (the local default),
and process-wide locks give the same answers.
"""

from __future__ import annotations

import logging
import threading
import zlib
from dataclasses import dataclass, field

from sqlalchemy import Engine, text
from sqlalchemy.engine import Connection

from tagpulse.db.engine import DATABASE_OUTAGES

log = logging.getLogger("tagpulse.locks")

# The first key of the two-key advisory lock: one namespace per kind of thing locked.
RUN_NAMESPACE = 0x74700001
HASHTAG_NAMESPACE = 0x74700002
# A keyword stream's reader, and a reader shared by several streams (the X connection).
STREAM_NAMESPACE = 0x74700003
FEED_NAMESPACE = 0x74700004
# Jobs one collector does at a time for all of them (the retention).
JOB_NAMESPACE = 0x74700005


def _signed32(value: int) -> int:
    return value - 2**32 if value >= 2**31 else value


def run_key(run_id: int) -> tuple[int, int]:
    return _signed32(RUN_NAMESPACE), _signed32(run_id % 2**32)


def hashtag_key(source: str, hashtag: str) -> tuple[int, int]:
    # A collision between two hashtags only makes them wait for each other: harmless.
    return _signed32(HASHTAG_NAMESPACE), _signed32(zlib.crc32(f"{source}:{hashtag}".encode()))


def stream_key(stream_id: int) -> tuple[int, int]:
    return _signed32(STREAM_NAMESPACE), _signed32(stream_id % 2**32)


def feed_key(name: str) -> tuple[int, int]:
    return _signed32(FEED_NAMESPACE), _signed32(zlib.crc32(name.encode()))


def job_key(name: str) -> tuple[int, int]:
    return _signed32(JOB_NAMESPACE), _signed32(zlib.crc32(name.encode()))


class Lease:
    """Locks held for one executing run; `close` releases whatever is still held."""

    def try_lock(self, key: tuple[int, int]) -> bool:
        raise NotImplementedError

    def unlock(self, key: tuple[int, int]) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def alive(self) -> bool:
        """False when the locks may be gone (the database session behind them broke)."""
        return True

    def __enter__(self) -> Lease:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


class _PostgresLease(Lease):
    """Session locks on a connection of their own. No method raises when that connection
    breaks (PostgreSQL restarted, the network dropped): the session, and with it every lock,
    is then gone, so the lease forgets them and is spent: `try_lock` answers False and
    `alive()` False from then on, and the caller takes a new lease when it wants to go on."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.connection: Connection | None = None
        self.held: set[tuple[int, int]] = set()
        self.broken = False

    def try_lock(self, key: tuple[int, int]) -> bool:
        if self.broken:
            return False
        try:
            if self.connection is None:
                self.connection = self.engine.connect()
            got = bool(
                self.connection.execute(
                    text("SELECT pg_try_advisory_lock(:a, :b)"), {"a": key[0], "b": key[1]}
                ).scalar()
            )
            # Session locks outlive the transaction: don't leave the connection idle in one.
            self.connection.commit()
        except DATABASE_OUTAGES as error:
            self._lost(error)
            return False
        if got:
            self.held.add(key)
        return got

    def alive(self) -> bool:
        if self.broken:
            return False
        if self.connection is None:
            return True
        try:
            self.connection.execute(text("SELECT 1"))
            self.connection.commit()
        except Exception as error:  # noqa: BLE001 - any failure means the session, and its locks, may be gone
            self._lost(error)
            return False
        return True

    def unlock(self, key: tuple[int, int]) -> None:
        if key not in self.held or self.connection is None:
            return
        try:
            self.connection.execute(text("SELECT pg_advisory_unlock(:a, :b)"), {"a": key[0], "b": key[1]})
            self.connection.commit()
        except Exception as error:  # noqa: BLE001 - the session is suspect: ending it releases every lock
            self._lost(error)
            return
        self.held.discard(key)

    def close(self) -> None:
        for key in list(self.held):
            self.unlock(key)
        if self.connection is not None:
            self.connection.close()
            self.connection = None

    def _lost(self, error: BaseException) -> None:
        """Drop the connection without reusing it: closing its socket ends the session, and
        PostgreSQL releases whatever locks it still had."""
        log.warning(
            "advisory locks lost: the database session broke",
            extra={"locks_held": len(self.held), "reason": f"{type(error).__name__}: {error}"},
        )
        if self.connection is not None:
            try:
                self.connection.invalidate()
                self.connection.close()
            except Exception:
                log.debug("closing a broken lock connection failed", exc_info=True)
        self.connection = None
        self.held.clear()
        self.broken = True


@dataclass
class _ProcessLocks:
    guard: threading.Lock = field(default_factory=threading.Lock)
    held: set[tuple[int, int]] = field(default_factory=set)


_process_locks = _ProcessLocks()


class _ProcessLease(Lease):
    def __init__(self) -> None:
        self.held: set[tuple[int, int]] = set()

    def try_lock(self, key: tuple[int, int]) -> bool:
        with _process_locks.guard:
            if key in _process_locks.held:
                return False
            _process_locks.held.add(key)
        self.held.add(key)
        return True

    def unlock(self, key: tuple[int, int]) -> None:
        if key in self.held:
            with _process_locks.guard:
                _process_locks.held.discard(key)
            self.held.discard(key)

    def close(self) -> None:
        for key in list(self.held):
            self.unlock(key)


def lease(engine: Engine) -> Lease:
    """A new set of locks for one run, of the kind the database supports."""
    if engine.dialect.name == "postgresql":
        return _PostgresLease(engine)
    return _ProcessLease()


def is_free(engine: Engine, key: tuple[int, int]) -> bool:
    """True when nobody holds `key` right now (it may be taken a moment later)."""
    with lease(engine) as probe:
        return probe.try_lock(key)
