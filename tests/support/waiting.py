"""Waiting for asynchronous deliveries without sleeping a fixed time."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sized


async def wait_until(
    condition: Callable[[], bool], *, timeout: float = 10.0, what: str = "condition"
) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.002)


async def wait_for_count(items: Sized, count: int, *, timeout: float = 10.0) -> None:
    await wait_until(lambda: len(items) >= count, timeout=timeout, what=f"{count} items (have {len(items)})")
