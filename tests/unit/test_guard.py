"""The unit-test guard (tests/support/server_guard.py) fires: a unit test that reaches PostgreSQL
or Redis fails, even when the code under test swallows the refusal; fake servers on loopback are
allowed."""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import psycopg
import pytest
import redis
from sqlalchemy import create_engine, text

from tests.support.processes import free_port
from tests.support.server_guard import ServerConnectionInUnitTest, ServerGuard

pytest_plugins = ("pytester",)

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(("port", "what"), [(5432, "PostgreSQL"), (6379, "Redis")])
def test_a_socket_to_postgresql_or_redis_is_refused(server_guard: ServerGuard, port: int, what: str) -> None:
    with pytest.raises(ServerConnectionInUnitTest, match=f"{what} at 127.0.0.1:{port}"):
        socket.create_connection(("127.0.0.1", port), timeout=1)
    assert server_guard.attempts == [f"{what} at 127.0.0.1:{port}"]
    server_guard.attempts.clear()  # this test wanted the refusal


def test_clients_cannot_catch_the_refusal_as_a_connection_error(server_guard: ServerGuard) -> None:
    client = redis.Redis(host="127.0.0.1", port=6379, socket_connect_timeout=1)
    with pytest.raises(ServerConnectionInUnitTest):
        client.ping()
    with pytest.raises(ServerConnectionInUnitTest):
        psycopg.connect("postgresql://postgres@127.0.0.1:5432/test", connect_timeout=1)
    engine = create_engine("postgresql+psycopg://postgres@127.0.0.1:5432/test")
    with pytest.raises(ServerConnectionInUnitTest), engine.connect() as connection:
        connection.execute(text("SELECT 1"))
    engine.dispose()
    assert len(server_guard.attempts) == 3
    server_guard.attempts.clear()


def test_a_fake_server_on_loopback_is_allowed(server_guard: ServerGuard) -> None:
    with socket.create_server(("127.0.0.1", free_port())) as server:
        accepted = threading.Thread(target=lambda: server.accept()[0].close())
        accepted.start()
        with socket.create_connection(server.getsockname(), timeout=5):
            pass
        accepted.join(5)
    assert server_guard.attempts == []


def test_a_unit_test_that_swallows_the_refusal_still_fails(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        f"""
        import sys
        sys.path.insert(0, {str(ROOT)!r})
        from tests.support.server_guard import pytest_runtest_call, server_guard
        """
    )
    pytester.makepyfile(
        """
        import socket

        def test_reaches_redis_and_hides_it():
            try:
                socket.create_connection(("127.0.0.1", 6379), timeout=1)
            except BaseException:
                pass

        def test_reaches_nothing():
            assert True
        """
    )
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "-p", "no:asyncio")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*a unit test tried to reach a server: Redis at 127.0.0.1:6379*"])
