"""The insights role: migration 0007 creates and grants it idempotently and takes its grants back
on downgrade; `python -m tagpulse.migrate` gives it the password of TAGPULSE_INSIGHTS_PASSWORD,
which a server that asks for passwords accepts (and a changed one replaces)."""

from __future__ import annotations

import pytest
from alembic import command
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from tagpulse import migrate
from tagpulse.db.engine import create_database_engine
from tagpulse.db.insights import INSIGHTS_ROLE
from tagpulse.migrate import alembic_config
from tests.support.private_postgres import PrivatePostgres

GRANTED = (
    "post_counts_by_bucket",
    "hashtag_post_counts_by_bucket",
    "hashtag_language_country_counts",
    "users",
)


def readable(url: str) -> dict[str, bool]:
    """Which of GRANTED the role may read in this database (all False when it does not exist)."""
    engine = create_database_engine(url)
    with engine.connect() as connection:
        exists = connection.execute(
            text("SELECT count(*) FROM pg_roles WHERE rolname = :r"), {"r": INSIGHTS_ROLE}
        )
        if not exists.scalar_one():
            return dict.fromkeys(GRANTED, False)
        found = {
            table: bool(
                connection.execute(
                    text("SELECT has_any_column_privilege(:r, :t, 'SELECT')"),
                    {"r": INSIGHTS_ROLE, "t": table},
                ).scalar_one()
            )
            for table in GRANTED
        }
    engine.dispose()
    return found


def test_the_migration_grants_on_upgrade_revokes_on_downgrade_and_runs_again(postgres_url: str) -> None:
    config = alembic_config(postgres_url)
    assert all(readable(postgres_url).values())
    command.downgrade(config, "0004")
    assert not any(readable(postgres_url).values())
    # The role may outlive the downgrade (other databases of the server use it): upgrading
    # again finds it and grants once more.
    command.upgrade(config, "head")
    assert all(readable(postgres_url).values())
    command.downgrade(config, "0004")
    command.upgrade(config, "head")
    assert all(readable(postgres_url).values())


def login_refused(server: PrivatePostgres, password: str) -> str:
    """Why the server refuses the insights role with `password`; empty when it lets it in (and
    the session can read users, read-only)."""
    url = make_url(server.url("tagpulse")).set(username=INSIGHTS_ROLE, password=password)
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            read_only = connection.exec_driver_sql("SHOW default_transaction_read_only").scalar_one()
            connection.exec_driver_sql("SELECT followers_count FROM users").all()
    except OperationalError as error:
        return str(error)
    finally:
        engine.dispose()
    assert read_only == "on"
    return ""


def test_migrate_sets_the_password_the_server_checks(
    private_postgres: PrivatePostgres, monkeypatch: pytest.MonkeyPatch
) -> None:
    # This cluster trusts loopback; ask the insights role for its password, as a real server does.
    hba = private_postgres.datadir / "pg_hba.conf"
    hba.write_text(f"host all {INSIGHTS_ROLE} 127.0.0.1/32 scram-sha-256\n" + hba.read_text())
    private_postgres.restart()
    monkeypatch.setenv("TAGPULSE_DATABASE_URL", private_postgres.url("tagpulse"))

    # Created NOLOGIN, without a password: nothing lets it in before one is set.
    assert role_row(private_postgres) == (False, None)
    assert "password authentication failed" in login_refused(private_postgres, "first-password")

    monkeypatch.setenv("TAGPULSE_INSIGHTS_PASSWORD", "first-password")
    migrate.main(["upgrade"])
    assert login_refused(private_postgres, "first-password") == ""
    assert "password authentication failed" in login_refused(private_postgres, "wrong-password")

    # A new password in the Secret: the next run replaces the old one.
    monkeypatch.setenv("TAGPULSE_INSIGHTS_PASSWORD", "second-password")
    migrate.main(["upgrade"])
    assert login_refused(private_postgres, "second-password") == ""
    assert "password authentication failed" in login_refused(private_postgres, "first-password")

    can_login, stored = role_row(private_postgres)
    assert can_login
    assert stored.startswith("SCRAM-SHA-256$")


def role_row(server: PrivatePostgres) -> tuple[bool, str | None]:
    """The role's LOGIN attribute and its stored password (a verifier), as the server keeps them."""
    admin = create_engine(server.url("tagpulse"))
    with admin.connect() as connection:
        row = connection.execute(
            text("SELECT rolcanlogin, rolpassword FROM pg_authid WHERE rolname = :r"), {"r": INSIGHTS_ROLE}
        ).one()
    admin.dispose()
    return bool(row[0]), row[1]
