"""The tests' one polling helper: it returns what the condition returned, or fails saying what it
waited for."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from tests.support.polling import wait_until, wait_until_async


def test_the_condition_s_first_truthy_value_is_returned() -> None:
    calls = itertools.count(1)
    assert wait_until(lambda: next(calls) >= 3 and "third", message="the third call", interval=0) == "third"


def test_a_timeout_names_what_was_awaited_and_the_last_answer() -> None:
    with pytest.raises(AssertionError, match=r"timed out after 0\.05 s waiting for the moon \(last: \[\]\)"):
        wait_until(list, message="the moon", timeout=0.05, interval=0.01)


def test_the_message_may_be_computed_when_the_wait_fails() -> None:
    with pytest.raises(AssertionError, match="waiting for the log to say 'ready'"):
        wait_until(lambda: False, message=lambda: "the log to say 'ready'", timeout=0, interval=0)


def test_ignored_errors_mean_not_yet_and_others_go_through() -> None:
    answers = iter([ConnectionError("refused"), ConnectionError("refused"), 42])

    def answer() -> int:
        value = next(answers)
        if isinstance(value, Exception):
            raise value
        return value

    assert wait_until(answer, message="an answer", interval=0, ignoring=(ConnectionError,)) == 42

    def refused() -> None:
        raise ConnectionError("refused")

    with pytest.raises(AssertionError, match=r"last: ConnectionError\('refused'\)"):
        wait_until(refused, message="an answer", timeout=0, ignoring=(ConnectionError,))
    with pytest.raises(KeyError):
        wait_until(lambda: {}["missing"], message="a key", ignoring=(ConnectionError,))


async def test_the_async_wait_lets_the_loop_run_and_awaits_coroutines() -> None:
    done = asyncio.Event()
    asyncio.get_running_loop().call_later(0.02, done.set)
    assert await wait_until_async(done.is_set, message="the event", timeout=5)

    async def ready() -> str:
        return "ready"

    assert await wait_until_async(ready, message="a coroutine's answer") == "ready"
    with pytest.raises(AssertionError, match="waiting for nothing"):
        await wait_until_async(lambda: None, message="nothing", timeout=0.02)
