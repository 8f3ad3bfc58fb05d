"""Presence state and events in Redis, for each layout: the keys, the slot, the stored shapes."""

from __future__ import annotations

import orjson
import redis
from redis.crc import key_slot

from tidings import JOIN_EVENT, LEAVE_EVENT, Realtime
from tidings.redis._layout import ShardedLayout, TidingsLayout, UpstashLayout

from .conftest import MakeRedisBackend


def test_presence_keys_share_the_slot_of_the_channel_on_a_cluster() -> None:
    layout = ShardedLayout("t:")
    for channel in ("room", "a}b", "50%", "x{y}"):
        slot = key_slot(layout.key(channel).encode())
        keys = layout.presence_keys(channel)
        assert {key_slot(key.encode()) for key in keys} == {slot}, channel
        assert keys[4] == layout.key(channel + "~presence")
    # No presence key can be a channel's stream key: channel names have no spaces.
    assert all(" " in key for key in TidingsLayout("t:").presence_keys("room")[:4])


async def test_upstash_layout_stores_joins_and_leaves_in_its_own_shapes(
    make_redis_backend: MakeRedisBackend, raw: redis.Redis
) -> None:
    backend = await make_redis_backend(layout="upstash")
    realtime = Realtime(backend=backend)
    channel = f"up-{id(backend)}"
    try:
        async with realtime.channel(channel).enter("ada", {"name": "Ada"}):
            assert await realtime.channel(channel).presence_count() == 1
        history = await realtime.channel(channel).presence_channel.history()
        assert [(m.event, m.data["client_id"], m.data["info"]) for m in history] == [
            (JOIN_EVENT, "ada", {"name": "Ada"}),
            (LEAVE_EVENT, "ada", {"name": "Ada"}),
        ]
        # As @upstash/realtime stores events: data, event, channel.
        stored = raw.xrange(UpstashLayout().key(channel + "~presence"))
        fields = stored[0][1]
        assert list(fields) == [b"data", b"event", b"channel"]
        assert orjson.loads(fields[b"data"])["client_id"] == "ada"
        assert fields[b"channel"] == f"{channel}~presence".encode()
    finally:
        await realtime.aclose()
        for key in raw.keys(f"{channel}~presence*"):
            raw.delete(key)
        raw.zrem(UpstashLayout().presence_index_key(), channel)
