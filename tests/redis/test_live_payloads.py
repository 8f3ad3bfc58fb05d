"""What arrives on a channel's Pub/Sub name is input: anyone with access to
Redis can publish there. A malformed message is logged and dropped, its
listeners re-read history, and no cursor moves because of it."""

from __future__ import annotations

import logging

import orjson
import pytest
import redis

from tests.support.waiting import wait_for_sentinel, wait_until
from tidings import Message, Realtime
from tidings.redis._layout import MalformedMessageError, TidingsLayout, UpstashLayout

from .conftest import MakeRedisBackend

GOOD = b'1700000000000-0 5 7\nhello{"a":1}'

MALFORMED = {
    "empty": b"",
    "no header line": b"1700000000000-0 5 7",
    "truncated length prefix": b"1700000000000-0 5",
    "truncated body": b"1700000000000-0 5 70\nhello{}",
    "sizes past the end": b"1700000000000-0 99999999999 1\nx1",
    "bogus huge id": b"99999999999999999999-0 5 2\nhello{}",
    "id beyond 64 bits": b"18446744073709551616-0 5 2\nhello{}",
    "non-ASCII digits": "١٧٠٠-0 5 2\nhello{}".encode(),
    "not an id": b"abc 5 2\nhello{}",
    "non-JSON data": b"1700000000000-0 5 3\nhello{x}",
    "JSON with trailing bytes": b"1700000000000-0 5 4\nhello{} x",
    "event not UTF-8": b"1700000000000-0 2 2\n\xff\xfe{}",
    "ids not increasing": GOOD + b"1700000000000-0 5 2\nhello{}",
    "extra spaces": b'1700000000000-0  5 7\nhello{"a":1}',
}


def test_a_well_formed_message_decodes() -> None:
    (entry,) = TidingsLayout("p:").decode_live("c", GOOD)
    assert (entry.id, entry.key, entry.event, entry.payload) == (
        "1700000000000-0",
        (1700000000000, 0),
        "hello",
        b'{"a":1}',
    )


@pytest.mark.parametrize("message", list(MALFORMED.values()), ids=list(MALFORMED))
def test_malformed_tidings_messages_are_refused(message: bytes) -> None:
    with pytest.raises(MalformedMessageError):
        TidingsLayout("p:").decode_live("c", message)


@pytest.mark.parametrize(
    "body",
    [
        {"id": "99999999999999999999-0", "event": "e", "data": 1},
        {"id": "١٢٣-0", "event": "e", "data": 1},
        {"id": "1-0-0", "event": "e", "data": 1},
    ],
)
def test_malformed_upstash_ids_are_refused(body: dict[str, object]) -> None:
    with pytest.raises(MalformedMessageError):
        UpstashLayout().decode_live("c", orjson.dumps(body))


def test_other_upstash_shapes_are_not_events() -> None:
    # The original publishes other shapes on the same channel: they are skipped quietly.
    assert UpstashLayout().decode_live("c", b'{"type":"other"}') == []
    assert UpstashLayout().decode_live("c", b"not json") == []


@pytest.mark.parametrize("message", list(MALFORMED.values()), ids=list(MALFORMED))
async def test_a_malformed_live_message_never_reaches_subscribers(
    make_redis_backend: MakeRedisBackend,
    raw: redis.Redis,
    prefix: str,
    message: bytes,
    caplog: pytest.LogCaptureFixture,
) -> None:
    realtime = Realtime(backend=await make_redis_backend())
    channel = realtime.channel("forged")
    got: list[Message] = []
    errors: list[BaseException] = []
    unsubscribe = await channel.subscribe(on_data=got.append, on_error=errors.append)
    await channel.emit("before", 1)
    await wait_until(lambda: len(got) == 1, what="the first event")
    with caplog.at_level(logging.WARNING, logger="tidings.redis"):
        assert raw.publish(prefix + "forged", message) == 1
        # Real events after the forged one: none may be hidden by it.
        for index in range(3):
            await channel.emit("after", index)
        await wait_until(lambda: len(got) == 4, what="every real event")
    await wait_for_sentinel(channel, got)
    assert [(m.event, m.data) for m in got] == [("before", 1), ("after", 0), ("after", 1), ("after", 2)]
    assert errors == []
    assert any("malformed" in record.getMessage() for record in caplog.records)
    assert realtime.backend.stats()["malformed_messages"] == 1  # type: ignore[attr-defined]
    await unsubscribe()
    await realtime.aclose()


async def test_listeners_catch_up_from_history_after_a_malformed_message(
    make_redis_backend: MakeRedisBackend, raw: redis.Redis, prefix: str
) -> None:
    realtime = Realtime(backend=await make_redis_backend())
    channel = realtime.channel("catchup")
    got: list[Message] = []
    unsubscribe = await channel.subscribe(on_data=got.append)
    # An event stored without its publish (as if the message carrying it had
    # been the malformed one): the re-read after the malformed message finds it.
    raw.xadd(prefix + "catchup", {"event": "stored", "data": b"7"})
    raw.publish(prefix + "catchup", b"garbage")
    await wait_until(lambda: len(got) == 1, what="the stored event")
    assert (got[0].event, got[0].data) == ("stored", 7)
    await unsubscribe()
    await realtime.aclose()
