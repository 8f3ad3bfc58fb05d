"""CORS: same-origin by default, configured origins only, preflight."""

from __future__ import annotations

import pytest

from tidings import InvalidArgumentError, Realtime
from tidings.asgi import Response, handle

from .conftest import Open, Serve

PAGE = "https://app.example.com"


async def test_default_is_same_origin_only(realtime: Realtime, serve: Serve, open_stream: Open) -> None:
    server = await serve(handle(realtime))
    stream = await open_stream(server, "/?channel=a", headers={"Origin": PAGE})
    assert stream.status == 200
    assert not any(name.startswith("access-control-") for name in stream.headers)
    preflight = await open_stream(
        server, "/", method="OPTIONS", headers={"Origin": PAGE, "Access-Control-Request-Method": "GET"}
    )
    assert preflight.status == 403
    assert "same-origin only" in (await preflight.json())["error"]


async def test_star_only_when_asked(realtime: Realtime, serve: Serve, open_stream: Open) -> None:
    server = await serve(handle(realtime, cors_origins="*"))
    stream = await open_stream(server, "/?channel=a", headers={"Origin": PAGE})
    assert stream.headers["access-control-allow-origin"] == "*"
    assert "access-control-allow-credentials" not in stream.headers


async def test_listed_origins_are_echoed_others_get_nothing(
    realtime: Realtime, serve: Serve, open_stream: Open
) -> None:
    server = await serve(
        handle(realtime, cors_origins=[PAGE, "http://localhost:3000"], cors_credentials=True)
    )
    allowed = await open_stream(server, "/?channel=a", headers={"Origin": PAGE})
    assert allowed.headers["access-control-allow-origin"] == PAGE
    assert allowed.headers["access-control-allow-credentials"] == "true"
    assert allowed.headers["vary"] == "Origin"
    other = await open_stream(server, "/?channel=a", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in other.headers


async def test_preflight(realtime: Realtime, serve: Serve, open_stream: Open) -> None:
    server = await serve(handle(realtime, cors_origins=[PAGE]))
    response = await open_stream(
        server,
        "/?channel=a",
        method="OPTIONS",
        headers={
            "Origin": PAGE,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "last-event-id, authorization",
        },
    )
    assert response.status == 204
    assert response.headers["access-control-allow-origin"] == PAGE
    assert response.headers["access-control-allow-methods"] == "GET, OPTIONS"
    assert response.headers["access-control-allow-headers"] == "last-event-id, authorization"
    assert response.headers["access-control-max-age"] == "600"
    refused = await open_stream(
        server, "/", method="OPTIONS", headers={"Origin": PAGE, "Access-Control-Request-Method": "POST"}
    )
    assert refused.status == 405
    stranger = await open_stream(
        server,
        "/",
        method="OPTIONS",
        headers={"Origin": "https://x.example", "Access-Control-Request-Method": "GET"},
    )
    assert stranger.status == 403
    plain = await open_stream(server, "/", method="OPTIONS")
    assert plain.status == 204
    assert plain.headers["allow"] == "GET, OPTIONS"


async def test_refusals_carry_cors_headers_so_the_page_can_read_them(
    realtime: Realtime, serve: Serve, open_stream: Open
) -> None:
    server = await serve(
        handle(
            realtime, cors_origins=[PAGE], middleware=lambda request, channels: Response(401, {"error": "no"})
        )
    )
    response = await open_stream(server, "/?channel=a", headers={"Origin": PAGE})
    assert response.status == 401
    assert response.headers["access-control-allow-origin"] == PAGE


def test_bad_origin_setting_is_named() -> None:
    with pytest.raises(InvalidArgumentError, match="cors_origins: 'app.example.com' is not an origin"):
        handle(Realtime(), cors_origins=["app.example.com"])
