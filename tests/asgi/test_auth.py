"""Authorization middleware and signed access tokens."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from starlette.responses import PlainTextResponse

from tidings import InvalidArgumentError, InvalidInputError, Realtime
from tidings.asgi import InvalidTokenError, Request, Response, TokenAuth, handle

from .conftest import Open, Serve

SECRET = "s" * 32


async def test_middleware_sees_the_request_and_channels_and_may_allow(
    realtime: Realtime, serve: Serve, open_stream: Open
) -> None:
    seen: list[tuple[Request, list[str]]] = []

    def allow(request: Request, channels: Sequence[str]) -> None:
        seen.append((request, list(channels)))

    server = await serve(handle(realtime, middleware=allow))
    stream = await open_stream(
        server,
        "/?channel=a&channel=b&token=xyz",
        headers={"Authorization": "Bearer 1", "Cookie": "session=abc; theme=dark", "X-Twice": "1"},
    )
    assert stream.status == 200
    ((request, channels),) = seen
    assert channels == ["a", "b"]
    assert request.method == "GET"
    assert request.headers["authorization"] == "Bearer 1"
    assert request.headers.get("AUTHORIZATION") == "Bearer 1"
    assert request.query_params["token"] == "xyz"
    assert request.query_params.getlist("channel") == ["a", "b"]
    assert request.cookies == {"session": "abc", "theme": "dark"}
    assert request.client is not None and request.client[0] == "127.0.0.1"


@pytest.mark.parametrize("status", [401, 403])
async def test_sync_and_async_middleware_reject_with_their_response(
    realtime: Realtime, serve: Serve, open_stream: Open, status: int
) -> None:
    def sync_reject(request: Request, channels: Sequence[str]) -> Response:
        return Response(status, {"error": f"no access to {channels[0]}"})

    async def async_reject(request: Request, channels: Sequence[str]) -> Response:
        return sync_reject(request, channels)

    for middleware in (sync_reject, async_reject):
        server = await serve(handle(realtime, middleware=middleware))
        response = await open_stream(server, "/?channel=secret")
        assert response.status == status
        assert response.headers["content-type"] == "application/json"
        assert await response.json() == {"error": "no access to secret"}
    assert realtime.backend.live_listener_count() == 0


async def test_middleware_may_return_any_asgi_response(
    realtime: Realtime, serve: Serve, open_stream: Open
) -> None:
    def reject(request: Request, channels: Sequence[str]) -> Any:
        return PlainTextResponse("go away", status_code=403)

    server = await serve(handle(realtime, middleware=reject))
    response = await open_stream(server, "/?channel=a")
    assert response.status == 403
    assert await response.body() == b"go away"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def auth(clock: FakeClock) -> TokenAuth:
    return TokenAuth(SECRET, clock=clock)


async def test_token_grants_its_channels(
    realtime: Realtime, serve: Serve, open_stream: Open, auth: TokenAuth
) -> None:
    server = await serve(handle(realtime, middleware=auth))
    token = auth.issue(["room-1", "room-2"], ttl=60)
    assert token.isascii() and "=" not in token and "+" not in token and "/" not in token
    stream = await open_stream(server, f"/?channel=room-1&channel=room-2&token={token}")
    assert stream.status == 200
    assert [f.data["channel"] for f in await stream.frames(2)] == ["room-1", "room-2"]


@pytest.mark.parametrize(
    ("case", "status", "message"),
    [
        ("missing", 401, "missing access token: pass it as the 'token' query parameter"),
        ("expired", 401, "access token expired 1 s ago"),
        ("tampered", 401, "invalid access token: signature does not match"),
        ("other secret", 401, "invalid access token: signature does not match"),
        ("garbage", 401, "malformed access token: expected <claims>.<signature>"),
        ("wrong channel", 403, "access token does not grant channel(s) 'room-2'"),
    ],
)
async def test_token_refusals(
    realtime: Realtime,
    serve: Serve,
    open_stream: Open,
    auth: TokenAuth,
    clock: FakeClock,
    case: str,
    status: int,
    message: str,
) -> None:
    server = await serve(handle(realtime, middleware=auth))
    token = auth.issue(["room-1"], ttl=60)
    channels = "channel=room-1"
    if case == "expired":
        clock.now += 61
    elif case == "tampered":
        # Claims for more channels, under the signature of the narrower token.
        signature = token.split(".")[1]
        token = auth.issue(["room-1", "room-2"], ttl=60).split(".")[0] + "." + signature
        channels = "channel=room-1&channel=room-2"
    elif case == "other secret":
        token = TokenAuth("t" * 32, clock=clock).issue(["room-1"], ttl=60)
    elif case == "garbage":
        token = "nonsense"
    elif case == "wrong channel":
        channels = "channel=room-1&channel=room-2"
    query = channels if case == "missing" else f"{channels}&token={token}"
    response = await open_stream(server, f"/?{query}")
    assert response.status == status
    assert (await response.json()) == {"error": message}
    assert realtime.backend.live_listener_count() == 0


def test_token_verify_and_arguments(auth: TokenAuth, clock: FakeClock) -> None:
    grant = auth.verify(auth.issue(["b", "a", "a"], ttl=10))
    assert grant.channels == frozenset({"a", "b"})
    assert grant.expires_at == int(clock.now) + 10
    with pytest.raises(InvalidTokenError, match="not ASCII"):
        auth.verify("\u00e9.x")
    with pytest.raises(InvalidArgumentError, match="at least 32 bytes"):
        TokenAuth("short")
    with pytest.raises(InvalidArgumentError, match="ttl"):
        auth.issue(["a"], ttl=0)
    with pytest.raises(InvalidArgumentError, match="channels"):
        auth.issue([], ttl=5)
    assert issubclass(InvalidTokenError, InvalidInputError)


async def test_custom_token_parameter(realtime: Realtime, serve: Serve, open_stream: Open) -> None:
    auth = TokenAuth(SECRET.encode(), param="access")
    server = await serve(handle(realtime, middleware=auth))
    ok = await open_stream(server, f"/?channel=a&access={auth.issue(['a'], ttl=5)}")
    assert ok.status == 200


async def test_token_in_an_api_url_that_the_browser_client_extends_with_another_question_mark(
    realtime: Realtime, serve: Serve, open_stream: Open, auth: TokenAuth
) -> None:
    # @upstash/realtime builds api.url + "?" + "channel=..." even when api.url
    # already holds "?token=...".
    server = await serve(handle(realtime, middleware=auth))
    token = auth.issue(["a", "b"], ttl=60)
    stream = await open_stream(server, f"/?token={token}?channel=a&channel=b&last_ack_a=0-0&last_ack_b=0-0")
    assert stream.status == 200
    assert [f.data["channel"] for f in await stream.frames(2)] == ["a", "b"]


async def test_token_from_a_cookie(
    realtime: Realtime, serve: Serve, open_stream: Open, clock: FakeClock
) -> None:
    auth = TokenAuth(SECRET, cookie="rt", clock=clock)
    server = await serve(handle(realtime, middleware=auth))
    ok = await open_stream(
        server, "/?channel=a", headers={"Cookie": f"other=1; rt={auth.issue(['a'], ttl=9)}"}
    )
    assert ok.status == 200
    missing = await open_stream(server, "/?channel=a")
    assert (await missing.json())["error"] == (
        "missing access token: pass it as the 'token' query parameter or the 'rt' cookie"
    )
