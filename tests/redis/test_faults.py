"""Real failures of a real Redis: kill -9, killed Pub/Sub clients, a frozen server.

Each test runs its own ``redis-server`` (AOF with ``appendfsync always``, so
whatever Redis acknowledged survives ``kill -9``). The invariant checked
after every fault: a subscriber receives exactly the channel's stored
history -- every event ``emit`` reported as stored, once, in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import Awaitable, Callable, Iterator

import pytest
import redis

from tests.support.redis_server import RedisServer
from tests.support.waiting import wait_for_count, wait_for_sentinel, wait_until
from tidings import BackendStatus, BackendUnavailableError, Message, Realtime
from tidings._ids import parse_id
from tidings.redis import RedisBackend

FAST_RECOVERY = {"command_timeout": 2.0, "reconnect_delay": 0.02, "max_reconnect_delay": 0.2}
# The listener comes back later than the emitter, so that events are stored
# while its live feed is down and must come from the catch-up read.
SLOW_RECOVERY = {"command_timeout": 2.0, "reconnect_delay": 0.25, "max_reconnect_delay": 0.5}


@pytest.fixture
def server() -> Iterator[RedisServer]:
    server = RedisServer(appendonly=True).start()
    try:
        yield server
    finally:
        server.stop()


def stored_ids(server: RedisServer, key: str) -> list[str]:
    client = redis.Redis.from_url(server.url)
    try:
        return [entry_id.decode() for entry_id, _ in client.xrange(key)]
    finally:
        client.close()


async def stream_through_fault(
    server: RedisServer, fault: Callable[[], Awaitable[None]], *, events: int = 600
) -> tuple[list[str], list[Message], list[BaseException]]:
    """Emit ``events`` while a subscriber in another backend listens; ``fault`` strikes midway.

    Returns the ids emit reported as stored, what the subscriber received and
    the problems it was told about.
    """
    emitter = Realtime(backend=RedisBackend(server.url, **FAST_RECOVERY))
    listener = Realtime(backend=RedisBackend(server.url, **SLOW_RECOVERY))
    received: list[Message] = []
    problems: list[BaseException] = []
    subscription = await listener.channel("stream").subscribe(
        on_data=received.append, on_error=problems.append
    )
    acknowledged: list[str] = []

    async def emit_all() -> None:
        for n in range(events):
            # A failed emit may or may not have been stored: the history says.
            with contextlib.suppress(BackendUnavailableError):
                acknowledged.append(await emitter.channel("stream").emit("n", n))
            await asyncio.sleep(0.001)

    task = asyncio.create_task(emit_all())
    await wait_until(lambda: len(acknowledged) >= events // 3, what="a third of the stream")
    await fault()
    await task
    history = stored_ids(server, "tidings:stream")
    await wait_for_count(received, len(history), timeout=20)
    await wait_for_sentinel(emitter.channel("stream"), received)
    assert [m.id for m in received] == history
    assert set(acknowledged) <= set(history)
    assert len(acknowledged) > events // 2
    assert subscription.status is BackendStatus.CONNECTED
    await listener.aclose()
    await emitter.aclose()
    await listener.backend.aclose()
    await emitter.backend.aclose()
    return acknowledged, received, problems


async def test_kill_9_and_restart_loses_nothing_acknowledged(server: RedisServer) -> None:
    async def crash() -> None:
        server.kill()
        await asyncio.sleep(0.3)
        server.start()

    _, _, problems = await stream_through_fault(server, crash)
    # The subscriber was told the live feed went down.
    assert any(isinstance(p, BackendUnavailableError) for p in problems)


async def test_killed_pubsub_connection_is_restored_and_the_gap_refilled(server: RedisServer) -> None:
    async def kill_pubsub() -> None:
        client = redis.Redis.from_url(server.url)
        assert client.client_kill_filter(_type="pubsub") >= 1
        client.close()

    _, _, problems = await stream_through_fault(server, kill_pubsub)
    assert any(isinstance(p, BackendUnavailableError) for p in problems)


async def test_emit_and_reads_fail_within_the_timeout_while_redis_is_down(server: RedisServer) -> None:
    timeout = 0.5
    used = Realtime(backend=RedisBackend(server.url, command_timeout=timeout))
    await used.channel("c").emit("e", 1)
    never_connected = Realtime(backend=RedisBackend(server.url, command_timeout=timeout))
    server.kill()
    # Let the idle connections see the EOF, as they would in any real outage;
    # an append already in flight when Redis dies fails at once instead ("it
    # may have been stored"), which is honest too.
    await asyncio.sleep(0.05)
    calls: list[Callable[[], Awaitable[object]]] = [
        lambda: used.channel("c").emit("e", 2),
        lambda: used.channel("c").emit_many([("e", 3), ("e", 4)]),
        lambda: used.channel("c").history(),
        lambda: used.channel("c").history(after="0-0"),
        lambda: never_connected.channel("c").emit("e", 5),
        lambda: never_connected.channel("c").subscribe(on_data=print),
    ]
    for call in calls:
        started = time.monotonic()
        with pytest.raises(BackendUnavailableError, match="command_timeout"):
            await call()
        elapsed = time.monotonic() - started
        assert timeout * 0.8 <= elapsed <= timeout + 0.75, elapsed
    server.start()
    # Nothing reported as failed was stored: only the first event is there.
    assert [m.data for m in await used.channel("c").history()] == [1]
    await used.aclose()
    await never_connected.aclose()
    await used.backend.aclose()
    await never_connected.backend.aclose()


async def test_concurrent_emits_fail_together_and_the_next_ones_succeed(server: RedisServer) -> None:
    realtime = Realtime(backend=RedisBackend(server.url, command_timeout=0.5))
    await realtime.channel("c").emit("e", 0)
    server.kill()
    results = await asyncio.gather(
        *(realtime.channel("c").emit("e", n) for n in range(50)), return_exceptions=True
    )
    assert all(isinstance(r, BackendUnavailableError) for r in results)
    server.start()
    assert isinstance(await realtime.channel("c").emit("e", 99), str)
    assert [m.data for m in await realtime.channel("c").history()] == [0, 99]
    await realtime.aclose()
    await realtime.backend.aclose()


async def test_subscriber_sees_disconnected_while_down_and_recovers(server: RedisServer) -> None:
    realtime = Realtime(backend=RedisBackend(server.url, **FAST_RECOVERY))
    got: list[Message] = []
    problems: list[BaseException] = []
    subscription = await realtime.channel("watch").subscribe(on_data=got.append, on_error=problems.append)
    assert subscription.status is BackendStatus.CONNECTED
    server.kill()
    await wait_until(lambda: subscription.status is BackendStatus.DISCONNECTED, what="DISCONNECTED")
    await wait_until(lambda: len(problems) == 1)
    assert isinstance(problems[0], BackendUnavailableError)
    await asyncio.sleep(0.3)  # reconnect attempts fail meanwhile: reported once only
    assert len(problems) == 1
    server.start()
    await wait_until(lambda: subscription.status is BackendStatus.CONNECTED, what="CONNECTED")
    new_id = await realtime.channel("watch").emit("e", "back")
    await wait_for_count(got, 1)
    assert got[0].id == new_id
    await realtime.aclose()
    await realtime.backend.aclose()


async def test_a_frozen_redis_is_noticed_by_the_health_check(server: RedisServer) -> None:
    backend = RedisBackend(server.url, health_check_interval=0.2, **FAST_RECOVERY)
    realtime = Realtime(backend=backend)
    got: list[Message] = []
    subscription = await realtime.channel("frozen").subscribe(on_data=got.append, on_error=lambda e: None)
    assert server.process is not None
    os.kill(server.process.pid, signal.SIGSTOP)
    try:
        await wait_until(
            lambda: subscription.status is BackendStatus.DISCONNECTED, timeout=3, what="DISCONNECTED"
        )
    finally:
        os.kill(server.process.pid, signal.SIGCONT)
    await wait_until(lambda: subscription.status is BackendStatus.CONNECTED, what="CONNECTED")
    new_id = await realtime.channel("frozen").emit("e", 1)
    await wait_for_count(got, 1)
    assert [m.id for m in got] == [new_id]
    await realtime.aclose()
    await backend.aclose()


async def test_a_listener_joining_after_a_reconnect_gets_a_fresh_head(server: RedisServer) -> None:
    backend = RedisBackend(server.url, **FAST_RECOVERY)
    realtime = Realtime(backend=backend)
    first: list[Message] = []
    subscription = await realtime.channel("rejoin").subscribe(on_data=first.append, on_error=lambda e: None)
    client = redis.Redis.from_url(server.url)
    client.client_kill_filter(_type="pubsub")
    # Written while the live feed is down: history for whoever joins later.
    written = client.xadd("tidings:rejoin", {"event": "e", "data": "1"}).decode()
    await wait_until(lambda: subscription.status is BackendStatus.CONNECTED and len(first) == 1)
    second: list[Message] = []
    await realtime.channel("rejoin").subscribe(on_data=second.append, history=True)
    new_id = await realtime.channel("rejoin").emit("e", 2)
    await wait_for_count(second, 2)
    assert [m.id for m in second] == [written, new_id]
    await wait_for_count(first, 2)
    assert [m.id for m in first] == [written, new_id]
    client.close()
    await realtime.aclose()
    await backend.aclose()


async def test_scripts_flushed_from_redis_are_reloaded(server: RedisServer) -> None:
    realtime = Realtime(backend=RedisBackend(server.url), max_length=2)
    channel = realtime.channel("flushed")
    first = await channel.emit("e", 1)
    client = redis.Redis.from_url(server.url)
    client.script_flush()
    before = client.info("commandstats")["cmdstat_evalsha"]["failed_calls"]
    second, third = await asyncio.gather(channel.emit("e", 2), channel.emit("e", 3))
    assert client.info("commandstats")["cmdstat_evalsha"]["failed_calls"] > before  # NOSCRIPT seen
    client.script_flush()
    assert [m.id for m in await channel.history(after=second)] == [third]
    assert [m.data for m in await channel.history()] == [2, 3]
    assert parse_id(first) < parse_id(second) < parse_id(third)
    client.close()
    await realtime.aclose()
    await realtime.backend.aclose()
