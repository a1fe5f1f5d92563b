"""The read-only role Grafana's insights dashboard connects as (docs/operations.md).

Migration 0007 creates it without LOGIN and grants it SELECT on the rollups, hashtags and
users; `python -m tagpulse.migrate` gives it a password here, on every run, when
TAGPULSE_INSIGHTS_PASSWORD is set, so a password changed in the chart's Secret applies at the
next upgrade.
"""

from __future__ import annotations

from typing import cast

from psycopg import Connection as PsycopgConnection
from psycopg import sql
from sqlalchemy import Engine

INSIGHTS_ROLE = "tagpulse_insights"


def set_insights_password(engine: Engine, password: str) -> None:
    """Give the insights role LOGIN and `password`. The server receives a SCRAM-SHA-256
    verifier computed here, never the password itself, so the statement is safe to log
    (log_statement = 'ddl' would otherwise write the password into the server's log)."""
    with engine.begin() as connection:
        raw = cast(PsycopgConnection, connection.connection.driver_connection)
        verifier = raw.pgconn.encrypt_password(password.encode(), INSIGHTS_ROLE.encode(), b"scram-sha-256")
        statement = sql.SQL("ALTER ROLE {} WITH LOGIN PASSWORD {}").format(
            sql.Identifier(INSIGHTS_ROLE), sql.Literal(verifier.decode())
        )
        connection.exec_driver_sql(statement.as_string(raw))
