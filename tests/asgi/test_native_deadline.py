"""The native server's per-connection deadline: one timer, re-armed only when it fires before its time."""

from __future__ import annotations

import asyncio

from tidings.native._deadline import Deadline


class Record:
    """What an action saw: when it ran, by name; ``ran`` is set on the first."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.started = loop.time()
        self.runs: list[tuple[str, float]] = []
        self.ran = asyncio.Event()

    def action(self, name: str = "it") -> object:
        def run() -> None:
            self.runs.append((name, self.loop.time() - self.started))
            self.ran.set()

        return run

    async def wait(self) -> None:
        await asyncio.wait_for(self.ran.wait(), 5)


async def test_the_action_runs_once_when_the_deadline_passes() -> None:
    record = Record(asyncio.get_running_loop())
    deadline = Deadline(record.loop)
    deadline.set(0.05, record.action())
    assert deadline.pending
    await record.wait()
    await asyncio.sleep(0.1)
    assert len(record.runs) == 1 and record.runs[0][1] >= 0.045
    assert not deadline.pending


async def test_a_deadline_moved_later_waits_for_the_new_time() -> None:
    record = Record(asyncio.get_running_loop())
    deadline = Deadline(record.loop)
    deadline.set(0.3, record.action())
    for _ in range(5):  # each move is later than the armed timer: it fires early and must not act
        await asyncio.sleep(0.05)
        moved = record.loop.time() - record.started
        deadline.set(0.3, record.action())
    await record.wait()
    assert len(record.runs) == 1 and record.runs[0][1] >= moved + 0.295


async def test_a_deadline_moved_earlier_fires_at_the_earlier_time() -> None:
    record = Record(asyncio.get_running_loop())
    deadline = Deadline(record.loop)
    deadline.set(30, record.action())
    deadline.set(0.05, record.action())
    await record.wait()
    assert len(record.runs) == 1 and 0.045 <= record.runs[0][1] < 5


async def test_the_latest_action_is_the_one_that_runs() -> None:
    record = Record(asyncio.get_running_loop())
    deadline = Deadline(record.loop)
    deadline.set(0.05, record.action("first"))
    deadline.set(0.05, record.action("second"))
    await record.wait()
    await asyncio.sleep(0.1)
    assert [name for name, _ in record.runs] == ["second"]


async def test_cleared_or_closed_deadlines_never_act() -> None:
    record = Record(asyncio.get_running_loop())
    cleared, closed = Deadline(record.loop), Deadline(record.loop)
    cleared.set(0.05, record.action("cleared"))
    closed.set(0.05, record.action("closed"))
    cleared.clear()
    closed.close()
    assert not cleared.pending and not closed.pending
    await asyncio.sleep(0.2)
    assert record.runs == []
    # Set again after a clear: it works as new.
    cleared.set(0.01, record.action("again"))
    await record.wait()
    assert [name for name, _ in record.runs] == ["again"]
