"""Alembic environment: migrations run against the URL that `tagpulse.migrate` passes in."""

from __future__ import annotations

from alembic import context

from tagpulse.db.engine import create_database_engine
from tagpulse.db.models import Base

config = context.config


def run_migrations() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _migrate(connection)
        return
    engine = create_database_engine(config.get_main_option("sqlalchemy.url") or "")
    with engine.connect() as connection:
        _migrate(connection)
    engine.dispose()


def _migrate(connection: object) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        # SQLite cannot ALTER most things in place; batch mode rebuilds the table instead.
        render_as_batch=True,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations()
