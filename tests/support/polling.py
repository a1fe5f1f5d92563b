"""Wait for a condition, never for a time: the one polling loop of the tests.

`wait_until(condition, message=...)` calls `condition` until it returns something truthy and
returns that value; after `timeout` seconds it fails with an AssertionError that says what it
waited for (and the last value, or the last error it was told to ignore). `wait_until_async`
is the same for a test running on an event loop: it yields to the loop between calls, and
awaits the condition's answer when that is awaitable.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")

Message = str | Callable[[], str]


def wait_until(
    condition: Callable[[], T],
    *,
    message: Message,
    timeout: float = 30,
    interval: float = 0.05,
    ignoring: tuple[type[BaseException], ...] = (),
) -> T:
    """Call `condition` until it is truthy; its value. `message` says what is awaited (a
    callable is called only on failure, e.g. to add a process's log); errors of the types in
    `ignoring` count as "not yet"."""
    waiting = _Waiting(message, timeout)
    while True:
        try:
            value = condition()
        except ignoring as error:
            waiting.last = error
        else:
            if value:
                return value
            waiting.last = value
        waiting.check()
        time.sleep(interval)


async def wait_until_async(
    condition: Callable[[], T | Awaitable[T]],
    *,
    message: Message,
    timeout: float = 30,
    interval: float = 0.02,
    ignoring: tuple[type[BaseException], ...] = (),
) -> T:
    """`wait_until` for async tests: sleeps with asyncio between calls, so the loop's tasks run."""
    waiting = _Waiting(message, timeout)
    while True:
        try:
            value = condition()
            if inspect.isawaitable(value):
                value = await value
        except ignoring as error:
            waiting.last = error
        else:
            if value:
                return value
            waiting.last = value
        waiting.check()
        await asyncio.sleep(interval)


class _Waiting:
    def __init__(self, message: Message, timeout: float) -> None:
        self.message = message
        self.timeout = timeout
        self.deadline = time.monotonic() + timeout
        self.last: object = None

    def check(self) -> None:
        if time.monotonic() < self.deadline:
            return
        what = self.message() if callable(self.message) else self.message
        raise AssertionError(f"timed out after {self.timeout:g} s waiting for {what} (last: {self.last!r})")
