"""Keeps unit tests unit tests: a pytest plugin (loaded by tests/unit/conftest.py) that refuses
every connection to PostgreSQL or Redis while a unit test runs, and fails the test that tried.

Refused: a socket connecting to port 5432 or 6379 (or the ports of TAGPULSE_TEST_DATABASE_URL
and TAGPULSE_TEST_REDIS_URL), and any psycopg connection (libpq opens its sockets in C, out of
reach of the socket patch). Fake HTTP servers on other loopback ports are allowed.

The refusal is a BaseException, so code that catches `Exception` (a cache that survives a dead
Redis) cannot hide it; and the test fails even if something swallowed it, because every
attempt is recorded and checked after the test.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Generator
from typing import Any
from urllib.parse import urlsplit

import psycopg
import pytest

SERVER_PORTS = {5432: "PostgreSQL", 6379: "Redis"}


class ServerConnectionInUnitTest(BaseException):
    """A unit test tried to reach PostgreSQL or Redis."""


def forbidden_ports() -> dict[int, str]:
    ports = dict(SERVER_PORTS)
    for variable, what in (
        ("TAGPULSE_TEST_DATABASE_URL", "PostgreSQL"),
        ("TAGPULSE_TEST_REDIS_URL", "Redis"),
    ):
        url = os.environ.get(variable)
        if url:
            try:
                port = urlsplit(url).port
            except ValueError:
                continue
            if port is not None:
                ports[port] = what
    return ports


class ServerGuard:
    def __init__(self) -> None:
        self.ports = forbidden_ports()
        self.attempts: list[str] = []

    def refuse(self, what: str) -> None:
        self.attempts.append(what)
        raise ServerConnectionInUnitTest(
            f"a unit test connected to {what}: tests that need PostgreSQL or Redis belong in "
            "tests/integration (see DEVELOPERS.md, Tests)"
        )

    def check_address(self, address: Any) -> None:
        if isinstance(address, tuple) and len(address) >= 2 and address[1] in self.ports:
            self.refuse(f"{self.ports[address[1]]} at {address[0]}:{address[1]}")

    def failure(self) -> str | None:
        if not self.attempts:
            return None
        return "a unit test tried to reach a server: " + "; ".join(self.attempts)


_GUARD = pytest.StashKey[ServerGuard]()


@pytest.fixture(autouse=True)
def server_guard(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> ServerGuard:
    """Refuses connections to PostgreSQL and Redis for the test; its `attempts` list what was
    refused (a test of the guard itself clears it)."""
    guard = ServerGuard()
    request.node.stash[_GUARD] = guard
    connect, connect_ex = socket.socket.connect, socket.socket.connect_ex

    def guarded_connect(sock: socket.socket, address: Any) -> None:
        guard.check_address(address)
        connect(sock, address)

    def guarded_connect_ex(sock: socket.socket, address: Any) -> int:
        guard.check_address(address)
        return connect_ex(sock, address)

    def refused_psycopg(*args: object, **kwargs: object) -> Any:
        guard.refuse("PostgreSQL through psycopg")

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    monkeypatch.setattr(socket.socket, "connect_ex", guarded_connect_ex)
    for owner in (psycopg, psycopg.Connection, psycopg.AsyncConnection):
        monkeypatch.setattr(owner, "connect", refused_psycopg)
    return guard


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, object, object]:
    """Fails a test that passed although it tried to reach a server (the refusal was caught)."""
    result = yield
    guard = item.stash.get(_GUARD, None)
    failure = guard.failure() if guard is not None else None
    if failure:
        pytest.fail(failure, pytrace=False)
    return result
