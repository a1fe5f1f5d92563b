"""Engines for PostgreSQL (psycopg 3) and SQLite, and upserts that read the same on both."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, Table, create_engine, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import InterfaceError, OperationalError, PendingRollbackError
from sqlalchemy.exc import TimeoutError as PoolTimeout

# Failures of the database rather than of the work: it is down or restarting, the connection
# dropped, the pool is exhausted. Work that meets one waits or is resumed; it is not failed.
DATABASE_OUTAGES: tuple[type[Exception], ...] = (
    OperationalError,
    InterfaceError,
    PoolTimeout,
    PendingRollbackError,
)

if TYPE_CHECKING:
    from tagpulse.settings import Settings


def database_engine(settings: Settings) -> Engine:
    """The engine a service (or the import command) works with: its database, its pool size."""
    return create_database_engine(
        settings.database_url.get_secret_value(), pool_size=settings.database_pool_size
    )


def create_database_engine(url: str, **engine_options: Any) -> Engine:
    """An engine for `url`; a SQLite file's folder is created, and SQLite is set up for a
    writer and readers in separate processes (WAL, busy timeout, foreign keys)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, **engine_options)
        event.listen(engine, "connect", _configure_sqlite)
        return engine
    engine_options.setdefault("pool_pre_ping", True)
    return create_engine(url, **engine_options)


def _configure_sqlite(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def upsert(connection: Connection, table: Table) -> Any:
    """`INSERT … ON CONFLICT` in the connection's dialect (both PostgreSQL and SQLite have it)."""
    if connection.dialect.name == "postgresql":
        return postgresql.insert(table)
    if connection.dialect.name == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(f"tagpulse supports PostgreSQL and SQLite, not {connection.dialect.name}")


@contextmanager
def read_snapshot(engine: Engine) -> Iterator[Connection]:
    """A connection whose reads all see the same committed state, for an answer assembled from
    several statements whose figures must agree (under READ COMMITTED each statement would see
    its own)."""
    if engine.dialect.name == "postgresql":
        snapshot = engine.connect().execution_options(isolation_level="REPEATABLE READ")
        with snapshot as connection, connection.begin():
            connection.exec_driver_sql("SET TRANSACTION READ ONLY")
            yield connection
        return
    with engine.connect() as connection:
        # The sqlite3 module opens a transaction only before a write: open it now, so that the
        # reads share WAL's snapshot. Closing the connection rolls it back.
        connection.exec_driver_sql("BEGIN")
        yield connection
