"""A small ASGI response, for errors and for middleware that rejects a request."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from tidings._exceptions import InvalidArgumentError

from ._types import Receive, Scope, Send


class Response:
    """A complete HTTP response, sendable to any ASGI server.

    ``body`` is sent as JSON unless it is ``bytes``::

        return Response(403, {"error": "not your channel"})

    Middleware may return this, or any other ASGI response object (a
    Starlette ``JSONResponse`` works too).
    """

    __slots__ = ("body", "headers", "status")

    def __init__(
        self,
        status: int,
        body: Any = None,
        *,
        headers: Mapping[str, str] | None = None,
        media_type: str = "application/json",
    ) -> None:
        if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
            raise InvalidArgumentError("status", f"must be an HTTP status code 100..599, got {status!r}")
        self.status = status
        if body is None:
            self.body = b""
        elif isinstance(body, bytes):
            self.body = body
        else:
            self.body = orjson.dumps(body)
        self.headers: dict[str, str] = {}
        if self.body:
            self.headers["content-type"] = media_type
        self.headers["cache-control"] = "no-store"
        for name, value in (headers or {}).items():
            self.headers[name.lower()] = value

    def raw_headers(self) -> list[tuple[bytes, bytes]]:
        """The headers as they go on the wire, ``content-length`` included."""
        raw = [(name.encode("latin-1"), value.encode("latin-1")) for name, value in self.headers.items()]
        raw.append((b"content-length", str(len(self.body)).encode("ascii")))
        return raw

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status, "headers": self.raw_headers()})
        await send({"type": "http.response.body", "body": self.body, "more_body": False})

    def __repr__(self) -> str:
        return f"Response({self.status}, {self.body[:80]!r})"


def error_response(status: int, message: str, headers: Mapping[str, str] | None = None) -> Response:
    """``{"error": message}`` with ``status``: the shape of every refusal of the endpoint."""
    return Response(status, {"error": message}, headers=headers)
