"""A small JSON API next to the SSE endpoint: emit, history and presence over HTTP.

For ``tidings emit --url`` / ``tidings history --url`` / ``tidings presence --url`` and any program that
cannot reach the backend itself. Every request needs ``Authorization:
Bearer <token>``; the token is compared in constant time. Relative to the
endpoint path ``<base>``::

    POST <base>/emit     {"channel": C, "event": E, "data": D}
                         {"channel": C, "events": [{"event": E, "data": D}, ...]}
                         -> 200 {"ids": [...]}          (a batch is atomic)
    GET  <base>/history  ?channel=C[&limit=N][&start=MS][&end=MS][&after=ID]
                         -> 200 {"messages": [{"id", "event", "channel", "data"}, ...]}
    GET  <base>/presence ?channel=C[&limit=N]
                         -> 200 {"members": [{"client_id", "info", "since"}, ...], "count": N}

Errors are ``{"error": "<one line>", "type": "<tidings error class>"}`` with
401 (token), 400 (malformed request), 413 (body too large), 422 (rejected
by the schema or the limits: nothing was stored), 503 (backend failure).
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any, TypeVar

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, Router

from tidings._exceptions import BackendError, CursorExpiredError, InvalidInputError, TidingsError
from tidings.web import HttpError, json_response, json_route, query_param, read_json

if TYPE_CHECKING:
    from tidings._channel import Channel
    from tidings._message import Message
    from tidings._realtime import Realtime

T = TypeVar("T")

_INTEGER = re.compile(r"-?[0-9]{1,20}")
MIN_TOKEN_LENGTH = 16
DEFAULT_MAX_BODY = 8 * 1024 * 1024


def check_api_token(token: str) -> str:
    """Refuse tokens too short to be secret; the message says how to make one."""
    if len(token) < MIN_TOKEN_LENGTH or token != token.strip():
        raise ValueError(
            f"the API token must be at least {MIN_TOKEN_LENGTH} characters without surrounding "
            "spaces (e.g. python -c 'import secrets; print(secrets.token_urlsafe(32))')"
        )
    return token


class JsonApi:
    """The ``/emit`` and ``/history`` routes under ``base`` for ``realtime``.

    ``routes`` go into any Starlette app (``Starlette(routes=[*api.routes, ...])``);
    ``router`` is the same routes as an ASGI app of their own.
    """

    def __init__(
        self, realtime: Realtime, *, token: str, base: str = "", max_body_bytes: int = DEFAULT_MAX_BODY
    ) -> None:
        self._realtime = realtime
        self._token = check_api_token(token).encode("utf-8")
        self._max_body = max_body_bytes
        self.routes = [
            Route(f"{base}/emit", self._emit, methods=["POST"]),
            Route(f"{base}/history", self._history, methods=["GET"]),
            Route(f"{base}/presence", self._presence, methods=["GET"]),
        ]
        self.router = Router(self.routes)

    def _authorize(self, request: Request) -> None:
        scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not credentials:
            raise HttpError(
                401,
                "missing API token: send 'Authorization: Bearer <token>'",
                headers={"www-authenticate": "Bearer"},
            )
        if not hmac.compare_digest(credentials.strip().encode("utf-8"), self._token):
            raise HttpError(401, "invalid API token", headers={"www-authenticate": "Bearer"})

    @json_route
    async def _emit(self, request: Request) -> Response:
        self._authorize(request)
        body = await read_json(request, self._max_body)
        if not isinstance(body, dict):
            raise HttpError(400, "body must be a JSON object with channel and event/data or events")
        channel = _field(body, "channel", str)
        items = _batch(body["events"]) if "events" in body else [(_field(body, "event", str), _data(body))]
        ids = await _checked(_emit_many(self._realtime, channel, items))
        return json_response(200, {"ids": ids})

    @json_route
    async def _history(self, request: Request) -> Response:
        self._authorize(request)
        channel = _channel_param(request)
        options: dict[str, Any] = {}
        for name in ("limit", "start", "end"):
            value = _integer_param(request, name)
            if value is not None:
                options[name] = value
        after = query_param(request, "after")
        if after is not None:
            options["after"] = after
        messages = await _checked(_read_history(self._realtime, channel, options))
        return json_response(200, {"messages": [message.to_dict() for message in messages]})

    @json_route
    async def _presence(self, request: Request) -> Response:
        self._authorize(request)
        channel = _channel_param(request)
        limit = _integer_param(request, "limit")
        room = await _checked(_room(self._realtime, channel))
        members = await _checked(room.presence(limit=limit))
        count = await _checked(room.presence_count())
        return json_response(200, {"members": [member.to_dict() for member in members], "count": count})


def _channel_param(request: Request) -> str:
    channel = query_param(request, "channel")
    if not channel:
        raise HttpError(400, "missing query parameter 'channel'")
    return channel


def _integer_param(request: Request, name: str) -> int | None:
    value = query_param(request, name)
    if value is None:
        return None
    # ASCII only: int() also reads other scripts' digits ("١٢٣" is 123).
    if _INTEGER.fullmatch(value) is None:
        raise HttpError(400, f"{name}: must be an integer in ASCII digits, got {value[:40]!r}")
    return int(value)


async def _room(realtime: Realtime, channel: str) -> Channel:
    return realtime.channel(channel)  # async only so that _checked maps a bad name to 422


async def _emit_many(realtime: Realtime, channel: str, items: list[tuple[str, Any]]) -> list[str]:
    return await realtime.channel(channel).emit_many(items)


async def _read_history(realtime: Realtime, channel: str, options: dict[str, Any]) -> list[Message]:
    return await realtime.channel(channel).history(**options)


def _field(body: dict[str, Any], name: str, kind: type) -> Any:
    if name not in body:
        raise HttpError(400, f"missing field {name!r}")
    value = body[name]
    if not isinstance(value, kind):
        raise HttpError(400, f"field {name!r} must be a {kind.__name__}, got {type(value).__name__}")
    return value


def _data(body: dict[str, Any]) -> Any:
    if "data" not in body:
        raise HttpError(400, "missing field 'data' (use null for no data)")
    return body["data"]


def _batch(events: Any) -> list[tuple[str, Any]]:
    if not isinstance(events, list) or not events:
        raise HttpError(400, 'field \'events\' must be a non-empty list of {"event": .., "data": ..}')
    items = []
    for index, item in enumerate(events):
        if not isinstance(item, dict) or not isinstance(item.get("event"), str) or "data" not in item:
            raise HttpError(400, f"events[{index}] must be an object with a string 'event' and a 'data'")
        items.append((item["event"], item["data"]))
    return items


async def _checked(operation: Awaitable[T]) -> T:
    """Await ``operation``, turning tidings errors into HTTP errors with the same one-line message."""
    try:
        return await operation
    except TidingsError as exc:
        if isinstance(exc, InvalidInputError | CursorExpiredError):
            status = 422
        elif isinstance(exc, BackendError):
            status = 503
        else:
            status = 500
        raise HttpError(status, str(exc), extra={"type": type(exc).__name__}) from None
