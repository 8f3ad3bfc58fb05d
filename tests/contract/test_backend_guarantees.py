"""The guarantees of ``tidings.Backend`` itself, checked below ``Realtime``.

Ordering, atomic batches, head semantics, exact trim detection in ``after``,
expiry and listener bookkeeping -- what every backend promises and the core
relies on.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from tidings import (
    Backend,
    BackendStatus,
    ClosedError,
    CursorExpiredError,
    Entry,
    LiveSubscription,
    Retention,
)
from tidings._ids import MAX_KEY, parse_id

from ..support.waiting import wait_for_count
from .conftest import MakeBackend

KEEP_ALL = Retention()


class Recorder:
    """A ``LiveListener`` that keeps everything it is told."""

    def __init__(self) -> None:
        self.entries: list[Entry] = []
        self.calls: list[list[Entry]] = []
        self.resets = 0
        self.statuses: list[BackendStatus] = []

    def on_entries(self, entries: Sequence[Entry]) -> None:
        self.calls.append(list(entries))
        self.entries.extend(entries)

    def on_reset(self) -> None:
        self.resets += 1

    def on_status(self, status: BackendStatus, error: BaseException | None) -> None:
        self.statuses.append(status)


def records(*names: str) -> list[tuple[str, bytes]]:
    return [(name, f'"{name}"'.encode()) for name in names]


async def append_one(backend: Backend, channel: str, name: str, retention: Retention = KEEP_ALL) -> str:
    (new_id,) = await backend.append(channel, records(name), retention)
    return new_id


# -- ordering ---------------------------------------------------------------------


async def test_ids_strictly_increase_and_reads_keep_append_order(make_backend: MakeBackend) -> None:
    backend = await make_backend()
    ids = [await append_one(backend, "order", f"e{i}") for i in range(30)]
    keys = [parse_id(i) for i in ids]
    assert keys == sorted(keys) and len(set(keys)) == 30
    latest = await backend.latest("order", start=None, end=None, limit=1000)
    assert [e.id for e in latest] == ids
    assert [e.event for e in latest] == [f"e{i}" for i in range(30)]
    assert all(e.channel == "order" and e.key == parse_id(e.id) for e in latest)
    assert latest[0].payload == b'"e0"'


async def test_latest_returns_the_newest_within_bounds_oldest_first(make_backend: MakeBackend) -> None:
    backend = await make_backend()
    ids = [await append_one(backend, "window", f"e{i}") for i in range(10)]
    keys = [parse_id(i) for i in ids]
    newest = await backend.latest("window", start=None, end=None, limit=3)
    assert [e.id for e in newest] == ids[-3:]
    inside = await backend.latest("window", start=keys[2], end=keys[6], limit=100)
    assert [e.id for e in inside] == ids[2:7]
    capped = await backend.latest("window", start=keys[2], end=keys[6], limit=2)
    assert [e.id for e in capped] == ids[5:7]
    assert await backend.latest("never-written", start=None, end=None, limit=10) == []


async def test_after_pages_forward_exclusively(make_backend: MakeBackend) -> None:
    backend = await make_backend()
    ids = await backend.append("pages", records(*(f"e{i}" for i in range(7))), KEEP_ALL)
    keys = [parse_id(i) for i in ids]
    assert [e.id for e in await backend.after("pages", (0, 0), limit=3)] == ids[:3]
    assert [e.id for e in await backend.after("pages", keys[2], limit=3)] == ids[3:6]
    assert [e.id for e in await backend.after("pages", keys[5], limit=3)] == ids[6:]
    assert await backend.after("pages", keys[6], limit=3) == []
    assert [e.id for e in await backend.after("pages", keys[1], limit=10, end=keys[3])] == ids[2:4]
    assert await backend.after("pages", MAX_KEY, limit=3) == []
    assert await backend.after("never-written", (0, 0), limit=3) == []


# -- atomic batches -----------------------------------------------------------------


async def test_concurrent_batches_are_stored_contiguously(make_backend: MakeBackend) -> None:
    backend = await make_backend()

    async def batch(task: int) -> list[str]:
        return await backend.append("batches", records(*(f"t{task}" for _ in range(10))), KEEP_ALL)

    results = await asyncio.gather(*(batch(task) for task in range(20)))
    stored = await backend.latest("batches", start=None, end=None, limit=1000)
    assert len(stored) == 200
    position = {entry.id: index for index, entry in enumerate(stored)}
    for task, ids in enumerate(results):
        # Each batch's ids are consecutive in the stream and carry its records.
        indexes = [position[i] for i in ids]
        assert indexes == list(range(indexes[0], indexes[0] + 10))
        assert {stored[i].event for i in indexes} == {f"t{task}"}


async def test_a_batch_reaches_listeners_in_order_uninterrupted(make_backend: MakeBackend) -> None:
    backend = await make_backend()
    recorder = Recorder()
    subscription = await backend.subscribe("live-batch", recorder)
    others = [asyncio.create_task(append_one(backend, "live-batch", "other")) for _ in range(5)]
    ids = await backend.append("live-batch", records(*(f"b{i}" for i in range(8))), KEEP_ALL)
    await asyncio.gather(*others)
    await wait_for_count(recorder.entries, 13)
    got = [e.id for e in recorder.entries]
    start = got.index(ids[0])
    assert got[start : start + 8] == ids
    assert got == sorted(got, key=parse_id)
    await subscription.close()


async def test_entries_are_readable_once_delivered_live(make_backend: MakeBackend) -> None:
    backend = await make_backend()
    seen_in_history: list[bool] = []
    pending: list[asyncio.Task[None]] = []

    class Checker(Recorder):
        def on_entries(self, entries: Sequence[Entry]) -> None:
            super().on_entries(entries)
            last = entries[-1]

            async def check() -> None:
                stored = await backend.latest("visible", start=last.key, end=last.key, limit=1)
                seen_in_history.append([e.id for e in stored] == [last.id])

            pending.append(asyncio.create_task(check()))

    checker = Checker()
    subscription = await backend.subscribe("visible", checker)
    for i in range(10):
        await append_one(backend, "visible", f"e{i}")
    await wait_for_count(checker.entries, 10)
    await asyncio.gather(*pending)
    assert all(seen_in_history)
    await subscription.close()


# -- live delivery and head ---------------------------------------------------------------


async def test_head_of_an_empty_channel_is_zero(make_backend: MakeBackend) -> None:
    backend = await make_backend()
    subscription = await backend.subscribe("empty", Recorder())
    assert subscription.head == (0, 0)
    await subscription.close()


async def test_every_entry_above_head_arrives_once_and_none_below(make_backend: MakeBackend) -> None:
    backend = await make_backend()
    before = [await append_one(backend, "head", f"old{i}") for i in range(5)]
    first = Recorder()
    sub_first = await backend.subscribe("head", first)
    assert sub_first.head == parse_id(before[-1])
    after = await backend.append("head", records("new0", "new1"), KEEP_ALL)
    await wait_for_count(first.entries, 2)
    # A second listener joins a channel that is already live.
    second = Recorder()
    sub_second = await backend.subscribe("head", second)
    assert sub_second.head == parse_id(after[-1])
    later = [await append_one(backend, "head", f"late{i}") for i in range(3)]
    # Delivery is in id order: once the newest entry is in, a stray duplicate would be too.
    sentinel = await append_one(backend, "head", "sentinel")
    await wait_for_count(first.entries, 6)
    await wait_for_count(second.entries, 4)
    assert [e.id for e in first.entries] == [*after, *later, sentinel]
    assert [e.id for e in second.entries] == [*later, sentinel]
    await sub_first.close()
    await sub_second.close()


async def test_concurrent_appends_reach_a_listener_exactly_once_in_order(make_backend: MakeBackend) -> None:
    backend = await make_backend()
    writer = await make_backend()  # shares the namespace: another "process"
    recorder = Recorder()
    subscription = await backend.subscribe("fan-in", recorder)

    async def emitter(task: int) -> list[str]:
        return [await append_one(writer, "fan-in", f"t{task}") for _ in range(40)]

    emitted = await asyncio.gather(*(emitter(task) for task in range(10)))
    await wait_for_count(recorder.entries, 400)
    stored = await writer.latest("fan-in", start=None, end=None, limit=1000)
    assert [e.id for e in recorder.entries] == [e.id for e in stored]
    assert sorted(i for ids in emitted for i in ids) == sorted(e.id for e in stored)
    await subscription.close()


async def test_closed_subscription_gets_nothing_more(make_backend: MakeBackend) -> None:
    backend = await make_backend()
    kept, dropped = Recorder(), Recorder()
    sub_kept = await backend.subscribe("closing", kept)
    sub_dropped = await backend.subscribe("closing", dropped)
    await append_one(backend, "closing", "a")
    await wait_for_count(dropped.entries, 1)
    await sub_dropped.close()
    await sub_dropped.close()  # idempotent
    await append_one(backend, "closing", "b")
    await wait_for_count(kept.entries, 2)
    await asyncio.sleep(0.05)
    assert [e.event for e in dropped.entries] == ["a"]
    await sub_kept.close()


async def test_listener_counts_follow_subscribe_and_close(make_backend: MakeBackend) -> None:
    backend = await make_backend()
    assert backend.live_listener_count() == 0
    subs: list[LiveSubscription] = [await backend.subscribe(f"count-{i % 2}", Recorder()) for i in range(3)]
    assert backend.live_listener_count() == 3
    await subs[0].close()
    await subs[0].close()
    assert backend.live_listener_count() == 2
    for sub in subs[1:]:
        await sub.close()
    assert backend.live_listener_count() == 0
    again = await backend.subscribe("count-0", Recorder())
    assert backend.live_listener_count() == 1
    await again.close()


async def test_aclose_detaches_every_listener(make_backend: MakeBackend) -> None:
    backend = await make_backend()
    recorder = Recorder()
    await backend.subscribe("shutdown", recorder)
    await backend.aclose()
    await backend.aclose()  # idempotent
    assert backend.live_listener_count() == 0
    writer = await make_backend()
    if writer is not backend:
        await append_one(writer, "shutdown", "after-close")
        await asyncio.sleep(0.05)
    assert recorder.entries == []


async def test_a_healthy_feed_reports_no_status_change(make_backend: MakeBackend) -> None:
    backend = await make_backend()
    recorder = Recorder()
    subscription = await backend.subscribe("quiet", recorder)
    await append_one(backend, "quiet", "x")
    await wait_for_count(recorder.entries, 1)
    assert recorder.statuses == [] and recorder.resets == 0
    await subscription.close()


# -- retention: trimming and expiry ------------------------------------------------------


async def test_max_length_trims_exactly(make_backend: MakeBackend) -> None:
    backend = await make_backend()
    keep3 = Retention(max_length=3)
    ids = [await append_one(backend, "trim", f"e{i}", keep3) for i in range(6)]
    assert [e.id for e in await backend.latest("trim", start=None, end=None, limit=100)] == ids[-3:]
    batch = await backend.append("trim", records("b0", "b1", "b2", "b3", "b4"), keep3)
    assert [e.id for e in await backend.latest("trim", start=None, end=None, limit=100)] == batch[-3:]


async def test_after_refuses_a_cursor_whose_successors_were_trimmed(make_backend: MakeBackend) -> None:
    backend = await make_backend()
    keep3 = Retention(max_length=3)
    ids = [await append_one(backend, "gap", f"e{i}", keep3) for i in range(5)]
    keys = [parse_id(i) for i in ids]
    # ids[0] and ids[1] were removed: resuming after ids[0] would skip ids[1].
    for cursor in ((0, 0), keys[0]):
        with pytest.raises(CursorExpiredError) as caught:
            await backend.after("gap", cursor, limit=10)
        assert caught.value.removed_up_to == ids[1]
        assert caught.value.oldest == ids[2]
        assert caught.value.channel == "gap"
    # After the newest removed entry nothing is missing.
    assert [e.id for e in await backend.after("gap", keys[1], limit=10)] == ids[2:]
    assert [e.id for e in await backend.after("gap", keys[3], limit=10)] == ids[4:]


async def test_trim_detection_when_a_batch_overflows_the_bound(make_backend: MakeBackend) -> None:
    backend = await make_backend()
    first = await append_one(backend, "overflow", "first", Retention(max_length=2))
    batch = await backend.append("overflow", records(*(f"b{i}" for i in range(5))), Retention(max_length=2))
    with pytest.raises(CursorExpiredError) as caught:
        await backend.after("overflow", parse_id(first), limit=10)
    assert caught.value.removed_up_to == batch[2]
    assert caught.value.oldest == batch[3]
    assert [e.id for e in await backend.after("overflow", parse_id(batch[2]), limit=10)] == batch[3:]


async def test_expired_history_is_gone(make_backend: MakeBackend) -> None:
    backend = await make_backend()
    short = Retention(expire_after_secs=1)
    await append_one(backend, "fleeting", "a", short)
    await append_one(backend, "lasting", "b", KEEP_ALL)
    assert len(await backend.latest("fleeting", start=None, end=None, limit=10)) == 1
    await asyncio.sleep(1.2)
    assert await backend.latest("fleeting", start=None, end=None, limit=10) == []
    assert len(await backend.latest("lasting", start=None, end=None, limit=10)) == 1


async def test_each_append_refreshes_expiry(make_backend: MakeBackend) -> None:
    backend = await make_backend()
    short = Retention(expire_after_secs=1)
    for name in ("a", "b", "c"):
        await append_one(backend, "refreshed", name, short)
        await asyncio.sleep(0.35)
    # Over 1 s after the first append, but only 0.35 s after the last one.
    assert [e.event for e in await backend.latest("refreshed", start=None, end=None, limit=10)] == [
        "a",
        "b",
        "c",
    ]


async def test_ping_answers_while_open_and_refuses_once_closed(make_backend: MakeBackend) -> None:
    backend = await make_backend()
    async with asyncio.timeout(5):
        await backend.ping()
    await backend.aclose()
    with pytest.raises(ClosedError):
        await backend.ping()
