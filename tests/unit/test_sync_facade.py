"""The blocking facade, as Flask views, Django views and Celery tasks use it."""

from __future__ import annotations

import asyncio
import threading

import pytest

from tidings import InvalidDataError, Message, Realtime, UsageError, WrongEventLoopError


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
