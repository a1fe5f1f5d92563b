"""Settings from `TAGPULSE_*` environment variables, validated once at start-up."""

from __future__ import annotations

import sys
from typing import Annotated, TypeVar

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from tagpulse.hashtags import InvalidHashtag, normalize_hashtag

DEFAULT_HASHTAGS = (
    "openbanking",
    "remediation",
    "devops",
    "sre",
    "microservices",
    "observability",
    "oauth",
    "metrics",
    "logmonitoring",
    "opentracing",
)

DATABASE_SCHEMES = ("sqlite", "postgresql", "postgresql+psycopg")


class Settings(BaseSettings):
    """Settings every tagpulse process reads. Services subclass it for their own ports."""

    model_config = SettingsConfigDict(env_prefix="TAGPULSE_", extra="ignore")

    database_url: SecretStr = Field(
        default=SecretStr("sqlite:///./var/tagpulse.db"),
        description="SQLAlchemy URL: sqlite:///PATH or postgresql://USER:PASSWORD@HOST/DB.",
    )
    redis_url: SecretStr | None = Field(
        default=None, description="redis://HOST:PORT/DB; unset: an in-process cache."
    )
    redis_key_prefix: str = Field(default="tagpulse:", min_length=1)
    hashtags: Annotated[list[str], NoDecode] = Field(default=list(DEFAULT_HASHTAGS))
    x_bearer_token: SecretStr | None = None
    x_api_base_url: str = "https://api.x.com"
    mastodon_base_url: str | None = None
    mastodon_access_token: SecretStr | None = None
    api_token: SecretStr | None = Field(
        default=None, description="Bearer token that mutating calls must carry."
    )
    log_level: str = "INFO"
    grpc_host: str = "127.0.0.1"
    grpc_port: int = Field(default=0, ge=0, le=65535)
    metrics_host: str = "127.0.0.1"
    metrics_port: int = Field(default=0, ge=0, le=65535)
    shutdown_grace_seconds: float = Field(default=10.0, ge=0)
    sample_seed: int = 42

    @field_validator("hashtags", mode="before")
    @classmethod
    def _split_hashtags(cls, value: object) -> object:
        if isinstance(value, str):
            value = [part for part in value.split(",") if part.strip()]
        if isinstance(value, (list, tuple)):
            try:
                return list(dict.fromkeys(normalize_hashtag(str(tag)) for tag in value))
            except InvalidHashtag as error:
                raise ValueError(str(error)) from error
        return value

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: SecretStr) -> SecretStr:
        url = value.get_secret_value()
        scheme = url.split("://", 1)[0] if "://" in url else ""
        if scheme not in DATABASE_SCHEMES:
            raise ValueError("must start with sqlite:///, postgresql:// or postgresql+psycopg://")
        if scheme == "postgresql":
            # psycopg 3 is the driver we ship; spare users the SQLAlchemy driver suffix.
            url = "postgresql+psycopg://" + url.split("://", 1)[1]
        return SecretStr(url)

    @field_validator("log_level")
    @classmethod
    def _check_log_level(cls, value: str) -> str:
        level = value.upper()
        if level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
            raise ValueError("must be DEBUG, INFO, WARNING or ERROR")
        return level

    def secret_values(self) -> list[str]:
        """Every secret this process knows, so logging can redact them wherever they appear."""
        secrets = [
            self.x_bearer_token,
            self.mastodon_access_token,
            self.api_token,
            self.redis_url,
        ]
        values = [secret.get_secret_value() for secret in secrets if secret is not None]
        values.extend(_url_passwords(self.database_url.get_secret_value()))
        if self.redis_url is not None:
            values.extend(_url_passwords(self.redis_url.get_secret_value()))
        return [value for value in values if len(value) >= 4]


def _url_passwords(url: str) -> list[str]:
    from sqlalchemy.engine import make_url

    try:
        password = make_url(url).password
    except Exception:  # noqa: BLE001 - a URL we cannot parse has no password to hide
        return []
    return [str(password)] if password else []


SettingsT = TypeVar("SettingsT", bound=Settings)


def load_settings(settings_class: type[SettingsT]) -> SettingsT:
    """Read the settings or exit with one clear line per bad variable."""
    try:
        return settings_class()
    except ValidationError as error:
        lines = ["tagpulse: invalid settings:"]
        for problem in error.errors():
            field = ".".join(str(part) for part in problem["loc"])
            lines.append(f"  TAGPULSE_{field.upper()}: {problem['msg']}")
        print("\n".join(lines), file=sys.stderr)
        raise SystemExit(2) from None
