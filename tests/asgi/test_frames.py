"""The SSE frames, byte for byte (PROTOCOL.md section 1)."""

from __future__ import annotations

import orjson

from tidings import Entry
from tidings.asgi._cursor import channel_tag
from tidings.asgi._frames import (
    FrameCache,
    connected_frame,
    error_frame,
    event_frame,
    ping_frame,
    reconnect_frame,
    retry_frame,
    with_id,
)


def entry(id_: str = "1700000000000-0", payload: bytes = b'{"n":1}', **fields: str) -> Entry:
    ms, seq = id_.split("-")
    return Entry(
        id_, (int(ms), int(seq)), fields.get("event", "job.done"), fields.get("channel", "jobs"), payload
    )


def test_user_event_frame_has_no_event_line_and_one_data_line() -> None:
    assert event_frame(entry()) == (
        b'data: {"id":"1700000000000-0","event":"job.done","channel":"jobs","data":{"n":1}}\n\n'
    )


def test_user_event_frame_escapes_names_and_keeps_payload_bytes() -> None:
    frame = event_frame(entry(event='say "hi"', channel="caf\u00e9", payload=b'"\\u00e9\\n"'))
    assert frame == (
        b'data: {"id":"1700000000000-0","event":"say \\"hi\\"",'
        b'"channel":"caf\xc3\xa9","data":"\\u00e9\\n"}\n\n'
    )


def test_payload_with_raw_line_breaks_is_compacted_onto_one_line() -> None:
    frame = event_frame(entry(payload=b'{\n  "a": [1,\r\n 2]\n}'))
    assert (
        frame == b'data: {"id":"1700000000000-0","event":"job.done","channel":"jobs","data":{"a":[1,2]}}\n\n'
    )
    assert frame.count(b"\n") == 2


def test_scalar_payloads_are_copied_as_json() -> None:
    for payload in (b"null", b"42", b'"text"', b"true", b"[]"):
        frame = event_frame(entry(payload=payload))
        assert orjson.loads(frame[len(b"data: ") : -2])["data"] == orjson.loads(payload)


def test_with_id_prefixes_an_id_line() -> None:
    assert with_id("abc1-2", b"data: {}\n\n") == b"id: abc1-2\ndata: {}\n\n"


def test_system_frames() -> None:
    assert connected_frame("jobs", "5-0") == b'data: {"type":"connected","channel":"jobs","cursor":"5-0"}\n\n'
    assert ping_frame(1700000000123) == b'data: {"type":"ping","timestamp":1700000000123}\n\n'
    assert reconnect_frame(1700000000123) == b'data: {"type":"reconnect","timestamp":1700000000123}\n\n'
    assert error_frame('bad "x"\nline') == b'data: {"type":"error","error":"bad \\"x\\"\\nline"}\n\n'
    assert retry_frame(1500) == b"retry: 1500\n\n"


def test_frame_cache_shares_frames_and_builds_the_single_channel_id_line() -> None:
    cache = FrameCache(size=2)
    first = entry("1-0")
    bare, single = cache.frame(first, channel_tag("jobs"))
    assert bare == event_frame(first)
    assert single == b"id: " + channel_tag("jobs").encode() + b"1-0\n" + bare
    # The same event (even as another Entry object, as a Redis listener makes) is not rebuilt.
    assert cache.frame(entry("1-0"), channel_tag("jobs"))[0] is bare


def test_frame_cache_is_bounded() -> None:
    cache = FrameCache(size=2)
    for seq in range(10):
        cache.frame(entry(f"1-{seq}"), "t")
    assert len(cache) <= 4
