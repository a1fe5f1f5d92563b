"""Engines for PostgreSQL (psycopg 3) and SQLite, and upserts that read the same on both."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, Table, create_engine, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, make_url


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
