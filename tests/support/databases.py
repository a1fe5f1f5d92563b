"""Throwaway PostgreSQL databases (cloned from a migrated template) and SQLite files.

Every database is named `tagpulse_test_<pid>_<n>` so a run that was killed can be cleaned
up by the next one: databases whose process no longer exists are dropped at start.
"""

from __future__ import annotations

import itertools
import os
import re

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from tagpulse.migrate import upgrade

_counter = itertools.count()
_NAME = re.compile(r"^tagpulse_(?:test|template)_(\d+)_\d+$")


def database_url(server_url: str, name: str) -> str:
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


def _admin(server_url: str):  # type: ignore[no-untyped-def]
    return create_engine(server_url, isolation_level="AUTOCOMMIT", pool_size=1)


def drop_stale_databases(server_url: str) -> None:
    """Drop test databases left by runs whose process is gone."""
    engine = _admin(server_url)
    with engine.connect() as connection:
        names = connection.execute(text("SELECT datname FROM pg_database")).scalars().all()
        for name in names:
            match = _NAME.match(name)
            if match and not _process_alive(int(match.group(1))):
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _create(server_url: str, kind: str, template: str | None = None) -> str:
    """CREATE DATABASE tagpulse_<kind>_<pid>_<n> (cloned from `template` when given); its name."""
    name = f"tagpulse_{kind}_{os.getpid()}_{next(_counter)}"
    clone = f' TEMPLATE "{template}"' if template else ""
    engine = _admin(server_url)
    with engine.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"{clone}'))
    engine.dispose()
    return name


def create_template(server_url: str) -> str:
    """A migrated database to clone; returns its name."""
    name = _create(server_url, "template")
    upgrade(database_url(server_url, name))
    return name


def create_database(server_url: str, template: str) -> str:
    """A fresh migrated database cloned from `template`; returns its URL."""
    return database_url(server_url, _create(server_url, "test", template))


def create_empty_database(server_url: str) -> str:
    """A database with no tables (for tests of the migrations themselves); returns its URL."""
    return database_url(server_url, _create(server_url, "test"))


def drop_database(server_url: str, url: str) -> None:
    name = make_url(url).database
    engine = _admin(server_url)
    with engine.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()
