"""Cursors, ids and timestamps from outside: ASCII digits in range, bounded length, a 400 naming the problem.

The same refusals under both servers: ``handle()`` under uvicorn and ``serve_native``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from tidings import InvalidArgumentError, Realtime
from tidings._ids import MAX_PART, parse_id
from tidings.asgi import handle
from tidings.asgi._cursor import channel_tag, decode_cursor, max_cursor_length, parse_last_ack
from tidings.asgi._errors import BadRequest

from .conftest import Native, Open, Serve

ARABIC_123 = "\u0661\u0662\u0663"  # '١٢٣': str.isdigit(), \d and int() all accept it
FULLWIDTH_5 = "\uff15"

Start = Callable[..., Awaitable[Any]]


@pytest.fixture(params=["uvicorn", "native"])
def start(request: pytest.FixtureRequest, realtime: Realtime, serve: Serve, native: Native) -> Start:
    """Start the endpoint with ``handle()``'s options under the server the test is parametrised with."""

    async def start_(**options: Any) -> Any:
        if request.param == "native":
            return await native(**options)
        return await serve(handle(realtime, **options))

    return start_


# -- pure parsing ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "bad", [f"{ARABIC_123}-0", f"1-{ARABIC_123}", f"{FULLWIDTH_5}-5", "\u00b9-0", f"{2**64}-0", f"0-{2**64}"]
)
def test_parse_id_takes_ascii_digits_in_range_only(bad: str) -> None:
    with pytest.raises(InvalidArgumentError, match="after"):
        parse_id(bad, argument="after")


def test_parse_id_reads_the_whole_range() -> None:
    assert parse_id(f"{MAX_PART}-{MAX_PART}") == (MAX_PART, MAX_PART)
    assert parse_id("0-0") == (0, 0)


@pytest.mark.parametrize("bad", [ARABIC_123, f"{ARABIC_123}-0", f"1-{FULLWIDTH_5}", f"{FULLWIDTH_5}"])
def test_last_ack_takes_ascii_digits_only(bad: str) -> None:
    with pytest.raises(BadRequest, match="last_ack_x"):
        parse_last_ack("x", bad)


@pytest.mark.parametrize("id_part", [f"{2**64}-0", f"0-{2**64}", f"{ARABIC_123}-0", f"1-{FULLWIDTH_5}"])
def test_cursor_part_out_of_range_or_not_ascii_is_a_bad_request(id_part: str) -> None:
    with pytest.raises(BadRequest, match="Last-Event-ID"):
        decode_cursor(channel_tag("a") + id_part, ["a"])


def test_the_longest_real_cursor_fits_the_bound() -> None:
    channels = [f"c{n}" for n in range(32)]
    longest = ".".join(channel_tag(c) + f"{MAX_PART}-{MAX_PART}" for c in channels)
    assert len(longest) == max_cursor_length(32)
    assert len(decode_cursor(longest, channels)) == 32


# -- over HTTP, both servers ----------------------------------------------------------------------


async def refusal(start: Start, open_stream: Open, target: str, **headers: str) -> tuple[int, str]:
    server = await start(max_channels=4)
    response = await open_stream(server, target, headers=headers)
    body = await response.json()
    return response.status, body["error"]


async def test_last_event_id_out_of_range_gets_400(start: Start, open_stream: Open) -> None:
    cursor = channel_tag("a") + f"{2**64}-0"
    status, error = await refusal(start, open_stream, "/?channel=a", **{"Last-Event-ID": cursor})
    assert status == 400
    assert "Last-Event-ID" in error and "out of range" in error


async def test_last_ack_in_non_ascii_digits_gets_400(start: Start, open_stream: Open) -> None:
    # Percent-encoded UTF-8 of '١٢٣', as a browser would send it.
    encoded = "%D9%A1%D9%A2%D9%A3"
    status, error = await refusal(start, open_stream, f"/?channel=x&last_ack_x={encoded}")
    assert status == 400
    assert "last_ack_x" in error


async def test_last_event_id_longer_than_max_channels_allows_gets_431(
    start: Start, open_stream: Open
) -> None:
    # Well formed, and far longer than a cursor over 4 channels can be.
    part = channel_tag("other") + "1-0"
    cursor = ".".join([part] * 3000)
    status, error = await refusal(start, open_stream, "/?channel=a", **{"Last-Event-ID": cursor})
    assert status == 431
    assert f"{len(cursor)} bytes" in error
    assert f"at most {max_cursor_length(4)}" in error and "max_channels" in error


async def test_a_cursor_at_the_bound_is_accepted(start: Start, open_stream: Open) -> None:
    channels = [f"c{n}" for n in range(4)]
    cursor = ".".join(channel_tag(c) + f"{MAX_PART - 1}-{MAX_PART}" for c in channels)
    assert len(cursor) == max_cursor_length(4)
    server = await start(max_channels=4)
    query = "&".join(f"channel={c}" for c in channels)
    stream = await open_stream(server, f"/?{query}", headers={"Last-Event-ID": cursor})
    assert stream.status == 200
    assert [f.data["type"] for f in await stream.frames(4)] == ["connected"] * 4
