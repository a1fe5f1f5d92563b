"""Unit tests reach no PostgreSQL and no Redis: the guard (tests/support/server_guard.py) refuses
such connections and fails the test that tried. Fake servers on loopback are fine."""

from tests.support.server_guard import pytest_runtest_call, server_guard

__all__ = ["pytest_runtest_call", "server_guard"]
