"""What the backend writes to Redis, byte for byte, in both layouts."""

from __future__ import annotations

import threading
import uuid
from typing import Any

import orjson
import pytest
import redis

from tests.support.waiting import wait_for_count, wait_until
from tidings import Message, Realtime, Retention
from tidings.redis import RedisBackend
from tidings.redis._layout import MalformedMessageError, TidingsLayout, UpstashLayout

from .conftest import MakeRedisBackend


def unique(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:8]}"


# -- the default layout ----------------------------------------------------------------


async def test_default_prefix_namespaces_every_channel(
    make_redis_backend: MakeRedisBackend, raw: redis.Redis
) -> None:
    channel = unique("news")
    backend = await make_redis_backend(prefix=None)
    assert backend.prefix == "tidings:" and backend.layout == "tidings"
    realtime = Realtime(backend=backend)
    new_id = await realtime.channel(channel).emit("posted", {"title": "hi"})
    assert raw.exists(channel) == 0
    assert raw.type(f"tidings:{channel}") == b"stream"
    [(stored_id, fields)] = raw.xrange(f"tidings:{channel}")
    assert stored_id.decode() == new_id
    assert fields == {b"event": b"posted", b"data": b'{"title":"hi"}'}
    raw.delete(f"tidings:{channel}")


async def test_a_channel_named_like_a_key_never_touches_that_key(
    make_redis_backend: MakeRedisBackend, raw: redis.Redis, prefix: str
) -> None:
    victim = unique("session")
    raw.set(victim, "secret")
    realtime = Realtime(backend=await make_redis_backend())
    await realtime.channel(victim).emit("x", 1)
    assert raw.get(victim) == b"secret"
    assert raw.type(prefix + victim) == b"stream"
    raw.delete(victim)


async def test_strings_stay_json_in_the_default_layout(
    make_redis_backend: MakeRedisBackend, raw: redis.Redis, prefix: str
) -> None:
    realtime = Realtime(backend=await make_redis_backend())
    channel = realtime.channel("kinds")
    values: list[Any] = ["42", "plain", None, 3, [1, "a"], {"k": "v"}]
    for value in values:
        await channel.emit("v", value)
    stored = [fields[b"data"] for _, fields in raw.xrange(prefix + "kinds")]
    assert stored == [orjson.dumps(v) for v in values]
    assert [m.data for m in await channel.history()] == values


async def test_stream_key_and_pubsub_channel_are_the_same_string(
    make_redis_backend: MakeRedisBackend, raw: redis.Redis, prefix: str
) -> None:
    backend = await make_redis_backend()
    assert backend.stream_key("room") == prefix + "room"
    pubsub = raw.pubsub()
    pubsub.subscribe(prefix + "room")
    assert pubsub.get_message(timeout=2)["type"] == "subscribe"
    ids = await backend.append("room", [("a", b"1"), ("b c\nd", b'"x y"')], Retention())
    message = pubsub.get_message(timeout=2)
    assert message["type"] == "message" and message["channel"] == (prefix + "room").encode()
    # The whole batch travels in one message; both entries decode from it.
    entries = TidingsLayout(prefix).decode_live("room", message["data"])
    assert [(e.id, e.event, e.payload) for e in entries] == [
        (ids[0], "a", b"1"),
        (ids[1], "b c\nd", b'"x y"'),
    ]
    pubsub.close()


def test_live_messages_decode_whatever_the_bytes() -> None:
    layout = TidingsLayout("p:")
    event = "e\n1 2"
    payload = '{"s":"line\\nbreak ü"}'.encode()
    message = b"5-1 %d %d\n%s%s" % (len(event.encode()), len(payload), event.encode(), payload)
    message += b"5-2 1 2\nx{}"
    entries = layout.decode_live("c", message)
    assert [(e.id, e.key, e.event, e.payload) for e in entries] == [
        ("5-1", (5, 1), event, payload),
        ("5-2", (5, 2), "x", b"{}"),
    ]


async def test_a_big_batch_is_split_over_several_messages(
    make_redis_backend: MakeRedisBackend, prefix: str
) -> None:
    backend = await make_redis_backend()
    realtime = Realtime(backend=backend)
    got: list[Message] = []
    await realtime.channel("big").subscribe(on_data=got.append)
    blob = "x" * 100_000
    ids = await realtime.channel("big").emit_many([("blob", blob)] * 12)
    await wait_for_count(got, 12)
    assert [m.id for m in got] == ids
    await realtime.aclose()


# -- the upstash layout ------------------------------------------------------------------


async def test_upstash_layout_writes_the_documented_stream_shape(
    make_redis_backend: MakeRedisBackend, raw: redis.Redis
) -> None:
    name = unique("chat")
    realtime = Realtime(backend=await make_redis_backend(layout="upstash"), max_length=100)
    channel = realtime.channel(name)
    values: list[Any] = ["hello", "42", None, 7, {"text": "hi", "n": [1, 2]}, ""]
    ids = [await channel.emit("msg", value) for value in values]
    entries = raw.xrange(name)
    assert [entry_id.decode() for entry_id, _ in entries] == ids
    # Field order and bytes as @upstash/realtime writes them: strings bare.
    # (redis-py builds the dicts in reply order.)
    assert [list(fields.items()) for _, fields in entries] == [
        [(b"data", data), (b"event", b"msg"), (b"channel", name.encode())]
        for data in (b"hello", b"42", b"null", b"7", b'{"text":"hi","n":[1,2]}', b"")
    ]
    raw.delete(name)


async def test_upstash_layout_publishes_the_documented_json(
    make_redis_backend: MakeRedisBackend, raw: redis.Redis
) -> None:
    name = unique("alerts")
    backend = await make_redis_backend(layout="upstash")
    pubsub = raw.pubsub()
    pubsub.subscribe(name)
    assert pubsub.get_message(timeout=2)["type"] == "subscribe"
    realtime = Realtime(backend=backend)
    first = await realtime.channel(name).emit("notification.alert", "disk full")
    second, third = await realtime.channel(name).emit_many([("n", {"a": 1}), ("n", None)])
    bodies = [pubsub.get_message(timeout=2)["data"] for _ in range(3)]
    name_json = orjson.dumps(name).decode()
    assert bodies == [
        f'{{"data":"disk full","event":"notification.alert","channel":{name_json},"id":"{first}"}}'.encode(),
        f'{{"data":{{"a":1}},"event":"n","channel":{name_json},"id":"{second}"}}'.encode(),
        f'{{"data":null,"event":"n","channel":{name_json},"id":"{third}"}}'.encode(),
    ]
    pubsub.close()
    raw.delete(name)


async def test_upstash_layout_trims_and_expires_like_the_original(
    make_redis_backend: MakeRedisBackend, raw: redis.Redis
) -> None:
    name = unique("expiring")
    realtime = Realtime(
        backend=await make_redis_backend(layout="upstash"), max_length=3, expire_after_secs=60
    )
    for i in range(5):
        await realtime.channel(name).emit("e", i)
    assert raw.xlen(name) == 3
    assert 0 < raw.ttl(name) <= 60
    raw.delete(name)


async def test_upstash_layout_reads_what_the_original_wrote(
    make_redis_backend: MakeRedisBackend, raw: redis.Redis
) -> None:
    name = unique("from-ts")
    # What @upstash/realtime's emit leaves in Redis, written here by hand.
    written = [
        raw.xadd(name, {"data": data, "event": "e", "channel": name})
        for data in (b"42", b"hello", b'{"a":1}', b"null", b"[1,", b"true")
    ]
    realtime = Realtime(backend=await make_redis_backend(layout="upstash"))
    history = await realtime.channel(name).history()
    assert [m.id for m in history] == [i.decode() for i in written]
    # "JSON.parse, else the raw string": the stored string "42" comes back a number.
    assert [m.data for m in history] == [42, "hello", {"a": 1}, None, "[1,", True]
    assert {m.channel for m in history} == {name}
    raw.delete(name)


async def test_upstash_layout_delivers_what_the_original_published(
    make_redis_backend: MakeRedisBackend, raw: redis.Redis
) -> None:
    name = unique("ts-live")
    realtime = Realtime(backend=await make_redis_backend(layout="upstash"))
    got: list[Message] = []
    await realtime.channel(name).subscribe(on_data=got.append)
    stored = raw.xadd(name, {"data": '{"x":1}', "event": "tick", "channel": name}).decode()
    raw.publish(name, orjson.dumps({"data": {"x": 1}, "event": "tick", "channel": name, "id": stored}))
    # Other shapes on the channel (the original's pings, garbage) are not events.
    raw.publish(name, b'{"type":"ping","timestamp":1}')
    raw.publish(name, b"not json")
    newer = raw.xadd(name, {"data": "bye", "event": "tick", "channel": name}).decode()
    raw.publish(name, orjson.dumps({"data": "bye", "event": "tick", "channel": name, "id": newer}))
    await wait_for_count(got, 2)
    assert [(m.id, m.event, m.data) for m in got] == [(stored, "tick", {"x": 1}), (newer, "tick", "bye")]
    await realtime.aclose()
    raw.delete(name)


def test_upstash_decoding_rules() -> None:
    layout = UpstashLayout()
    entry = layout.decode_fields("c", b"1-2", [b"event", b"e", b"data", b"01x"])
    assert (entry.event, entry.payload) == ("e", b'"01x"')
    assert layout.decode_fields("c", b"1-2", [b"event", b"e"]).payload == b"null"
    assert layout.decode_live("c", b"[1]") == []
    # Shaped like an event but with a bad id: refused (the hub drops it and re-reads history).
    for forged in (b'{"id":"1-x","event":"e","data":1}', b'{"id":"1-\xd9\xa1","event":"e","data":1}'):
        with pytest.raises(MalformedMessageError):
            layout.decode_live("c", forged)


async def test_a_typescript_style_subscriber_sees_tidings_events(
    make_redis_backend: MakeRedisBackend, redis_server: Any
) -> None:
    name = unique("interop")
    received: list[dict[str, Any]] = []
    ready = threading.Event()

    def typescript_like_listener() -> None:
        client = redis.Redis.from_url(redis_server.url)
        pubsub = client.pubsub()
        pubsub.subscribe(name)
        ready.set()
        while len(received) < 2:
            message = pubsub.get_message(timeout=5)
            if message is None:
                break
            if message["type"] == "message":
                received.append(orjson.loads(message["data"]))
        pubsub.close()
        client.close()

    thread = threading.Thread(target=typescript_like_listener)
    thread.start()
    ready.wait(5)
    realtime = Realtime(backend=await make_redis_backend(layout="upstash"))
    await wait_until(lambda: ready.is_set())
    ids = [await realtime.channel(name).emit("chat.message", {"text": t}) for t in ("a", "b")]
    await wait_until(lambda: not thread.is_alive())
    thread.join()
    assert received == [
        {"data": {"text": "a"}, "event": "chat.message", "channel": name, "id": ids[0]},
        {"data": {"text": "b"}, "event": "chat.message", "channel": name, "id": ids[1]},
    ]


# -- options -------------------------------------------------------------------------------


def test_from_url_reads_prefix_and_layout(redis_server: Any) -> None:
    backend = RedisBackend.from_url(redis_server.url + "?prefix=app%3A&socket_keepalive=true")
    assert backend.prefix == "app:" and backend.layout == "tidings"
    upstash = RedisBackend.from_url(redis_server.url + "?layout=upstash")
    assert upstash.prefix == "" and upstash.layout == "upstash"
    assert RedisBackend.from_url(redis_server.url + "?prefix=a:", prefix="b:").prefix == "b:"
    assert RedisBackend.from_url(f"valkey://127.0.0.1:{redis_server.port}/0").prefix == "tidings:"


@pytest.mark.parametrize(
    ("url", "options", "message"),
    [
        ("redis+cluster://localhost:7000", {}, "Redis Cluster URL: use tidings.redis.RedisClusterBackend"),
        ("redis+sentinel://localhost:26379", {}, "not supported yet"),
        ("http://localhost", {}, "unsupported scheme"),
        ("redis://localhost", {"layout": "other"}, "layout"),
        ("redis://localhost", {"prefix": ""}, "non-empty"),
        ("redis://localhost?layout=upstash", {"prefix": "x:"}, "takes no prefix"),
        ("redis://localhost", {"command_timeout": 0}, "command_timeout"),
        ("redis://localhost", {"max_connections": 0}, "max_connections"),
    ],
)
def test_bad_options_are_refused_with_a_precise_message(
    url: str, options: dict[str, Any], message: str
) -> None:
    with pytest.raises(Exception, match=message) as caught:
        RedisBackend.from_url(url, **options)
    assert type(caught.value).__module__ == "tidings._exceptions"


async def test_realtime_made_outside_a_loop_connects_lazily(redis_server: Any, prefix: str) -> None:
    realtime = Realtime(redis=redis_server.url + f"?prefix={prefix}")
    assert isinstance(realtime.backend, RedisBackend)
    assert realtime.backend.prefix == prefix
    new_id = await realtime.channel("lazy").emit("e", 1)
    assert [m.id for m in await realtime.channel("lazy").history()] == [new_id]
    await realtime.aclose()


async def test_a_client_can_be_passed_and_stays_open(redis_server: Any, prefix: str) -> None:
    client = redis.asyncio.Redis.from_url(redis_server.url, decode_responses=True)
    backend = RedisBackend(client, prefix=prefix)
    realtime = Realtime(backend=backend)
    got: list[Message] = []
    await realtime.channel("byo").subscribe(on_data=got.append)
    new_id = await realtime.channel("byo").emit("e", "text")
    await wait_for_count(got, 1)
    assert got[0].id == new_id and got[0].data == "text"
    assert [m.data for m in await realtime.channel("byo").history()] == ["text"]
    await realtime.aclose()
    await backend.aclose()
    assert await client.ping() is True
    await client.aclose()
