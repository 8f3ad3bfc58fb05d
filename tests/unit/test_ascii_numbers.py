"""Numbers from outside the process are ASCII digits: ``int()`` and ``\\d`` also take
other scripts' digits ("١٢٣" is 123), so a value nobody meant could pass."""

from __future__ import annotations

import httpx
import pytest

from tidings import InvalidArgumentError, Realtime
from tidings.client._stream import _start_positions
from tidings.server._api import JsonApi

TOKEN = "t" * 32


@pytest.mark.parametrize("value", ["١٢٣", "１２３", "١-٠", "1-٠"])
def test_the_client_refuses_non_ascii_positions(value: str) -> None:
    with pytest.raises(InvalidArgumentError, match="last_ack"):
        _start_positions(("c",), value)


def test_the_client_takes_ascii_positions() -> None:
    assert _start_positions(("c",), "123") == {"c": "123"}
    assert _start_positions(("c",), "1-2") == {"c": "1-2"}


@pytest.mark.parametrize("name", ["limit", "start", "end"])
@pytest.mark.parametrize("value", ["١٢٣", "１２３", "-١", "1.5", "", "--1"])
async def test_the_json_api_refuses_non_ascii_numbers(name: str, value: str) -> None:
    async with Realtime() as realtime:
        await realtime.channel("c").emit("e", 1)
        api = JsonApi(realtime, token=TOKEN)
        transport = httpx.ASGITransport(app=api.router)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as http:
            response = await http.get(
                "/history", params={"channel": "c", name: value}, headers={"authorization": f"Bearer {TOKEN}"}
            )
    assert response.status_code == 400, response.text
    assert name in response.json()["error"]
