"""The blocking facade, as Flask views, Django views and Celery tasks use it."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence

import pytest

from tidings import (
    ClosedError,
    InvalidDataError,
    MemoryBackend,
    Message,
    Realtime,
    Retention,
    UsageError,
    WrongEventLoopError,
)


def test_emit_and_history_from_plain_synchronous_code() -> None:
    realtime = Realtime({"job": {"progress": int}})
    job = realtime.sync.channel("job-1")
    ids = [job.emit("job.progress", i) for i in range(0, 101, 25)]
    assert [m.id for m in job.history()] == ids
    assert [m.data for m in job.history(limit=2)] == [75, 100]
    assert job.emit_many([("job.progress", 1), ("job.progress", 2)])
    assert realtime.sync.emit("job.progress", 7)
    assert [m.data for m in realtime.sync.history()] == [7]
    with pytest.raises(InvalidDataError, match="job.progress"):
        job.emit("job.progress", "lots")
    realtime.close()


def test_sync_emits_from_threads_reach_async_subscribers_on_the_server_loop() -> None:
    # A Django sync view (thread pool) next to an async endpoint on the server's loop.
    realtime = Realtime()
    received: list[Message] = []
    ready = threading.Event()
    done = threading.Event()

    async def server() -> None:
        await realtime.channel("news").subscribe(on_data=received.append)
        ready.set()
        while len(received) < 20:
            await asyncio.sleep(0.005)
        done.set()
        await realtime.aclose()

    def view(n: int) -> None:
        ready.wait()
        for i in range(5):
            realtime.sync.channel("news").emit("item", n * 10 + i)

    server_thread = threading.Thread(target=asyncio.run, args=(server(),))
    server_thread.start()
    views = [threading.Thread(target=view, args=(n,)) for n in range(4)]
    for thread in views:
        thread.start()
    for thread in views:
        thread.join()
    assert done.wait(10)
    server_thread.join(10)
    assert sorted(m.data for m in received) == sorted(n * 10 + i for n in range(4) for i in range(5))


async def test_sync_facade_refuses_to_block_its_own_loop() -> None:
    realtime = Realtime()
    await realtime.emit("e", 1)
    with pytest.raises(UsageError, match="await"):
        realtime.sync.emit("e", 2)
    await realtime.aclose()


def test_a_realtime_belongs_to_one_running_loop() -> None:
    realtime = Realtime()
    started = threading.Event()
    stop = threading.Event()

    async def owner() -> None:
        await realtime.emit("e", 1)
        started.set()
        while not stop.is_set():
            await asyncio.sleep(0.01)

    thread = threading.Thread(target=asyncio.run, args=(owner(),))
    thread.start()
    started.wait(5)
    try:
        with pytest.raises(WrongEventLoopError, match="another event loop"):
            asyncio.run(realtime.emit("e", 2))
    finally:
        stop.set()
        thread.join(5)


def test_realtime_moves_on_after_its_first_loop_finished() -> None:
    realtime = Realtime()
    asyncio.run(realtime.emit("e", 1))
    asyncio.run(realtime.emit("e", 2))
    assert [m.data for m in realtime.sync.history()] == [1, 2]
    realtime.close()


def sync_loop_threads() -> set[threading.Thread]:
    return {thread for thread in threading.enumerate() if thread.name == "tidings-sync-loop"}


def sync_loop_ended(before: set[threading.Thread]) -> bool:
    """Whether the private loop threads started since ``before`` ended (within 5 s)."""
    for thread in sync_loop_threads() - before:
        thread.join(5)
    return not sync_loop_threads() - before


def test_async_code_takes_the_realtime_over_from_earlier_sync_calls() -> None:
    # A def route emitted before any stream connected: the private loop held the
    # Realtime; the server's loop must get it, and later sync calls must run there.
    before = sync_loop_threads()
    realtime = Realtime()
    first = realtime.sync.channel("news").emit("item", 1)
    assert sync_loop_threads() - before
    received: list[Message] = []
    subscribed = threading.Event()

    async def server() -> None:
        await realtime.channel("news").subscribe(on_data=received.append, history=True)
        subscribed.set()
        while len(received) < 3:
            await asyncio.sleep(0.005)
        await realtime.aclose()

    server_thread = threading.Thread(target=asyncio.run, args=(server(),))
    server_thread.start()
    assert subscribed.wait(10)
    assert sync_loop_ended(before)  # the private loop ended once it handed over
    later = [realtime.sync.channel("news").emit("item", n) for n in (2, 3)]
    server_thread.join(10)
    assert [(m.id, m.data) for m in received] == list(zip([first, *later], [1, 2, 3], strict=True))
    assert sync_loop_ended(before)


class HeldBackend(MemoryBackend):
    """Appends wait until ``release`` is set, so a sync call can be caught in flight."""

    def __init__(self) -> None:
        super().__init__()
        self.entered = threading.Event()
        self.release = threading.Event()

    async def append(
        self, channel: str, records: Sequence[tuple[str, bytes]], retention: Retention
    ) -> list[str]:
        self.entered.set()
        while not self.release.is_set():
            await asyncio.sleep(0.005)
        return await super().append(channel, records, retention)


def test_the_takeover_waits_for_sync_calls_in_flight() -> None:
    before = sync_loop_threads()
    backend = HeldBackend()
    realtime = Realtime(backend=backend)
    outcome: list[str] = []
    caller = threading.Thread(target=lambda: outcome.append(realtime.sync.emit("e", 1)))
    caller.start()
    assert backend.entered.wait(10)

    async def async_user() -> list[Message]:
        backend.release.set()  # the in-flight call may finish now; ours waits for it
        await realtime.emit("e", 2)
        history = await realtime.history()
        await realtime.aclose()
        return history

    history = asyncio.run(async_user())
    caller.join(10)
    assert [m.data for m in history] == [1, 2]
    assert history[0].id == outcome[0]
    assert sync_loop_ended(before)


def test_close_from_a_thread_closes_a_realtime_held_by_a_running_loop() -> None:
    realtime = Realtime()
    realtime.sync.emit("e", 1)
    stop = threading.Event()
    started = threading.Event()

    async def owner() -> None:
        await realtime.emit("e", 2)
        started.set()
        while not stop.is_set():
            await asyncio.sleep(0.005)

    thread = threading.Thread(target=asyncio.run, args=(owner(),))
    thread.start()
    try:
        assert started.wait(10)
        realtime.close()
        with pytest.raises(ClosedError):
            realtime.sync.emit("e", 3)
    finally:
        stop.set()
        thread.join(10)


def test_presence_reads_from_synchronous_code() -> None:
    realtime = Realtime()

    async def enter() -> None:
        await realtime.channel("room").enter("ada", {"name": "Ada"})

    realtime.sync._call(enter)  # an async user of the same Realtime, as an ASGI stream would be
    room = realtime.sync.channel("room")
    assert [(m.client_id, m.info) for m in room.presence()] == [("ada", {"name": "Ada"})]
    assert room.presence_count() == 1
    assert room.presence(limit=1)[0].client_id == "ada"
    realtime.close()
