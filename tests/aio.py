"""Running a coroutine from a synchronous test, whatever the main thread is doing."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    """`asyncio.run` on a thread of its own.

    Playwright's sync API leaves its event loop marked as running on the main thread for the rest
    of the session, and where pytest-xdist hands a worker a browser test file before this one,
    `asyncio.run` there would refuse to start."""
    with ThreadPoolExecutor(max_workers=1) as thread:
        return thread.submit(asyncio.run, coroutine).result()
