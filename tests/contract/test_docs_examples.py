"""Every example of the @upstash/realtime server-side documentation, in tidings' Python API.

The source is ../shared/reference/upstash-realtime-server-side.txt; each test
names the section it translates.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from tidings import Message, Realtime

from ..support.waiting import wait_for_count, wait_until
from .conftest import MakeRealtime
from .schemas import SCHEMA, Alert, ChatMessage, Progress


async def test_emit_events_from_any_server_context(make_realtime: MakeRealtime) -> None:
    # "Emit Events": realtime.emit("notification.alert", "hello world!")
    realtime = await make_realtime(SCHEMA)
    event_id = await realtime.emit("notification.alert", "hello world!")
    [message] = await realtime.channel("default").history()
    assert message == Message(event_id, "notification.alert", "default", "hello world!")


async def test_emit_to_specific_channel(make_realtime: MakeRealtime) -> None:
    # "Emit to specific channels"
    realtime = await make_realtime(SCHEMA)
    channel = realtime.channel("user-123")
    await channel.emit("notification.alert", "hello world!")
    assert [m.data for m in await channel.history()] == ["hello world!"]
    assert await realtime.channel("default").history() == []


async def test_subscribe_to_events(make_realtime: MakeRealtime) -> None:
    # "Subscribe to Events"
    realtime = await make_realtime(SCHEMA)
    received: list[Message] = []

    def on_data(message: Message) -> None:
        received.append(message)

    unsubscribe = await realtime.channel("notifications").subscribe(
        events=["notification.alert"], on_data=on_data
    )
    await realtime.channel("notifications").emit("user.joined", "ann")  # filtered out
    await realtime.channel("notifications").emit("notification.alert", "New notification")
    await wait_for_count(received, 1)
    assert [(m.event, m.data, m.channel) for m in received] == [
        ("notification.alert", "New notification", "notifications")
    ]
    await unsubscribe()


async def test_subscribe_to_multiple_events(make_realtime: MakeRealtime) -> None:
    # "Subscribe to multiple events": data is typed by event
    realtime = await make_realtime(SCHEMA)
    room = realtime.channel("room-123")
    seen: list[tuple[str, Any]] = []

    async def on_data(message: Message) -> None:
        if message.event == "chat.message":
            assert isinstance(message.data, ChatMessage)
        seen.append((message.event, message.data))

    unsubscribe = await room.subscribe(events=["chat.message", "user.joined", "user.left"], on_data=on_data)
    await room.emit("user.joined", "ann")
    await room.emit("chat.message", {"text": "hi", "author": "ann"})
    await room.emit("notification.alert", "not subscribed")
    await room.emit("user.left", "ann")
    await wait_for_count(seen, 3)
    await asyncio.sleep(0.05)
    assert seen == [
        ("user.joined", "ann"),
        ("chat.message", ChatMessage(text="hi", author="ann")),
        ("user.left", "ann"),
    ]
    await unsubscribe()


async def test_unsubscribe_by_returned_function(make_realtime: MakeRealtime) -> None:
    # "Unsubscribe": unsubscribe()
    realtime = await make_realtime(SCHEMA)
    channel = realtime.channel("room-123")
    received: list[Message] = []
    unsubscribe = await channel.subscribe(events=["chat.message"], on_data=received.append)
    await channel.emit("chat.message", {"text": "one", "author": "a"})
    await wait_for_count(received, 1)
    await unsubscribe()
    assert unsubscribe.closed
    await channel.emit("chat.message", {"text": "two", "author": "a"})
    await asyncio.sleep(0.1)
    assert [m.data.text for m in received] == ["one"]
    await unsubscribe()  # idempotent


async def test_unsubscribe_through_channel(make_realtime: MakeRealtime) -> None:
    # "or: channel.unsubscribe()"
    realtime = await make_realtime(SCHEMA)
    channel = realtime.channel("room-123")
    received: list[Message] = []
    first = await channel.subscribe(events=["chat.message"], on_data=received.append)
    second = await channel.subscribe(on_data=received.append)
    await channel.unsubscribe()
    assert first.closed and second.closed
    await channel.emit("chat.message", {"text": "late", "author": "a"})
    await asyncio.sleep(0.1)
    assert received == []
    assert realtime.backend.live_listener_count() == 0


async def test_retrieve_history(make_realtime: MakeRealtime) -> None:
    # "Retrieve History": realtime.channel("room-123").history()
    realtime = await make_realtime(SCHEMA)
    room = realtime.channel("room-123")
    ids = [await room.emit("chat.message", {"text": str(i), "author": "a"}) for i in range(3)]
    messages = await room.history()
    assert [m.id for m in messages] == ids
    assert messages[0].to_dict() == {
        "id": ids[0],
        "event": "chat.message",
        "channel": "room-123",
        "data": {"text": "0", "author": "a"},
    }


async def test_history_options(make_realtime: MakeRealtime) -> None:
    # "History Options": limit 100, start one day ago
    realtime = await make_realtime(SCHEMA)
    room = realtime.channel("room-123")
    for i in range(120):
        await room.emit("tick", i)
    now_ms = int(time.time() * 1000)
    messages = await room.history(limit=100, start=now_ms - 86_400_000)
    assert len(messages) == 100
    assert [m.data for m in messages] == list(range(20, 120))
    assert await room.history(start=now_ms + 86_400_000) == []


async def test_subscribe_with_history(make_realtime: MakeRealtime) -> None:
    # "Subscribe with History": history: true
    realtime = await make_realtime(SCHEMA)
    channel = realtime.channel("room-123")
    for i in range(3):
        await channel.emit("chat.message", {"text": f"old {i}", "author": "a"})
    await channel.emit("user.joined", "b")
    received: list[Message] = []
    await channel.subscribe(events=["chat.message"], history=True, on_data=received.append)
    await channel.emit("chat.message", {"text": "new", "author": "a"})
    await wait_for_count(received, 4)
    assert [m.data.text for m in received] == ["old 0", "old 1", "old 2", "new"]


async def test_subscribe_with_history_options(make_realtime: MakeRealtime) -> None:
    # "Pass history options": limit 50, start one hour ago
    realtime = await make_realtime(SCHEMA)
    channel = realtime.channel("room-123")
    for i in range(60):
        await channel.emit("chat.message", {"text": str(i), "author": "a"})
    received: list[Message] = []
    await channel.subscribe(
        events=["chat.message"],
        history={"limit": 50, "start": int(time.time() * 1000) - 3_600_000},
        on_data=received.append,
    )
    await channel.emit("chat.message", {"text": "live", "author": "a"})
    await wait_for_count(received, 51)
    assert [m.data.text for m in received] == [str(i) for i in range(10, 60)] + ["live"]


async def test_job_progress_streaming(make_realtime: MakeRealtime) -> None:
    # Use case "Stream progress updates from long-running tasks"
    realtime = await make_realtime(SCHEMA)
    seen: list[Message] = []
    job = realtime.channel("job-42")
    await job.subscribe(on_data=seen.append)

    async def process_chunk() -> None:
        await asyncio.sleep(0)

    async def run_job(job_id: str) -> None:
        channel = realtime.channel(job_id)
        await channel.emit("job.started", {"progress": 0})
        for i in range(0, 101, 10):
            await process_chunk()
            await channel.emit("job.progress", {"progress": i})
        await channel.emit("job.completed", {"progress": 100})

    await run_job("job-42")
    await wait_for_count(seen, 13)
    assert seen[0].event == "job.started"
    assert [m.data for m in seen[1:12]] == [Progress(progress=i) for i in range(0, 101, 10)]
    assert seen[-1] == Message(seen[-1].id, "job.completed", "job-42", Progress(progress=100))


async def test_server_side_processing_with_async_handler(make_realtime: MakeRealtime) -> None:
    # Use case "Process events with server-side logic"
    realtime = await make_realtime(SCHEMA)
    sent: list[dict[str, str]] = []

    async def send_email(*, to: str, subject: str, body: str) -> None:
        await asyncio.sleep(0.001)
        sent.append({"to": to, "subject": subject, "body": body})

    async def on_data(message: Message) -> None:
        data: Alert = message.data
        if data.priority == "high":
            await send_email(to=data.userId, subject="Urgent Notification", body=data.message)

    await realtime.channel("notifications").subscribe(events=["notification.urgent"], on_data=on_data)
    notifications = realtime.channel("notifications")
    await notifications.emit("notification.urgent", {"message": "disk", "priority": "low", "userId": "u1"})
    await notifications.emit("notification.urgent", {"message": "fire", "priority": "high", "userId": "u2"})
    await wait_for_count(sent, 1)
    assert sent == [{"to": "u2", "subject": "Urgent Notification", "body": "fire"}]


async def test_broadcast_to_many_channels(make_realtime: MakeRealtime) -> None:
    # Use case "Emit events to multiple channels" with asyncio.gather
    realtime = await make_realtime(SCHEMA)
    team_ids = [str(i) for i in range(25)]
    ids = await asyncio.gather(
        *(realtime.channel(f"team-{team_id}").emit("announcement", "ship it") for team_id in team_ids)
    )
    assert len(set(ids)) <= len(ids)
    for team_id in team_ids:
        [message] = await realtime.channel(f"team-{team_id}").history()
        assert (message.event, message.data) == ("announcement", "ship it")


async def test_webhook_forwarding(make_realtime: MakeRealtime) -> None:
    # Use case "Forward webhook events to realtime channels"
    realtime = await make_realtime(SCHEMA)
    payload = {"userId": "77", "type": "invoice.paid", "amount": 12.5, "lines": [1, 2]}
    received: list[Message] = []
    await realtime.channel("user-77").subscribe(events=["webhook.received"], on_data=received.append)

    async def webhook(body: dict[str, Any]) -> None:
        channel = realtime.channel(f"user-{body['userId']}")
        await channel.emit("webhook.received", body)

    await webhook(payload)
    await wait_for_count(received, 1)
    assert received[0].data == payload


async def test_realtime_without_schema_accepts_any_json(make_realtime: MakeRealtime) -> None:
    realtime: Realtime = await make_realtime()
    got: list[Message] = []
    await realtime.channel("free").subscribe(on_data=got.append)
    await realtime.channel("free").emit("anything.at.all", {"nested": [1, {"a": None}]})
    await wait_until(lambda: len(got) == 1)
    assert got[0].data == {"nested": [1, {"a": None}]}
