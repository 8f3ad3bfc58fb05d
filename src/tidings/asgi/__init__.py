"""Browser delivery: an ASGI endpoint speaking the ``@upstash/realtime`` SSE protocol.

::

    from tidings.asgi import handle

    app.mount("/api/realtime", handle(realtime, middleware=authorize))  # Starlette / FastAPI

Django (``asgi.py``), routing by path without any framework helper::

    from django.core.asgi import get_asgi_application
    from tidings.asgi import handle

    django_app = get_asgi_application()
    realtime_app = handle(realtime)

    async def application(scope, receive, send):
        if scope["type"] == "http" and scope["path"].startswith("/api/realtime"):
            await realtime_app(scope, receive, send)
        else:
            await django_app(scope, receive, send)

Without an ASGI server in the data path (``tidings.native``, an asyncio protocol; same
protocol and options; re-exported here lazily)::

    server = await serve_native(realtime, "0.0.0.0", 8000, path="/api/realtime")
    await server.serve_forever()

The endpoint's lifespan handling (``shutdown()``) sends every open stream a
``reconnect`` frame; see docs/sse.md for running it under uvicorn.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._auth import InvalidTokenError, TokenAuth, TokenGrant
from ._endpoint import EndpointStats, Middleware, RealtimeEndpoint
from ._handle import handle
from ._request import MultiMap, Request
from ._responses import Response

if TYPE_CHECKING:
    from tidings.native import NativeServer, serve_native

__all__ = [
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

# The native server needs httptools (tidings[server]); handle() runs under any
# ASGI server (Hypercorn, Granian, uvicorn without [standard]), so it is
# imported only when asked for.
_NATIVE = frozenset({"NativeServer", "serve_native"})


def __getattr__(name: str) -> Any:
    if name in _NATIVE:
        import tidings.native

        value = getattr(tidings.native, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_NATIVE})
