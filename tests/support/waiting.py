"""Waiting for asynchronous deliveries without sleeping a fixed time."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sized

from tidings import Channel, Message

SENTINEL = "sentinel"  # the event wait_for_sentinel emits


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


async def wait_for_sentinel(channel: Channel, *received: list[Message], timeout: float = 10.0) -> None:
    """Emit a sentinel event on ``channel``, wait until every list in ``received`` got it, and take it out.

    A channel delivers in id order and the sentinel is its newest event, so
    once it is in, whatever emitted before it was going to reach a subscriber
    (a duplicate, a stray) has arrived: the assertions that follow are exact,
    without sleeping for "room for a duplicate".
    """
    sentinel = await channel.emit(SENTINEL, None)
    for index, messages in enumerate(received):
        await wait_until(
            lambda m=messages: any(message.id == sentinel for message in m),  # type: ignore[misc]
            timeout=timeout,
            what=f"the sentinel event in subscriber {index}",
        )
        assert messages[-1].id == sentinel, f"subscriber {index} got something after the sentinel"
        messages.pop()
