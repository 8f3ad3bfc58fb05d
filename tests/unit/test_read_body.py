"""``read_body``: the whole body over any number of ASGI messages, 413 past the limit, 400 on a disconnect."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.requests import Request

from tidings.web import HttpError, read_body


def _request(messages: list[dict[str, Any]], headers: list[tuple[bytes, bytes]] | None = None) -> Request:
    """A request whose server hands over ``messages`` in order (then the client leaves)."""
    pending = list(messages)

    async def receive() -> dict[str, Any]:
        return pending.pop(0) if pending else {"type": "http.disconnect"}

    scope = {"type": "http", "method": "POST", "path": "/", "headers": headers or []}
    return Request(scope, receive)


def _part(body: bytes, more: bool) -> dict[str, Any]:
    return {"type": "http.request", "body": body, "more_body": more}


@pytest.mark.parametrize(
    "parts",
    [[b""], [b"whole"], [b"a", b"", b"bc", b"d"], [b"", b"late"]],
)
async def test_the_body_is_every_part_in_order(parts: list[bytes]) -> None:
    messages = [_part(part, more=index < len(parts) - 1) for index, part in enumerate(parts)]
    assert await read_body(_request(messages), 100) == b"".join(parts)


async def test_a_message_without_body_or_more_body_is_an_empty_body() -> None:
    assert await read_body(_request([{"type": "http.request"}]), 100) == b""


async def test_the_limit_itself_is_allowed() -> None:
    request = _request([_part(b"x" * 5, True), _part(b"y" * 5, False)])
    assert await read_body(request, 10) == b"xxxxxyyyyy"


async def test_a_body_growing_past_the_limit_gets_413_before_the_rest_is_read() -> None:
    messages = [_part(b"x" * 6, True), _part(b"y" * 6, True)]  # no last part: it must not be awaited
    with pytest.raises(HttpError) as refused:
        await read_body(_request(messages), 10)
    assert refused.value.status == 413
    assert refused.value.message == "request body is over the limit of 10 bytes"


async def test_a_declared_length_past_the_limit_gets_413_without_reading() -> None:
    request = _request([], headers=[(b"content-length", b"11")])
    with pytest.raises(HttpError) as refused:
        await read_body(request, 10)
    assert (refused.value.status, refused.value.message) == (413, "request body is 11 bytes; the limit is 10")


async def test_a_client_leaving_mid_body_gets_400() -> None:
    with pytest.raises(HttpError) as refused:
        await read_body(_request([_part(b"half", True)]), 100)
    assert refused.value.status == 400
    assert "disconnected before sending the whole body" in refused.value.message
