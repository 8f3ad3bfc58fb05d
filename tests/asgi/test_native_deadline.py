"""The native server's per-connection deadline: one timer, re-armed only when it fires before its time."""

from __future__ import annotations

import asyncio

from tidings.native._deadline import Deadline


def _recorder(loop: asyncio.AbstractEventLoop) -> tuple[list[float], Deadline]:
    fired: list[float] = []
    return fired, Deadline(loop)


async def test_the_action_runs_once_when_the_deadline_passes() -> None:
    loop = asyncio.get_running_loop()
    fired, deadline = _recorder(loop)
    started = loop.time()
    deadline.set(0.05, lambda: fired.append(loop.time()))
    assert deadline.pending
    await asyncio.sleep(0.2)
    assert len(fired) == 1 and 0.04 <= fired[0] - started < 0.15
    assert not deadline.pending


async def test_a_deadline_moved_later_waits_for_the_new_time() -> None:
    loop = asyncio.get_running_loop()
    fired, deadline = _recorder(loop)
    started = loop.time()
    deadline.set(0.05, lambda: fired.append(loop.time()))
    for _ in range(5):  # the armed timer fires early each time and must not act
        await asyncio.sleep(0.03)
        deadline.set(0.05, lambda: fired.append(loop.time()))
    assert fired == []
    await asyncio.sleep(0.2)
    assert len(fired) == 1 and fired[0] - started >= 0.19


async def test_a_deadline_moved_earlier_fires_at_the_earlier_time() -> None:
    loop = asyncio.get_running_loop()
    fired, deadline = _recorder(loop)
    started = loop.time()
    deadline.set(10, lambda: fired.append(loop.time()))
    deadline.set(0.05, lambda: fired.append(loop.time()))
    await asyncio.sleep(0.2)
    assert len(fired) == 1 and fired[0] - started < 0.15


async def test_the_latest_action_is_the_one_that_runs() -> None:
    loop = asyncio.get_running_loop()
    fired: list[str] = []
    deadline = Deadline(loop)
    deadline.set(0.05, lambda: fired.append("first"))
    deadline.set(0.05, lambda: fired.append("second"))
    await asyncio.sleep(0.2)
    assert fired == ["second"]


async def test_cleared_or_closed_deadlines_never_act() -> None:
    loop = asyncio.get_running_loop()
    fired: list[str] = []
    cleared, closed = Deadline(loop), Deadline(loop)
    cleared.set(0.05, lambda: fired.append("cleared"))
    closed.set(0.05, lambda: fired.append("closed"))
    cleared.clear()
    closed.close()
    assert not cleared.pending and not closed.pending
    await asyncio.sleep(0.2)
    assert fired == []
    # Set again after a clear: it works as new.
    cleared.set(0.01, lambda: fired.append("again"))
    await asyncio.sleep(0.1)
    assert fired == ["again"]
