import pytest
from pydantic import ValidationError

from tagpulse.db.engine import database_engine
from tagpulse.settings import DEFAULT_HASHTAGS, Settings, load_settings


def test_defaults_follow_the_design(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("TAGPULSE_HASHTAGS", "TAGPULSE_DATABASE_URL", "TAGPULSE_REDIS_URL"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings()
    assert settings.hashtags == list(DEFAULT_HASHTAGS)
    assert len(settings.hashtags) == 10
    assert settings.database_url.get_secret_value().startswith("sqlite:///")
    assert settings.redis_url is None
    assert settings.x_api_base_url == "https://api.x.com"


def test_hashtags_come_as_a_comma_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TAGPULSE_HASHTAGS", "#DevOps, sre,,devops ,Observability")
    assert Settings().hashtags == ["devops", "sre", "observability"]


def test_postgresql_urls_get_the_psycopg_driver(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TAGPULSE_DATABASE_URL", "postgresql://app:s3cret-pw@db:5432/tagpulse")
    settings = Settings()
    assert settings.database_url.get_secret_value() == "postgresql+psycopg://app:s3cret-pw@db:5432/tagpulse"
    assert "s3cret-pw" in settings.secret_values()
    assert "s3cret-pw" not in repr(settings)


def test_a_bad_value_stops_start_up_with_a_clear_message(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TAGPULSE_DATABASE_URL", "mysql://root@localhost/x")
    monkeypatch.setenv("TAGPULSE_HASHTAGS", "devops,not a tag")
    monkeypatch.setenv("TAGPULSE_GRPC_PORT", "70000")
    with pytest.raises(SystemExit) as exit_info:
        load_settings(Settings)
    assert exit_info.value.code == 2
    error = capsys.readouterr().err
    assert "TAGPULSE_DATABASE_URL: " in error
    assert "sqlite:///, postgresql://" in error
    assert "TAGPULSE_HASHTAGS: " in error
    assert "'not a tag' is not a hashtag" in error
    assert "TAGPULSE_GRPC_PORT: " in error


def test_the_pool_size_reaches_the_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TAGPULSE_DATABASE_POOL_SIZE", "12")
    monkeypatch.setenv("TAGPULSE_DATABASE_URL", "postgresql+psycopg://app@127.0.0.1:1/tagpulse")
    settings = Settings()
    assert settings.database_pool_size == 12
    # Building the engine opens no connection (the unit tests' guard would refuse it).
    engine = database_engine(settings)
    assert engine.pool.size() == 12  # type: ignore[attr-defined]
    monkeypatch.setenv("TAGPULSE_DATABASE_POOL_SIZE", "0")
    with pytest.raises(ValidationError):
        Settings()
