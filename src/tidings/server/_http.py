"""Just enough HTTP on plain ASGI for small JSON routes and static files.

``tidings serve`` and ``tidings demo`` must run with ``tidings[server]``
alone, so their few routes do not pull in a web framework.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import Any
from urllib.parse import parse_qsl

import orjson

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
Handler = Callable[["HttpRequest"], Awaitable["HttpResponse"]]


class HttpError(Exception):
    """Ends a route with ``status`` and ``{"error": message, **extra}``."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        headers: Mapping[str, str] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = dict(headers or {})
        self.extra = dict(extra or {})

    def response(self) -> HttpResponse:
        return json_response(self.status, {"error": self.message, **self.extra}, headers=self.headers)


class HttpResponse:
    """A complete response: status, headers, body."""

    __slots__ = ("body", "headers", "status")

    def __init__(self, status: int, body: bytes, headers: Mapping[str, str]) -> None:
        self.status = status
        self.body = body
        self.headers = dict(headers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        raw = [(name.encode("latin-1"), value.encode("latin-1")) for name, value in self.headers.items()]
        raw.append((b"content-length", str(len(self.body)).encode("ascii")))
        await send({"type": "http.response.start", "status": self.status, "headers": raw})
        body = b"" if scope.get("method") == "HEAD" else self.body
        await send({"type": "http.response.body", "body": body, "more_body": False})


def json_response(status: int, body: Any, *, headers: Mapping[str, str] | None = None) -> HttpResponse:
    merged = {"content-type": "application/json", "cache-control": "no-store", **(headers or {})}
    return HttpResponse(status, orjson.dumps(body), merged)


class HttpRequest:
    """The parts of an ASGI HTTP request the routes need."""

    __slots__ = ("_receive", "headers", "method", "path", "query", "scope")

    def __init__(self, scope: Scope, receive: Receive) -> None:
        self.scope = scope
        self._receive = receive
        self.method: str = scope["method"]
        self.path: str = scope["path"]
        self.headers = {
            name.decode("latin-1").lower(): value.decode("latin-1")
            for name, value in scope.get("headers", ())
        }
        self.query: dict[str, list[str]] = {}
        for name, value in parse_qsl(
            scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True
        ):
            self.query.setdefault(name, []).append(value)

    def param(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None

    async def body(self, limit: int) -> bytes:
        """The whole request body; 413 past ``limit`` bytes (checked before reading it all)."""
        declared = self.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise HttpError(413, f"request body is {declared} bytes; the limit is {limit}")
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await self._receive()
            if message["type"] == "http.disconnect":
                raise HttpError(400, "client disconnected before sending the whole body")
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise HttpError(413, f"request body is over the limit of {limit} bytes")
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    async def json(self, limit: int) -> Any:
        raw = await self.body(limit)
        try:
            value = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise HttpError(400, f"request body is not valid JSON: {exc}") from None
        if _LONG_DIGITS.search(raw) is not None:
            # orjson reads an integer beyond 64 bits as a float, silently; only
            # bodies with such a run of digits (maybe inside a string) pay for
            # the exact reading.
            _check_integers(raw)
        return value


_LONG_DIGITS = re.compile(rb"[0-9]{19}")  # every integer outside the 64-bit range has 19+ digits
_MIN_INT, _MAX_INT = -(2**63), 2**64 - 1


def _check_integers(raw: bytes) -> None:
    def checked(text: str) -> int:
        number = int(text)
        if not _MIN_INT <= number <= _MAX_INT:
            raise HttpError(
                400, f"integer {text[:30]}... is out of range: JSON numbers must be within -2**63 .. 2**64-1"
            )
        return number

    json.loads(raw, parse_int=checked)


class Router:
    """Exact-path routes, each with its methods; 404 and 405 answered here."""

    def __init__(self) -> None:
        self._routes: dict[str, dict[str, Handler]] = {}

    def add(self, path: str, method: str, handler: Handler) -> None:
        self._routes.setdefault(path, {})[method] = handler
        if method == "GET":
            self._routes[path]["HEAD"] = handler

    def __contains__(self, path: object) -> bool:
        return path in self._routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = HttpRequest(scope, receive)
        methods = self._routes.get(request.path)
        try:
            if methods is None:
                raise HttpError(404, f"no route for {request.path}")
            handler = methods.get(request.method)
            if handler is None:
                allowed = ", ".join(sorted(methods))
                raise HttpError(
                    405, f"{request.method} is not allowed here; use {allowed}", headers={"allow": allowed}
                )
            response = await handler(request)
        except HttpError as exc:
            response = exc.response()
        await response(scope, receive, send)


def not_found(path: str) -> HttpResponse:
    return HttpError(404, f"no route for {path}").response()
