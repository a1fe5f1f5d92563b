from alembic import command
from sqlalchemy import inspect

from tagpulse.db.engine import create_database_engine
from tagpulse.db.models import Base
from tagpulse.migrate import alembic_config


def test_migrations_build_exactly_the_models_and_downgrade_cleanly(database_url: str) -> None:
    config = alembic_config(database_url)
    # `check` fails when the models and the migrated schema differ.
    command.check(config)
    engine = create_database_engine(database_url)
    assert set(Base.metadata.tables) <= set(inspect(engine).get_table_names())
    engine.dispose()

    command.downgrade(config, "base")
    engine = create_database_engine(database_url)
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    engine.dispose()
    command.upgrade(config, "head")
    command.check(config)
