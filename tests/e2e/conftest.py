"""A stack shared by the tests of one module, for suites that send many requests and only read
(or clean up after themselves): starting query, collector and Envoy once per module keeps them
fast."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support import databases
from tests.support.processes import Stack
from tests.support.redis_prefixes import delete_prefix


@pytest.fixture(scope="module")
def module_stack(
    postgres_server_url: str,
    postgres_template: str,
    redis_server_url: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Callable[..., Stack]]:
    """Starts one stack (fresh database and Redis prefix) with the given environment; stopped
    and removed at the end of the module."""
    started: list[tuple[Stack, str]] = []

    def start(**extra_env: str) -> Stack:
        workdir: Path = tmp_path_factory.mktemp("stack")
        stack = Stack(
            database_url=databases.create_database(postgres_server_url, postgres_template),
            redis_url=redis_server_url,
            redis_prefix=f"tagpulse-test-{uuid.uuid4().hex[:12]}:",
            api_token=f"test-token-{uuid.uuid4().hex}",
            workdir=workdir,
            extra_env=extra_env,
        )
        started.append((stack, stack.database_url))
        return stack.start()

    yield start
    for stack, url in started:
        stack.stop()
        databases.drop_database(postgres_server_url, url)
        delete_prefix(redis_server_url, stack.redis_prefix)
