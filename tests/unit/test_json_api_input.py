"""The JSON API reads request bodies as exactly as ``emit`` would store them: an
integer JSON cannot carry is refused, never turned into a float on the way."""

from __future__ import annotations

import httpx
import pytest

from tidings import Realtime
from tidings.server._api import JsonApi

TOKEN = "t" * 32
AUTH = {"authorization": f"Bearer {TOKEN}", "content-type": "application/json"}


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b'{"channel":"c","event":"e","data":18446744073709551616}', "out of range"),
        (b'{"channel":"c","event":"e","data":-9223372036854775809}', "out of range"),
        (b'{"channel":"c","event":"e","data":[1, 10000000000000000000000000000]}', "out of range"),
        (b'{"channel":"c","event":"e","data":NaN}', "not valid JSON"),
        (b'{"channel":"c","event":"e","data":Infinity}', "not valid JSON"),
    ],
)
async def test_emit_refuses_numbers_json_cannot_carry(body: bytes, fragment: str) -> None:
    async with Realtime() as realtime:
        transport = httpx.ASGITransport(app=JsonApi(realtime, token=TOKEN).router)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as http:
            response = await http.post("/emit", content=body, headers=AUTH)
        assert response.status_code == 400, response.text
        assert fragment in response.json()["error"]
        assert await realtime.channel("c").history() == []


async def test_emit_keeps_the_64_bit_range() -> None:
    async with Realtime() as realtime:
        transport = httpx.ASGITransport(app=JsonApi(realtime, token=TOKEN).router)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as http:
            body = b'{"channel":"c","event":"e","data":[18446744073709551615,-9223372036854775808,1.5e300]}'
            response = await http.post("/emit", content=body, headers=AUTH)
        assert response.status_code == 200, response.text
        (message,) = await realtime.channel("c").history()
        assert message.data == [18446744073709551615, -9223372036854775808, 1.5e300]
