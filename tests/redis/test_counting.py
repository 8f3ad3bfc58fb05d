"""A Redis reconnect shows in the metrics' counts: the backend's reconnects and the feeds' resets."""

from __future__ import annotations

from tests.support.redis_server import RedisServer
from tests.support.waiting import wait_until
from tidings import Realtime
from tidings._counters import COUNTERS
from tidings.redis import RedisBackend


async def test_a_lost_pubsub_connection_counts_a_reconnect_and_a_reset_per_feed() -> None:
    server = RedisServer().start()
    backend = RedisBackend(server.url, prefix="counting:", reconnect_delay=0.02, max_reconnect_delay=0.2)
    realtime = Realtime(backend=backend)
    try:
        feeds = [await realtime._open_feed("c", None, None, None) for _ in range(2)]
        resets = COUNTERS.feed_resets
        mine = backend.stats()["reconnects"]
        server.restart()
        await wait_until(lambda: backend.stats()["reconnects"] == mine + 1, what="the reconnect", timeout=15)
        await wait_until(lambda: COUNTERS.feed_resets - resets == 2, what="a reset of each feed", timeout=15)
        # The backend is among those the metrics sum.
        assert COUNTERS.snapshot()["backend"]["reconnects"] >= mine + 1
        for feed in feeds:
            await feed.close()
    finally:
        await realtime.aclose()
        server.stop()
