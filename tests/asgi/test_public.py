"""The public surfaces of tidings.asgi and tidings.client are exactly what __all__ says."""

from __future__ import annotations

import tidings.asgi
import tidings.client


def test_asgi_surface() -> None:
    assert sorted(tidings.asgi.__all__) == [
        "EndpointStats",
        "InvalidTokenError",
        "Middleware",
        "MultiMap",
        "NativeServer",
        "RealtimeEndpoint",
        "Request",
        "Response",
        "TokenAuth",
        "TokenGrant",
        "handle",
        "serve_native",
    ]
    for name in tidings.asgi.__all__:
        assert getattr(tidings.asgi, name) is not None


def test_client_surface() -> None:
    assert sorted(tidings.client.__all__) == [
        "ClientError",
        "ConnectionFailedError",
        "ConnectionRejectedError",
        "RemoteError",
        "RemoteStream",
        "SSEParser",
        "ServerEvent",
        "connect",
    ]
    for name in tidings.client.__all__:
        assert getattr(tidings.client, name) is not None
    assert issubclass(tidings.client.ClientError, tidings.TidingsError)
