"""Property: whatever the interleaving of emits, subscribes, resets, overflows,
slow handlers and pulls, every subscriber receives exactly the stored ids it
is owed, in order, once -- and the invariants stated in ``tidings._feed`` hold
after every step. Runs on the memory backend and on a real Redis."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.redis_server import RedisServer
from tidings import Backend, Entry, Limits, Message, Realtime
from tidings._feed import Feed
from tidings._ids import IdKey, parse_id

# Subscribers: "after", "history" and "live" consume with a callback
# (``next_entry``); "pull_*" open a bare feed consumed only by the "pull" and
# "pull_ready" steps (the SSE writers' API), so it falls behind and overflows.
SUBSCRIBERS = ["after", "history", "live", "pull_after", "pull_history", "pull_live"]
OPS = st.lists(
    st.tuples(
        st.sampled_from(
            ["emit", "emit_many", "overflow", "yield", "reset", "pull", "pull_ready", *SUBSCRIBERS]
        ),
        st.integers(min_value=1, max_value=6),
    ),
    max_size=30,
)


@dataclass
class Watcher:
    kind: str
    amount: int
    got: list[str] = field(default_factory=list)
    problems: list[BaseException] = field(default_factory=list)
    feed: Feed | None = None
    position: IdKey = (0, 0)
    had_work: bool = False
    woken: bool = False  # the feed called its waker since the last check

    def wake(self) -> None:
        self.woken = True

    @property
    def pulls(self) -> bool:
        return self.kind.startswith("pull_")

    def take(self, item: list[Entry] | BaseException | None) -> None:
        if isinstance(item, BaseException):
            self.problems.append(item)
        elif item:
            self.got += [entry.id for entry in item]


def check_invariants(watcher: Watcher) -> None:
    """The invariants of ``tidings._feed``'s docstring, on the feed's private state."""
    feed = watcher.feed
    if feed is None:
        return
    assert not feed._needs_catch_up or feed._catching_up, "needs catch-up without catching up"
    if not feed._catching_up:
        assert not feed._buffer and not feed._buffer_overflowed, "live, yet entries are buffered"
    assert len(feed._buffer) <= feed._capacity
    queued = [entry.key for entry in feed._queue[feed._taken :]]
    assert queued == sorted(set(queued)), "queued ids out of order or repeated"
    assert all(key <= feed.position for key in queued), "an id queued above the position"
    assert feed.position >= watcher.position, "the position went back"
    watcher.position = feed.position
    if watcher.pulls:
        # The waker contract: work appearing is always signalled.
        assert not feed.has_work or watcher.had_work or watcher.woken, "work came without a wake-up"
        watcher.had_work = feed.has_work
        watcher.woken = False


async def scenario(
    make_backend: Callable[[], Backend], ops: list[tuple[str, int]], queue: int, page: int, slow: bool
) -> None:
    backend = make_backend()
    realtime = Realtime(backend=backend, limits=Limits(subscriber_queue=queue, history_limit=page))
    try:
        await run(realtime, ops, queue, page, slow)
    finally:
        await realtime.aclose()
        await backend.aclose()


async def run(realtime: Realtime, ops: list[tuple[str, int]], queue: int, page: int, slow: bool) -> None:
    channel = realtime.channel("prop")
    watchers: list[Watcher] = []
    pending: list[asyncio.Task[None]] = []
    counter = 0

    async def attach(watcher: Watcher) -> None:
        async def on_data(message: Message) -> None:
            if slow:
                await asyncio.sleep(0)
            watcher.got.append(message.id)

        kind = watcher.kind.removeprefix("pull_")
        after = "0-0" if kind == "after" else None
        history = {"limit": watcher.amount} if kind == "history" else None
        if watcher.pulls:
            feed = await realtime._open_feed("prop", None, history, after)
            feed.set_waker(watcher.wake)
            watcher.woken = True  # the replay queued before the waker was set
        else:
            sub = await channel.subscribe(
                on_data=on_data, on_error=watcher.problems.append, after=after, history=history or False
            )
            feed = sub._feed
        watcher.feed = feed
        watcher.position = feed.position

    def target(amount: int, pulling: bool) -> Watcher | None:
        ready = [w for w in watchers if w.feed is not None and (w.pulls or not pulling)]
        return ready[amount % len(ready)] if ready else None

    for op, amount in ops:
        if op == "emit":
            for _ in range(amount):
                await channel.emit("n", counter)
                counter += 1
        elif op in ("emit_many", "overflow"):
            # "overflow": more in one batch than a subscriber may queue.
            size = amount + queue if op == "overflow" else amount
            await channel.emit_many([("n", counter + i) for i in range(size)])
            counter += size
        elif op == "yield":
            for _ in range(amount):
                await asyncio.sleep(0)
        elif op == "reset":  # what a backend says after its live feed was interrupted
            watcher = target(amount, pulling=False)
            if watcher is not None and watcher.feed is not None:
                watcher.feed.on_reset()
        elif op in ("pull", "pull_ready"):
            watcher = target(amount, pulling=True)
            if watcher is not None and watcher.feed is not None:
                feed = watcher.feed
                watcher.take(await feed.pull() if op == "pull" else feed.pull_ready())
        else:
            watcher = Watcher(op, amount)
            watchers.append(watcher)
            pending.append(asyncio.create_task(attach(watcher)))
        for watcher in watchers:
            check_invariants(watcher)
    await asyncio.gather(*pending)
    stored = [m.id for m in await channel.history(after="0-0", limit=page)]
    while len(stored) < counter:
        stored += [m.id for m in await channel.history(after=stored[-1], limit=page)]
    expected = {id(w): _expected(w, stored, page) for w in watchers}

    def done() -> bool:
        # settled: no catch-up page left to read, nothing left to hand out.
        return all(w.problems or (len(w.got) >= len(expected[id(w)]) and w.feed.settled) for w in watchers)  # type: ignore[union-attr]

    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while not done():
        for watcher in watchers:
            assert watcher.feed is not None
            if watcher.pulls and watcher.feed.has_work:
                watcher.take(await watcher.feed.pull())
            check_invariants(watcher)
        assert loop.time() < deadline, "timed out waiting for the deliveries"
        await asyncio.sleep(0.001)
    await asyncio.sleep(0)
    for watcher in watchers:
        what = (watcher.kind, watcher.amount)
        assert watcher.problems == [], what
        assert watcher.got == expected[id(watcher)], what
        assert watcher.feed is not None
        check_invariants(watcher)
        # Everything accepted was handed out, and the position is the newest id.
        assert watcher.feed.settled, what
        if stored:
            assert watcher.feed.position == parse_id(stored[-1]), what


def _expected(watcher: Watcher, stored: list[str], page: int) -> list[str]:
    assert watcher.feed is not None
    head = parse_id(watcher.feed.head_id)
    before = [i for i in stored if parse_id(i) <= head]
    after = [i for i in stored if parse_id(i) > head]
    kind = watcher.kind.removeprefix("pull_")
    if kind == "after":
        return stored
    if kind == "history":
        return before[-min(watcher.amount, page) :] + after  # the limit is capped
    return after


SETUP = {
    "ops": OPS,
    "queue": st.integers(min_value=1, max_value=6),
    "page": st.integers(min_value=1, max_value=6),
    "slow": st.booleans(),
}


@settings(max_examples=200, deadline=None)
@given(**SETUP)
def test_every_subscriber_gets_exactly_its_ids_in_order(
    ops: list[tuple[str, int]], queue: int, page: int, slow: bool
) -> None:
    from tidings import MemoryBackend

    asyncio.run(scenario(MemoryBackend, ops, queue, page, slow))


# Each example starts a backend and its Pub/Sub connection: fewer examples.
@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(**SETUP)
def test_every_redis_subscriber_gets_exactly_its_ids_in_order(
    redis_server: RedisServer, ops: list[tuple[str, int]], queue: int, page: int, slow: bool
) -> None:
    from tidings.redis import RedisBackend

    prefix = f"test:props:{uuid.uuid4().hex[:12]}:"
    asyncio.run(scenario(lambda: RedisBackend(redis_server.url, prefix=prefix), ops, queue, page, slow))
