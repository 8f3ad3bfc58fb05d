"""Property: whatever the interleaving of emits, subscribes and slow handlers,
every subscriber receives exactly the stored ids it is owed, in order, once."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from hypothesis import given, settings
from hypothesis import strategies as st

from tidings import Limits, Message, Realtime
from tidings._ids import parse_id

OPS = st.lists(
    st.tuples(
        st.sampled_from(["emit", "emit_many", "yield", "after", "history", "live"]),
        st.integers(min_value=1, max_value=6),
    ),
    max_size=30,
)


@dataclass
class Watcher:
    kind: str
    amount: int
    got: list[str] = field(default_factory=list)
    head: str = ""


async def scenario(ops: list[tuple[str, int]], queue: int, page: int, slow: bool) -> None:
    realtime = Realtime(limits=Limits(subscriber_queue=queue, history_limit=page))
    channel = realtime.channel("prop")
    watchers: list[Watcher] = []
    pending: list[asyncio.Task[None]] = []
    counter = 0

    async def attach(watcher: Watcher) -> None:
        async def on_data(message: Message) -> None:
            if slow:
                await asyncio.sleep(0)
            watcher.got.append(message.id)

        if watcher.kind == "after":
            sub = await channel.subscribe(on_data=on_data, after="0-0")
        elif watcher.kind == "history":
            sub = await channel.subscribe(on_data=on_data, history={"limit": watcher.amount})
        else:
            sub = await channel.subscribe(on_data=on_data)
        watcher.head = sub._feed.head_id

    for op, amount in ops:
        if op == "emit":
            for _ in range(amount):
                await channel.emit("n", counter)
                counter += 1
        elif op == "emit_many":
            await channel.emit_many([("n", counter + i) for i in range(amount)])
            counter += amount
        elif op == "yield":
            for _ in range(amount):
                await asyncio.sleep(0)
        else:
            watcher = Watcher(op, amount)
            watchers.append(watcher)
            pending.append(asyncio.create_task(attach(watcher)))
    await asyncio.gather(*pending)
    stored = [m.id for m in await channel.history(after="0-0", limit=page)]
    while len(stored) < counter:
        stored += [m.id for m in await channel.history(after=stored[-1], limit=page)]
    expected = {id(w): _expected(w, stored, page) for w in watchers}
    for _ in range(2000):
        if all(len(w.got) >= len(expected[id(w)]) for w in watchers):
            break
        await asyncio.sleep(0)
    await asyncio.sleep(0)
    for watcher in watchers:
        assert watcher.got == expected[id(watcher)], (watcher.kind, watcher.amount)
    await realtime.aclose()


def _expected(watcher: Watcher, stored: list[str], page: int) -> list[str]:
    head = parse_id(watcher.head)
    before = [i for i in stored if parse_id(i) <= head]
    after = [i for i in stored if parse_id(i) > head]
    if watcher.kind == "after":
        return stored
    if watcher.kind == "history":
        return before[-min(watcher.amount, page) :] + after  # the limit is capped
    return after


@settings(max_examples=200, deadline=None)
@given(
    ops=OPS,
    queue=st.integers(min_value=1, max_value=6),
    page=st.integers(min_value=1, max_value=6),
    slow=st.booleans(),
)
def test_every_subscriber_gets_exactly_its_ids_in_order(
    ops: list[tuple[str, int]], queue: int, page: int, slow: bool
) -> None:
    asyncio.run(scenario(ops, queue, page, slow))
