"""The suite's own guards (``conftest._no_leaks`` and the warnings filter) fail the tests
that leak: run on a few tests of their own, in a pytest process of their own."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

HERE = Path(__file__).parent

LEAKY = """
import asyncio

import aiohttp


async def boom() -> None:
    raise ValueError("never retrieved")


async def test_a_task_exception_never_retrieved() -> None:
    task = asyncio.ensure_future(boom())
    await asyncio.sleep(0.01)
    del task


async def test_one_held_in_a_cycle() -> None:
    class Holder:
        pass

    holder = Holder()
    holder.me = holder  # collected only by the guard's collection
    holder.task = asyncio.ensure_future(boom())
    await asyncio.sleep(0.01)
    del holder


async def test_an_unclosed_session() -> None:
    session = aiohttp.ClientSession()
    del session


async def test_a_task_left_running() -> None:
    asyncio.ensure_future(asyncio.sleep(30))


async def test_a_clean_one() -> None:
    task = asyncio.ensure_future(asyncio.sleep(0))
    await task
"""


def test_the_leak_guards_fail_what_leaks(pytester: pytest.Pytester) -> None:
    for name in ("conftest.py", "faultproxy.py"):
        shutil.copy(HERE / name, pytester.path / name)
    pytester.makeini(
        """
        [pytest]
        asyncio_mode = auto
        asyncio_default_fixture_loop_scope = function
        asyncio_default_test_loop_scope = function
        filterwarnings = error
        """
    )
    pytester.makepyfile(test_leaky=LEAKY)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-q")
    text = result.stdout.str()
    # a leak found after the test is an error at its teardown; the unclosed session's
    # warning fires within the test, a failure
    assert result.parseoutcomes() == {"passed": 4, "errors": 3, "failed": 1}, text[-3000:]
    for name in (
        "test_a_task_exception_never_retrieved",
        "test_one_held_in_a_cycle",
        "test_a_task_left_running",
    ):
        assert f"ERROR test_leaky.py::{name}" in text, text[-3000:]
    assert "FAILED test_leaky.py::test_an_unclosed_session" in text, text[-3000:]
