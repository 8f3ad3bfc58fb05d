"""The demo's routes: the page, its static files, and the few POSTs the page makes.

Every POST turns into an ``emit`` on the demo ``Realtime``, so the event
schema (``_schema.py``) is what accepts or refuses the page's input; a
refusal is answered 422 with the schema's message and the offending fields,
and nothing is stored.

Who is in a room is presence (docs/presence.md): the page's stream names its
user (``?name=``), ``identify`` enters it into the room's presence for the
stream's lifetime, and the page follows the room's presence channel. A
reload reconnects within the endpoint's grace period, so it is neither a
leave nor a join.
"""

from __future__ import annotations

import html
from importlib import resources
from typing import TYPE_CHECKING, Any

from pydantic import TypeAdapter, ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, Router

from tidings._exceptions import BackendError, InvalidDataError, InvalidInputError
from tidings.web import HttpError, json_response, json_route, query_param, read_body, read_json

from ._jobs import Jobs, TooManyJobsError
from ._schema import HISTORY_ON_JOIN, ROOM_PREFIX, JobRequest, Name, Room, job_channel, room_channel

if TYPE_CHECKING:
    from tidings._realtime import Realtime

MAX_BODY = 64 * 1024
_CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
}
_ROOM = TypeAdapter(Room)
_NAME = TypeAdapter(Name)
PRESENCE_GRACE = 5.0
"""Seconds a closed page stays in its room: a reload is back well before."""
_PATTERN_HINTS = {
    "name": "use letters, digits, spaces and . ' - _ (starting with a letter or digit)",
    "room": "use lowercase letters, digits and '-'",
}


class DemoSite:
    """The demo page and routes for ``realtime`` (which must use ``DEMO_SCHEMA``).

    ``stream_url`` is where the page opens its ``EventSource``. ``routes`` go
    into a Starlette app next to that endpoint; ``router`` is them as an ASGI
    app of their own.
    """

    def __init__(self, realtime: Realtime, *, stream_url: str) -> None:
        self._realtime = realtime
        self.jobs = Jobs(realtime)
        self._files = _load_static()
        self._index = self._files.pop("index.html").replace(
            b"{{stream_url}}", html.escape(stream_url, quote=True).encode("utf-8")
        )
        self.routes = [
            Route("/", self._page, methods=["GET"]),
            *(Route(f"/static/{name}", self._static, methods=["GET"]) for name in self._files),
            Route("/demo/history", self._history, methods=["GET"]),
            Route("/demo/chat", self._chat, methods=["POST"]),
            Route("/demo/job", self._job, methods=["POST"]),
        ]
        self.router = Router(self.routes)

    async def aclose(self) -> None:
        await self.jobs.aclose()

    def identify(self, request: Any, channel: str) -> tuple[str, Any] | None:
        """The endpoint's presence hook: a page's stream is present in its room as ``?name=``."""
        if not channel.startswith(ROOM_PREFIX):
            return None  # job channels: nobody is "in" a job
        try:
            name = str(_NAME.validate_python(request.query_params.get("name")))
        except ValidationError:
            return None  # a stream without a (valid) name watches without being listed
        return name, {"name": name}

    # -- pages ------------------------------------------------------------------------

    async def _page(self, request: Request) -> Response:
        return _file_response(self._index, ".html")

    async def _static(self, request: Request) -> Response:
        name = request.scope["path"].removeprefix("/static/")
        return _file_response(self._files[name], name[name.rfind(".") :])

    # -- chat -----------------------------------------------------------------------------

    @json_route
    async def _history(self, request: Request) -> Response:
        room = _room(query_param(request, "room"))
        name = query_param(request, "name")
        if name is not None:
            _checked("name", _NAME, name)  # the name the page's stream will be present as
        channel = self._realtime.channel(room_channel(room))
        messages = await _emitting(channel.history(limit=HISTORY_ON_JOIN))
        # The page opens its stream after ``cursor``: what is stored from
        # now on is replayed by the endpoint, so joining leaves no gap.
        cursor = messages[-1].id if messages else "0-0"
        # Likewise for presence: the cursor is read before the members, so
        # a change in between is both in the list and replayed (the page
        # applies joins and leaves idempotently), never in neither.
        presence = channel.presence_channel
        newest = await _emitting(presence.history(limit=1))
        members = await _emitting(channel.presence())
        return json_response(
            200,
            {
                "channel": channel.name,
                "messages": [m.to_dict() for m in messages],
                "cursor": cursor,
                "presence": {
                    "channel": presence.name,
                    "cursor": newest[-1].id if newest else "0-0",
                    "members": [member.to_dict() for member in members],
                },
            },
        )

    @json_route
    async def _chat(self, request: Request) -> Response:
        return await self._emit_in_room(request, "chat.message", ("name", "text"))

    async def _emit_in_room(self, request: Request, event: str, fields: tuple[str, ...]) -> Response:
        body = await read_json(request, MAX_BODY)
        if not isinstance(body, dict):
            raise HttpError(400, "body must be a JSON object")
        room = _room(body.get("room"))
        # Missing fields stay missing: the schema says which one is required.
        data = {name: body[name] for name in fields if name in body}
        channel = self._realtime.channel(room_channel(room))
        event_id = await _emitting(channel.emit(event, data))
        return json_response(200, {"id": event_id, "channel": channel.name})

    # -- jobs -----------------------------------------------------------------------------

    @json_route
    async def _job(self, request: Request) -> Response:
        raw = await read_body(request, MAX_BODY)
        try:
            options = JobRequest.model_validate_json(raw or b"{}")
        except ValidationError as exc:
            raise _invalid("invalid job request", exc.errors(include_url=False)) from None
        try:
            job = await _emitting(self.jobs.start(options.seconds))
        except TooManyJobsError as exc:
            raise HttpError(429, str(exc)) from None
        return json_response(200, {"job": job, "channel": job_channel(job)})


async def _emitting(operation: Any) -> Any:
    """Await an emit or a read, answering the page's mistakes with 422 and backend trouble with 503."""
    try:
        return await operation
    except InvalidDataError as exc:
        raise _invalid(str(exc), exc.errors) from None
    except InvalidInputError as exc:
        raise HttpError(422, str(exc)) from None
    except BackendError as exc:
        raise HttpError(503, f"the event backend failed: {exc}") from None


def _room(value: object) -> str:
    return _checked("room", _ROOM, value)


def _checked(field: str, adapter: TypeAdapter[str], value: object) -> str:
    try:
        return str(adapter.validate_python(value))
    except ValidationError as exc:
        errors = [{**error, "loc": (field,)} for error in exc.errors(include_url=False)]
        raise _invalid(f"invalid {field}", errors) from None


def _invalid(message: str, errors: Any) -> HttpError:
    fields: dict[str, str] = {}
    for error in errors:
        loc = error.get("loc") or ()
        field = str(loc[0]) if loc else "data"
        text = str(error.get("msg", "invalid"))
        if error.get("type") == "string_pattern_mismatch" and field in _PATTERN_HINTS:
            text = _PATTERN_HINTS[field]
        elif error.get("type") == "extra_forbidden":
            text = "unexpected field"
        fields.setdefault(field, text)
    return HttpError(422, message, extra={"fields": fields})


def _load_static() -> dict[str, bytes]:
    folder = resources.files("tidings.demo") / "static"
    return {entry.name: entry.read_bytes() for entry in folder.iterdir() if entry.is_file()}


def _file_response(body: bytes, suffix: str) -> Response:
    return Response(
        body,
        media_type=_CONTENT_TYPES.get(suffix, "application/octet-stream"),
        headers={"cache-control": "no-cache", "x-content-type-options": "nosniff"},
    )
