"""Schema migrations: `python -m tagpulse.migrate [upgrade|downgrade|revision -m MESSAGE]`.

The Alembic scripts live in `tagpulse/migrations/`; the database URL is TAGPULSE_DATABASE_URL.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from alembic import command
from alembic.config import Config

from tagpulse.db.engine import create_database_engine
from tagpulse.db.insights import INSIGHTS_ROLE, set_insights_password
from tagpulse.logs import configure_logging
from tagpulse.settings import Settings, load_settings

MIGRATIONS = Path(__file__).with_name("migrations")

log = logging.getLogger("tagpulse.migrate")


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    # '%' is interpolation syntax in Alembic's config parser.
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    """Bring the database at `database_url` to `revision` (default: the latest)."""
    command.upgrade(alembic_config(database_url), revision)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tagpulse.migrate", description=__doc__)
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("upgrade", help="migrate to the latest revision (default)")
    down = sub.add_parser("downgrade", help="migrate down to a revision")
    down.add_argument("revision")
    rev = sub.add_parser("revision", help="autogenerate a new migration from the models")
    rev.add_argument("-m", "--message", required=True)
    args = parser.parse_args(argv)

    settings = load_settings(Settings)
    configure_logging(settings)
    url = settings.database_url.get_secret_value()
    config = alembic_config(url)
    if args.command == "downgrade":
        command.downgrade(config, args.revision)
    elif args.command == "revision":
        # Numbered ids (0001, 0002, …) keep the history readable in a directory listing.
        number = len(list((MIGRATIONS / "versions").glob("[0-9][0-9][0-9][0-9]_*.py"))) + 1
        command.revision(config, message=args.message, autogenerate=True, rev_id=f"{number:04d}")
    else:
        command.upgrade(config, "head")
        log.info("database schema is up to date")
        _set_insights_password(settings)


def _set_insights_password(settings: Settings) -> None:
    """Every run, so that a password changed in the Secret takes effect at the next upgrade."""
    if settings.insights_password is None:
        return
    engine = create_database_engine(settings.database_url.get_secret_value())
    try:
        if engine.dialect.name != "postgresql":
            log.info("TAGPULSE_INSIGHTS_PASSWORD ignored: the insights role exists on PostgreSQL only")
            return
        set_insights_password(engine, settings.insights_password.get_secret_value())
        log.info("insights role can log in", extra={"role": INSIGHTS_ROLE})
    finally:
        engine.dispose()


if __name__ == "__main__":
    main()
