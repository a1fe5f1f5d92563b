"""Fixtures for the real PostgreSQL and Redis given by TAGPULSE_TEST_DATABASE_URL and
TAGPULSE_TEST_REDIS_URL. Without them those tests skip; under CI=true they fail instead.

Every test gets its own database (cloned from a migrated template) and its own Redis key
prefix, both removed afterwards, so the shared servers are left as they were found.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NoReturn

import pytest
from sqlalchemy import Engine, create_engine, text

from tagpulse.db.engine import create_database_engine
from tagpulse.migrate import upgrade
from tagpulse_collector.streams.buffer import RedisBuffer
from tests.support import databases
from tests.support.fake_bluesky import FakeBluesky
from tests.support.fake_mastodon import FakeMastodon
from tests.support.fake_x import FakeXApi
from tests.support.fake_x_stream import FakeXStream
from tests.support.private_postgres import PrivatePostgres, postgres_bindir
from tests.support.private_redis import PrivateRedis, redis_server_binary
from tests.support.processes import Stack
from tests.support.redis_prefixes import delete_prefix

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
FAKE_X_TOKEN = "AAAAAAAAAAAAAAAAAAAAAFakeXBearerToken0123456789"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The markers follow what a test uses: `postgres` and `redis` from its fixtures (a
    parametrized fixture marks its server-backed parameter itself), `e2e` from tests/e2e."""
    e2e = Path(__file__).resolve().parent / "e2e"
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        params = (
            item.callspec.params if isinstance(item, pytest.Function) and hasattr(item, "callspec") else {}
        )
        # `database_url` parametrized indirectly with "postgresql" loses the fixture's own mark.
        if "postgres_server_url" in fixtures or params.get("database_url") == "postgresql":
            item.add_marker(pytest.mark.postgres)
        if fixtures & {"redis_server_url", "private_redis"}:
            item.add_marker(pytest.mark.redis)
        if item.path.is_relative_to(e2e):
            item.add_marker(pytest.mark.e2e)


def _required(variable: str, what: str) -> str:
    value = os.environ.get(variable)
    if value:
        return value
    missing(f"{variable} is not set: these tests need a real {what}")


def missing(message: str) -> NoReturn:
    """Skip for want of a server or tool; under CI=true nothing may be missing: fail."""
    if IN_CI:
        pytest.fail(f"{message}, and under CI=true that is a failure, not a skip")
    pytest.skip(message)


@pytest.fixture(scope="session")
def postgres_server_url() -> str:
    url = _required("TAGPULSE_TEST_DATABASE_URL", "PostgreSQL")
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return url


@pytest.fixture(scope="session")
def postgres_template(postgres_server_url: str) -> Iterator[str]:
    databases.drop_stale_databases(postgres_server_url)
    name = databases.create_template(postgres_server_url)
    yield name
    databases.drop_database(postgres_server_url, databases.database_url(postgres_server_url, name))


@pytest.fixture
def make_postgres_database(postgres_server_url: str, postgres_template: str) -> Iterator[Callable[[], str]]:
    """Creates fresh migrated databases on demand; drops them after the test."""
    created: list[str] = []

    def make() -> str:
        url = databases.create_database(postgres_server_url, postgres_template)
        created.append(url)
        return url

    yield make
    for url in created:
        databases.drop_database(postgres_server_url, url)


@pytest.fixture
def postgres_url(make_postgres_database: Callable[[], str]) -> str:
    return make_postgres_database()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'tagpulse.db'}"
    upgrade(url)
    return url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest) -> str:
    """Runs the test on both supported databases."""
    fixture = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    return str(request.getfixturevalue(fixture))


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = create_database_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def redis_server_url() -> str:
    return _required("TAGPULSE_TEST_REDIS_URL", "Redis")


@pytest.fixture
def redis_prefix(redis_server_url: str) -> Iterator[str]:
    """A key prefix of the test's own; its keys are deleted afterwards."""
    prefix = f"tagpulse-test-{uuid.uuid4().hex[:12]}:"
    yield prefix
    delete_prefix(redis_server_url, prefix)


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    """A redis-server of the test's own on a free port, answering PING; killed afterwards.
    For tests that stop or freeze Redis: the shared one is never touched."""
    binary = redis_server_binary()
    if binary is None:
        missing("redis-server is not installed: this test starts a Redis of its own")
    server = PrivateRedis(binary, tmp_path / "private-redis.log").start()
    yield server
    server.kill()


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    """A PostgreSQL cluster of the test's own on a free port, started, with a migrated
    `tagpulse` database; removed afterwards. For tests that restart or kill the database."""
    bindir = postgres_bindir()
    if bindir is None:
        missing("PostgreSQL's initdb is not installed: this test starts a cluster of its own")
    server = PrivatePostgres(bindir)
    try:
        server.create().start()
        admin = create_engine(server.url(), isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text("CREATE DATABASE tagpulse"))
        admin.dispose()
        upgrade(server.url("tagpulse"))
        yield server
    finally:
        server.remove()


@pytest.fixture
def start_stack(
    tmp_path: Path, make_postgres_database: Callable[[], str], redis_server_url: str
) -> Iterator[Callable[..., Stack]]:
    """Starts query, collector and Envoy on a fresh PostgreSQL database and Redis prefix."""
    stacks: list[Stack] = []
    prefixes: list[str] = []

    def start(**extra_env: str) -> Stack:
        prefix = f"tagpulse-test-{uuid.uuid4().hex[:12]}:"
        prefixes.append(prefix)
        workdir = tmp_path / f"stack{len(stacks)}"
        workdir.mkdir()
        stack = Stack(
            database_url=make_postgres_database(),
            redis_url=redis_server_url,
            redis_prefix=prefix,
            api_token=f"test-token-{uuid.uuid4().hex}",
            workdir=workdir,
            extra_env=extra_env,
        )
        stacks.append(stack)
        return stack.start()

    yield start
    for stack in stacks:
        stack.stop()
    for prefix in prefixes:
        delete_prefix(redis_server_url, prefix)


@pytest.fixture
def fake_x() -> Iterator[FakeXApi]:
    """A fake X API v2 on loopback serving the recorded search pages; token FAKE_X_TOKEN."""
    api = FakeXApi(FAKE_X_TOKEN).start()
    yield api
    api.close()


@pytest.fixture
def fake_mastodon() -> Iterator[FakeMastodon]:
    """A fake Mastodon instance on loopback serving the recorded hashtag timelines."""
    api = FakeMastodon().start()
    yield api
    api.close()


@pytest.fixture
def fake_bluesky() -> Iterator[FakeBluesky]:
    """A fake Bluesky PDS on loopback serving the recorded searches and profiles."""
    api = FakeBluesky().start()
    yield api
    api.close()


@pytest.fixture
def redis_buffer(redis_server_url: str, redis_prefix: str) -> Iterator[RedisBuffer]:
    """The stream buffer on the test's own Redis key prefix."""
    buffer = RedisBuffer(redis_server_url, redis_prefix, timeout_seconds=5)
    yield buffer
    buffer.close()


@pytest.fixture
def fake_x_stream() -> Iterator[FakeXStream]:
    """A fake X filtered stream (rules and scripted connections) on loopback; token FAKE_X_TOKEN."""
    api = FakeXStream(FAKE_X_TOKEN).start()
    yield api
    api.close()
