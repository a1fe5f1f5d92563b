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

# Each service sets its own default port; the description is the same for both.
GRPC_PORT_DESCRIPTION = (
    "gRPC port. Each service has its own default: set it per process, never in a shell that starts both."
)
METRICS_PORT_DESCRIPTION = (
    "Port of the Prometheus `/metrics` endpoint. Each service has its own default: set it per process."
)


class Settings(BaseSettings):
    """Settings every tagpulse process reads. Services subclass it for their own ports."""

    model_config = SettingsConfigDict(env_prefix="TAGPULSE_", extra="ignore")

    database_url: SecretStr = Field(
        default=SecretStr("sqlite:///./var/tagpulse.db"),
        description=(
            "The database: `sqlite:///PATH` or `postgresql://USER:PASSWORD@HOST:PORT/DB` "
            "(`postgresql+psycopg://` is accepted too). The default is a SQLite file under `./var/`, "
            "the one `make run` uses. Its password is redacted from the logs."
        ),
    )
    database_pool_size: int = Field(
        default=5,
        ge=1,
        le=1000,
        description=(
            "Connections each process keeps open to the database (SQLAlchemy's `pool_size`); up to 10 "
            "more are opened under load and closed afterwards. The server must allow "
            "(query + collector processes) × (this + 10)."
        ),
    )
    redis_url: SecretStr | None = Field(
        default=None,
        description=(
            "`redis://HOST:PORT/DB`: the query service's shared answer cache and the keyword streams' "
            "buffers (which need it on PostgreSQL). Unset: the answer cache lives in each query "
            "process, and streams buffer in the collector's process on SQLite. Several query "
            "processes need it: each one's own cache hears only the invalidations sent to it, so the "
            "others would answer stale for up to `TAGPULSE_CACHE_TTL_SECONDS`. With a password: "
            "`redis://:PASSWORD@HOST:PORT/DB`, redacted from the logs."
        ),
    )
    redis_key_prefix: str = Field(
        default="tagpulse:",
        min_length=1,
        description=(
            "Prefix of every Redis key tagpulse writes; also the tag of the X filtered-stream rules "
            "this deployment adds, so other apps' rules are left alone."
        ),
    )
    hashtags: Annotated[list[str], NoDecode] = Field(
        default=list(DEFAULT_HASHTAGS),
        description=(
            "The tracked hashtags, comma-separated (`#` optional, any case): what the collector "
            "collects when a collection names no hashtag."
        ),
    )
    x_bearer_token: SecretStr | None = Field(
        default=None,
        description=(
            "X API v2 bearer token: enables the collector's `x` source, and makes it the default source."
        ),
    )
    x_api_base_url: str = Field(
        default="https://api.x.com",
        description="Base URL of the X API, for the collector's search and filtered stream.",
    )
    x_price_per_post_usd: float = Field(
        default=0.005,
        ge=0,
        le=100,
        description=(
            "What X bills for each post it returns (pay-per-use, in US dollars). tagpulse's cost "
            "estimates, spend figures and budgets use it; change it when X changes its prices."
        ),
    )
    x_price_per_user_usd: float = Field(
        default=0.010,
        ge=0,
        le=100,
        description="What X bills for each user object it returns (the authors in `includes.users`).",
    )
    x_price_per_counts_request_usd: float = Field(
        default=0.005,
        ge=0,
        le=100,
        description="What X bills for one request to `/2/tweets/counts/recent`.",
    )
    x_bills_included_users: bool = Field(
        default=True,
        description=(
            "Whether the user objects X returns beside the posts are billed. True is the cautious "
            "reading of X's price list: estimates and budgets then count them."
        ),
    )
    x_daily_budget_usd: float | None = Field(
        default=None,
        ge=0,
        le=1_000_000,
        description=(
            "The most tagpulse may spend on X in one UTC day (the day in which X bills a resource "
            "once), collections, counts and keyword streams together. A collection stops before a "
            "page whose price could pass it, and resumes there on its next run; a stream stops when "
            "it is reached. Unset: no daily budget."
        ),
    )
    mastodon_base_url: str | None = Field(
        default=None,
        description=(
            "A Mastodon instance, e.g. `https://mastodon.social`: enables the collector's `mastodon` "
            "source (the default source when no X bearer token is set)."
        ),
    )
    mastodon_access_token: SecretStr | None = Field(
        default=None,
        description="The collector's Mastodon access token; public hashtag timelines need none.",
    )
    bluesky_handle: str | None = Field(
        default=None,
        description=(
            "The Bluesky account the collector signs in as (`name.bsky.social`, or its DID); with "
            "`TAGPULSE_BLUESKY_APP_PASSWORD` it enables the `bluesky` source."
        ),
    )
    bluesky_app_password: SecretStr | None = Field(
        default=None,
        description=(
            "An app password of that account (Settings → Privacy and security → App passwords), "
            "never the account's own password. Bluesky's search needs a signed-in account."
        ),
    )
    bluesky_base_url: str = Field(
        default="https://bsky.social",
        description="The account's PDS, which signs it in and serves searchPosts and getProfiles.",
    )
    bluesky_jetstream_url: str = Field(
        default="wss://jetstream2.us-east.bsky.network/subscribe",
        description="The Jetstream instance that `bluesky` keyword streams read (its `/subscribe` URL).",
    )
    api_token: SecretStr | None = Field(
        default=None,
        description=(
            "The bearer token that calls which change data must carry; unset, every such call is "
            "refused. The collector sends it to the query service (InvalidateAggregates) and "
            "`trigger` to the collector, so give every process the same one. `make run` takes it "
            "from `var/dev-api-token`."
        ),
    )
    insights_password: SecretStr | None = Field(
        default=None,
        description=(
            "Read by `python -m tagpulse.migrate` only, on PostgreSQL: the password of the read-only "
            "role `tagpulse_insights` that Grafana's insights dashboard connects as. Set, every "
            "migration run gives the role LOGIN and this password (sent as a SCRAM verifier, never "
            "in clear); unset, the role is left as it is (created without LOGIN). The Helm chart "
            "sets it from its Secret."
        ),
    )
    log_level: str = Field(default="INFO", description="`DEBUG`, `INFO`, `WARNING` or `ERROR`.")
    grpc_host: str = Field(default="127.0.0.1", description="gRPC listen address (`0.0.0.0` in a container).")
    grpc_port: int = Field(default=0, ge=0, le=65535, description=GRPC_PORT_DESCRIPTION)
    metrics_host: str = Field(
        default="127.0.0.1",
        description="Listen address of the Prometheus `/metrics` endpoint (`0.0.0.0` in a container).",
    )
    metrics_port: int = Field(default=0, ge=0, le=65535, description=METRICS_PORT_DESCRIPTION)
    shutdown_drain_seconds: float = Field(
        default=0.0,
        ge=0,
        le=300,
        description=(
            "On SIGTERM, health turns NOT_SERVING and the service goes on answering new calls for "
            "this long, so that load balancers (Envoy's health checks, Kubernetes endpoints) stop "
            "sending before it stops accepting; then `TAGPULSE_SHUTDOWN_GRACE_SECONDS` applies. The "
            "Helm chart sets 5; with nothing in front of the service, 0."
        ),
    )
    shutdown_grace_seconds: float = Field(
        default=10.0,
        ge=0,
        description=(
            "On SIGTERM, after the drain, new calls are refused and the calls in flight get this long "
            "to finish (the collector's keyword streams too)."
        ),
    )
    sample_seed: int = Field(
        default=42,
        description=(
            "Seed of the collector's built-in sample source and sample streams: the same seed gives "
            "the same posts on the same day, so a second run stores nothing new."
        ),
    )

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
            self.bluesky_app_password,
            self.api_token,
            self.redis_url,
            self.insights_password,
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
