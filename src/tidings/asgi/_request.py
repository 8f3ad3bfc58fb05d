"""The request as middleware sees it, and reading a stream request out of it.

Query rules follow ``@upstash/realtime`` (PROTOCOL.md section 1): ``channel``
repeats (duplicates ignored, none means ``["default"]``) and
``last_ack_<channel>`` gives each channel's resume position. A
``Last-Event-ID`` header (sent by the browser's own reconnect) wins over
``last_ack_*`` for every channel it names.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from urllib.parse import parse_qsl

from tidings._exceptions import InvalidInputError
from tidings._ids import IdKey
from tidings._realtime import DEFAULT_CHANNEL

from ._cursor import decode_cursor, parse_last_ack
from ._errors import BadRequest
from ._types import Scope

_MAX_QUERY_BYTES = 64 * 1024


class MultiMap(Mapping[str, str]):
    """Read-only name -> value mapping that keeps repeated values (``getlist``).

    ``[name]`` and ``get`` give the first value. Header names are matched
    case-insensitively; query parameter names exactly.
    """

    __slots__ = ("_fold", "_values")

    def __init__(self, items: list[tuple[str, str]], *, fold_case: bool = False) -> None:
        self._fold = fold_case
        self._values: dict[str, list[str]] = {}
        for name, value in items:
            self._values.setdefault(name.lower() if fold_case else name, []).append(value)

    def _key(self, name: str) -> str:
        return name.lower() if self._fold else name

    def __getitem__(self, name: str) -> str:
        return self._values[self._key(name)][0]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self._key(name) in self._values

    def getlist(self, name: str) -> list[str]:
        return list(self._values.get(self._key(name), ()))

    def __repr__(self) -> str:
        return f"MultiMap({self._values!r})"


class Request:
    """One HTTP request to the endpoint, as authorization middleware receives it.

    ``headers`` (case-insensitive), ``query_params``, ``cookies``, ``client``
    (``(host, port)`` or None), ``method``, ``path`` and the raw ASGI ``scope``.
    """

    __slots__ = ("client", "cookies", "headers", "method", "path", "query_params", "scope")

    def __init__(self, scope: Scope) -> None:
        self.scope = scope
        self.method: str = scope.get("method", "GET")
        self.path: str = scope.get("path", "")
        raw_query: bytes = scope.get("query_string", b"")
        if len(raw_query) > _MAX_QUERY_BYTES:
            raise BadRequest(f"query string is {len(raw_query)} bytes; the limit is {_MAX_QUERY_BYTES}", 414)
        # The browser client builds its URL with encodeURIComponent, and
        # URLSearchParams (the original server) decodes names and values alike.
        # It also appends "?channel=..." even to an api.url that has a query
        # already ("/api/realtime?token=t"): a raw "?" (encodeURIComponent
        # never leaves one in a value) separates parameters like "&".
        query = parse_qsl(raw_query.replace(b"?", b"&").decode("latin-1"), keep_blank_values=True)
        self.query_params = MultiMap(query)
        self.headers = MultiMap(
            [(name.decode("latin-1"), value.decode("latin-1")) for name, value in scope.get("headers", ())],
            fold_case=True,
        )
        self.cookies = _parse_cookies(self.headers.getlist("cookie"))
        client = scope.get("client")
        self.client: tuple[str, int] | None = (str(client[0]), int(client[1])) if client else None

    def __repr__(self) -> str:
        return f"Request({self.method} {self.path}, client={self.client})"


def _parse_cookies(headers: list[str]) -> dict[str, str]:
    # Lenient like browsers: a malformed pair is skipped, never an error.
    cookies: dict[str, str] = {}
    for header in headers:
        for pair in header.split(";"):
            name, sep, value = pair.partition("=")
            name = name.strip()
            if sep and name:
                cookies.setdefault(name, value.strip().strip('"'))
    return cookies


def read_channels(
    request: Request, check_channel: Callable[[str], str], max_channels: int
) -> tuple[str, ...]:
    names = request.query_params.getlist("channel") or [DEFAULT_CHANNEL]
    channels = tuple(dict.fromkeys(names))
    if len(channels) > max_channels:
        raise BadRequest(
            f"{len(channels)} channels requested; the limit is {max_channels} per connection (max_channels)"
        )
    for name in channels:
        try:
            check_channel(name)
        except InvalidInputError as exc:
            raise BadRequest(str(exc)) from None
    return channels


def read_positions(
    request: Request, channels: tuple[str, ...], max_channels: int | None = None
) -> dict[str, IdKey | None]:
    """Where each channel resumes: after an id, or ``None`` for "now" (replay nothing).

    A ``Last-Event-ID`` longer than a cursor of ``max_channels`` channels can be is refused.
    """
    positions: dict[str, IdKey | None] = {}
    for channel in channels:
        value = request.query_params.get(f"last_ack_{channel}")
        positions[channel] = None if value is None else parse_last_ack(channel, value)
    last_event_id = request.headers.get("last-event-id", "").strip()
    if last_event_id:
        positions.update(decode_cursor(last_event_id, channels, max_channels=max_channels))
    return positions
