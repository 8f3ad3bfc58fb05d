"""RedisBackend as a whole: write coalescing, errors, lifecycle."""

from __future__ import annotations

import asyncio
import gc
import time
from typing import Any

import pytest
import redis

from tests.support.redis_server import RedisServer, free_port
from tidings import (
    BackendError,
    BackendUnavailableError,
    ClosedError,
    InvalidArgumentError,
    Realtime,
    Retention,
)
from tidings.redis import RedisBackend
from tidings.redis._writer import _Append, _merge

from .conftest import MakeRedisBackend

KEEP_ALL = Retention()


def pending(key: str, records: int = 1, retention: Retention = KEEP_ALL, size: int = 1) -> _Append:
    future: asyncio.Future[list[str]] = asyncio.get_running_loop().create_future()
    return _Append(key, key, [("e", b"x" * size)] * records, retention, future, 0.0)


async def test_merging_keeps_each_channels_appends_in_call_order() -> None:
    keep2 = Retention(max_length=2)
    a1, b1, a2, a3, a4 = pending("a"), pending("b"), pending("a", retention=keep2), pending("a"), pending("a")
    calls = _merge([a1, b1, a2, a3, a4])
    # a2 has another retention: a3 may not jump ahead of it into a1's call.
    assert calls == [[a1], [b1], [a2], [a3, a4]]


async def test_merging_is_bounded() -> None:
    many = [pending("k", records=400) for _ in range(5)]
    assert [len(call) for call in _merge(many)] == [2, 2, 1]
    big = [pending("k", size=100_000) for _ in range(5)]
    assert [len(call) for call in _merge(big)] == [2, 2, 1]


async def test_concurrent_emits_with_different_retention_keep_call_order(
    make_redis_backend: MakeRedisBackend,
) -> None:
    backend = await make_redis_backend()
    keep = Retention(max_length=100)
    appends = [
        backend.append("order", [(name, b"1")], keep if name == "b" else Retention())
        for name in ("a", "b", "c", "d")
    ]
    await asyncio.gather(*appends)
    stored = await backend.latest("order", start=None, end=None, limit=10)
    assert [e.event for e in stored] == ["a", "b", "c", "d"]


async def test_many_concurrent_emits_are_all_stored_once(make_redis_backend: MakeRedisBackend) -> None:
    realtime = Realtime(backend=await make_redis_backend())
    channels = [realtime.channel(f"c{i}") for i in range(4)]
    ids = await asyncio.gather(*(channels[n % 4].emit("n", n) for n in range(2000)))
    # Ids are per stream: unique within each channel.
    assert len({(n % 4, new_id) for n, new_id in enumerate(ids)}) == 2000
    for index, channel in enumerate(channels):
        history = await channel.history(limit=1000)
        assert sorted(m.data for m in history) == list(range(index, 2000, 4))


async def test_redis_refusing_a_command_is_a_backend_error(
    make_redis_backend: MakeRedisBackend, raw: redis.Redis, prefix: str
) -> None:
    raw.set(prefix + "not-a-stream", "x")
    realtime = Realtime(backend=await make_redis_backend())
    with pytest.raises(BackendError, match="WRONGTYPE") as caught:
        await realtime.channel("not-a-stream").emit("e", 1)
    assert not isinstance(caught.value, BackendUnavailableError)
    with pytest.raises(BackendError, match="WRONGTYPE"):
        await realtime.channel("not-a-stream").history()
    # The writer carries on with other channels.
    assert await realtime.channel("fine").emit("e", 1)


async def test_closed_backend_refuses_use(make_redis_backend: MakeRedisBackend) -> None:
    backend = await make_redis_backend()
    await backend.append("c", [("e", b"1")], Retention())
    await backend.aclose()
    with pytest.raises(ClosedError):
        await backend.append("c", [("e", b"1")], Retention())
    with pytest.raises(ClosedError):
        await backend.latest("c", start=None, end=None, limit=1)


async def test_appends_waiting_when_the_backend_closes_fail_at_once() -> None:
    # Nothing listens there: the appends wait for a connection until closed.
    backend = RedisBackend(f"redis://127.0.0.1:{free_port()}/0", command_timeout=5)
    tasks = [asyncio.create_task(backend.append("c", [("e", b"1")], Retention())) for _ in range(50)]
    await asyncio.sleep(0.1)
    started = time.monotonic()
    await backend.aclose()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert time.monotonic() - started < 1
    assert all(isinstance(result, ClosedError) for result in results), results


def test_a_backend_can_serve_one_event_loop_after_another(redis_server: RedisServer, prefix: str) -> None:
    # A script calling asyncio.run() twice with a module-level Realtime.
    backend = RedisBackend(redis_server.url, prefix=prefix)
    realtime = Realtime(backend=backend)
    received: list[Any] = []

    async def round_trip(n: int) -> None:
        await realtime.channel("loops").subscribe(on_data=received.append)
        await realtime.channel("loops").emit("e", n)
        while len(received) < n:
            await asyncio.sleep(0.005)

    asyncio.run(round_trip(1))
    asyncio.run(round_trip(2))
    gc.collect()  # nothing of the first loop is left unclosed (warnings are errors)

    async def close() -> None:
        await realtime.aclose()
        await backend.aclose()

    asyncio.run(close())
    assert [m.data for m in received] == [1, 2]


async def test_a_redis_refusing_the_append_script_fails_fast_and_clearly() -> None:
    server = RedisServer().start()
    admin = redis.Redis.from_url(server.url)
    try:
        admin.acl_setuser(
            "limited", enabled=True, passwords=["+secret"], keys=["*"], channels=["*"],
            commands=["+@all", "-script|load", "-eval"],
        )  # fmt: skip
        backend = RedisBackend(server.url, connection_options={"username": "limited", "password": "secret"})
        started = time.monotonic()
        with pytest.raises(BackendError, match="refused tidings' append script"):
            await backend.append("c", [("e", b"1")], Retention())
        assert time.monotonic() - started < 1
        await backend.aclose()
    finally:
        admin.close()
        server.stop()


def test_the_blocking_facade_works_over_redis(redis_server: RedisServer, prefix: str) -> None:
    realtime = Realtime(redis=f"{redis_server.url}?prefix={prefix}")
    new_id = realtime.sync.channel("sync").emit("e", {"n": 1})
    assert [(m.id, m.data) for m in realtime.sync.channel("sync").history()] == [(new_id, {"n": 1})]
    realtime.close()
    gc.collect()


def test_the_url_may_set_the_command_timeout(redis_server: RedisServer) -> None:
    assert RedisBackend(f"{redis_server.url}?command_timeout=0.25")._timeout == 0.25
    # A keyword option wins over the URL.
    assert RedisBackend(f"{redis_server.url}?command_timeout=0.25", command_timeout=2)._timeout == 2
    for bad in ("0", "-1", "soon", "inf", "nan"):
        with pytest.raises(InvalidArgumentError, match="command_timeout"):
            RedisBackend(f"{redis_server.url}?command_timeout={bad}")


async def test_an_unreachable_redis_is_reported_within_the_url_timeout() -> None:
    realtime = Realtime(redis=f"redis://127.0.0.1:{free_port()}/0?command_timeout=0.3")
    started = time.monotonic()
    with pytest.raises(BackendUnavailableError, match=r"within 0\.3 s"):
        await realtime.emit("e", 1)
    assert time.monotonic() - started < 2
    await realtime.aclose()
