"""Positions from last_ack values and Last-Event-ID cursors (pure logic)."""

from __future__ import annotations

import re

import pytest

from tidings._ids import MAX_PART, now_ms
from tidings.asgi._cursor import channel_tag, decode_cursor, encode_cursor, parse_last_ack
from tidings.asgi._errors import BadRequest


def test_channel_tag_is_eight_url_safe_characters() -> None:
    for name in ("a", "default", "x" * 256, "caf\u00e9", "user:42/orders"):
        assert re.fullmatch(r"[A-Za-z0-9_-]{8}", channel_tag(name))
    assert channel_tag("a") != channel_tag("b")


def test_cursor_round_trips_for_the_requested_channels() -> None:
    channels = ["room-1", "room-2"]
    value = encode_cursor([channel_tag("room-1") + "5-1", channel_tag("room-2") + "7-0"])
    assert value.isascii() and "\n" not in value and " " not in value
    assert decode_cursor(value, channels) == {"room-1": (5, 1), "room-2": (7, 0)}
    # A channel the request no longer names is ignored; one it adds is absent.
    assert decode_cursor(value, ["room-2", "room-3"]) == {"room-2": (7, 0)}


def test_cursor_size_does_not_grow_with_channel_names() -> None:
    long_name = "n" * 256
    value = encode_cursor([channel_tag(long_name) + f"{2**64 - 1}-{2**64 - 1}"])
    assert len(value) == 8 + 20 + 1 + 20


@pytest.mark.parametrize("bad", ["garbage", "short1-0", "AAAAAAAA1-x", "AAAAAAAA1-0.", "AAAAAAAA-1"])
def test_malformed_cursor_is_a_bad_request(bad: str) -> None:
    with pytest.raises(BadRequest, match="Last-Event-ID"):
        decode_cursor(bad, ["a"])


def test_last_ack_id_and_timestamp_forms() -> None:
    assert parse_last_ack("c", "17-3") == (17, 3)
    past = now_ms() - 10_000
    assert parse_last_ack("c", str(past)) == (past, MAX_PART)
    # A client clock ahead of the server's must not hide events: start live.
    assert parse_last_ack("c", str(now_ms() + 60_000)) is None


@pytest.mark.parametrize("bad", ["", "abc", "1-2-3", "-5", "1.5", f"{2**64}", f"{2**64}-0"])
def test_malformed_last_ack_is_a_bad_request_naming_the_parameter(bad: str) -> None:
    with pytest.raises(BadRequest, match="last_ack_c"):
        parse_last_ack("c", bad)
