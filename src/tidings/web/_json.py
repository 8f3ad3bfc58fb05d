"""JSON routes on Starlette: bounded bodies read exactly, answers and refusals as JSON.

A route written with ``json_route`` raises ``HttpError`` for every refusal
and answers it itself, so its ``Route`` works in any Starlette app or
``Router`` (a bare ``Router`` has no exception handlers).
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, ParamSpec

import orjson
from starlette.requests import Request
from starlette.responses import Response

P = ParamSpec("P")

_LONG_DIGITS = re.compile(rb"[0-9]{19}")  # every integer outside the 64-bit range has 19+ digits
_MIN_INT, _MAX_INT = -(2**63), 2**64 - 1


class JSONResponse(Response):
    """A JSON answer written by orjson, as ``emit`` stores data: what was stored reads back the same."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def json_response(status: int, body: Any, *, headers: Mapping[str, str] | None = None) -> JSONResponse:
    """``body`` as JSON with ``status``; never cached (every answer is about live state)."""
    return JSONResponse(body, status, headers={"cache-control": "no-store", **(headers or {})})


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

    def response(self) -> JSONResponse:
        return json_response(self.status, {"error": self.message, **self.extra}, headers=self.headers)


def json_route(
    handler: Callable[P, Awaitable[Response]],
) -> Callable[P, Awaitable[Response]]:
    """A Starlette endpoint that answers its own ``HttpError`` refusals."""

    @functools.wraps(handler)
    async def endpoint(*args: P.args, **kwargs: P.kwargs) -> Response:
        try:
            return await handler(*args, **kwargs)
        except HttpError as exc:
            return exc.response()

    return endpoint


def query_param(request: Request, name: str) -> str | None:
    """The first value of query parameter ``name`` (Starlette's ``get`` gives the last)."""
    values = request.query_params.getlist(name)
    return values[0] if values else None


async def read_body(request: Request, limit: int) -> bytes:
    """The whole request body; 413 past ``limit`` bytes (checked before reading it all)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise HttpError(413, f"request body is {declared} bytes; the limit is {limit}")
    # ASGI messages read here, as Request.stream() would: its async generator
    # costs ~2 us a request (the JSON API's emits, measured under both servers).
    chunks: list[bytes] = []
    size = 0
    receive = request.receive
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise HttpError(400, "client disconnected before sending the whole body")
        if message["type"] != "http.request":
            continue
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise HttpError(413, f"request body is over the limit of {limit} bytes")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


async def read_json(request: Request, limit: int) -> Any:
    """The body as JSON; 400 if it is not JSON or holds an integer JSON numbers cannot carry."""
    raw = await read_body(request, limit)
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


def _check_integers(raw: bytes) -> None:
    def checked(text: str) -> int:
        number = int(text)
        if not _MIN_INT <= number <= _MAX_INT:
            raise HttpError(
                400, f"integer {text[:30]}... is out of range: JSON numbers must be within -2**63 .. 2**64-1"
            )
        return number

    json.loads(raw, parse_int=checked)
