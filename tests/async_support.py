"""Running a coroutine from a test, wherever the test runs.

Playwright's sync API (the e2e tests) keeps an event loop running in the main thread for the rest
of the pytest process, and under xdist any test may share a process with them: `asyncio.run` there
fails with "cannot be called from a running event loop". A thread of its own always works.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()
