"""``RemoteStream``: read a tidings (or ``@upstash/realtime``) SSE endpoint from Python.

The client keeps a cursor per channel -- the id of the last event it
delivered, or the ``cursor`` of the channel's ``connected`` frame -- and
sends them back on every reconnect as ``last_ack_<channel>``, together with
the last SSE ``id:`` as ``Last-Event-ID``. Events at or below a channel's
cursor are dropped, so a resume never yields a duplicate even from a server
that replays too much.

Reading is pull-based: nothing is read from the socket while the caller is
not iterating, so a slow consumer slows the server down instead of filling
memory here.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import random
import re
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping
from types import TracebackType
from typing import Any

import httpx
import orjson

from tidings import DEFAULT_CHANNEL, InvalidArgumentError, Message
from tidings._ids import IdKey, now_ms, parse_id

from ._errors import ConnectionFailedError, ConnectionRejectedError, RemoteError
from ._sse import ServerEvent, SSEParser

logger = logging.getLogger("tidings.client")

# [0-9], not \d: \d also takes other scripts' digits, which the server refuses.
_ID_RE = re.compile(r"\A[0-9]{1,20}-[0-9]{1,20}\Z")
_MS_RE = re.compile(r"\A[0-9]{1,20}\Z")

ErrorHandler = Callable[[RemoteError], Awaitable[Any] | Any]
Position = str | int


class _Retry(Exception):
    """An attempt failed in a way that another attempt may fix (5xx, 429, wrong content type)."""


class RemoteStream:
    """Messages of one or more channels of a remote endpoint; ``async for m in stream``.

    Made by ``connect()``. States: ``"connecting"`` (not yet connected or
    reconnecting), ``"connected"``, ``"closed"``. Enter it (``async with``)
    to make the first connection: on return every channel is live on the
    server.
    """

    def __init__(
        self,
        url: str,
        *,
        channels: Iterable[str] = (DEFAULT_CHANNEL,),
        last_ack: Position | Mapping[str, Position] | None = None,
        events: Iterable[str] | None = None,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        reconnect: bool = True,
        max_attempts: int | None = None,
        min_backoff: float = 0.25,
        max_backoff: float = 10.0,
        idle_timeout: float = 75.0,
        connect_timeout: float = 10.0,
        on_error: ErrorHandler | None = None,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        self.url = url
        self.channels = tuple(dict.fromkeys(channels))
        if not self.channels or not all(isinstance(c, str) and c for c in self.channels):
            raise InvalidArgumentError(
                "channels", f"must be one or more non-empty names, got {self.channels!r}"
            )
        self._start = _start_positions(self.channels, last_ack)
        self._events = None if events is None else frozenset(events)
        self._params = dict(params or {})
        self._headers = dict(headers or {})
        self._reconnect = reconnect
        if max_attempts is not None and max_attempts < 1:
            raise InvalidArgumentError("max_attempts", f"must be at least 1 or None, got {max_attempts!r}")
        self._max_attempts = max_attempts
        self._min_backoff = min_backoff
        self._max_backoff = max_backoff
        self._on_error = on_error
        self._owns_http = http_client is None
        self._http = http_client or httpx.AsyncClient()
        # Per request, so that a caller's own client still detects silence.
        self._timeout = httpx.Timeout(connect_timeout, read=idle_timeout)
        self._cursors: dict[str, IdKey] = {}
        self._pending: deque[Message | RemoteError] = deque()
        self._response: httpx.Response | None = None
        self._chunks: Any = None  # the response's async byte iterator
        self._parser = SSEParser()
        self._last_event_id = ""
        self._retry_delay: float | None = None
        self._reconnect_now = False
        self._failures = 0
        self.status = "connecting"
        self.connections = 0

    # -- public -----------------------------------------------------------------------

    @property
    def cursors(self) -> dict[str, str]:
        """Per channel, the id this stream would resume after (only channels it has one for)."""
        return {channel: f"{key[0]}-{key[1]}" for channel, key in self._cursors.items()}

    @property
    def last_event_id(self) -> str:
        """The last SSE ``id:`` received (what a browser would send as ``Last-Event-ID``)."""
        return self._last_event_id

    async def __aenter__(self) -> RemoteStream:
        await self._connect_with_retry()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __aiter__(self) -> RemoteStream:
        return self

    async def __anext__(self) -> Message:
        while True:
            if self._pending:
                item = self._pending.popleft()
                if isinstance(item, Message):
                    return item
                await self._report(item)
                continue
            if self.status == "closed":
                raise StopAsyncIteration
            if self._response is None:
                if not self._reconnect and self.connections:
                    await self.aclose()
                    raise StopAsyncIteration
                await self._connect_with_retry()
                continue
            await self._read()

    async def aclose(self) -> None:
        """Close the connection (and the HTTP client if this stream made it). Idempotent."""
        if self.status == "closed":
            return
        self.status = "closed"
        await self._drop()
        if self._owns_http:
            await self._http.aclose()

    # -- connecting ---------------------------------------------------------------------

    async def _connect_with_retry(self) -> None:
        while True:
            try:
                await self._connect()
            except (httpx.TransportError, _Retry) as exc:
                self._failures += 1
                if not self._reconnect or (
                    self._max_attempts is not None and self._failures >= self._max_attempts
                ):
                    await self.aclose()
                    raise ConnectionFailedError(self.url, self._failures, str(exc) or repr(exc)) from exc
                delay = min(self._max_backoff, self._min_backoff * 2 ** (self._failures - 1))
                await asyncio.sleep(delay * random.uniform(0.5, 1.0))
            except BaseException:
                await self.aclose()
                raise
            else:
                self._failures = 0
                return

    async def _connect(self) -> None:
        if self.status == "closed":
            raise ConnectionFailedError(self.url, self._failures, "the stream was closed")
        self.status = "connecting"
        params: list[tuple[str, str | int | float | bool | None]] = [
            ("channel", channel) for channel in self.channels
        ]
        for channel in self.channels:
            position = self._position(channel)
            if position is not None:
                params.append((f"last_ack_{channel}", position))
        params.extend(self._params.items())
        headers = {"accept": "text/event-stream", "cache-control": "no-cache", **self._headers}
        if self._last_event_id:
            headers["last-event-id"] = self._last_event_id
        request = self._http.build_request(
            "GET", self.url, params=params, headers=headers, timeout=self._timeout
        )
        response = await self._http.send(request, stream=True)
        if response.status_code != 200:
            body = await _read_error(response)
            status = response.status_code
            if 400 <= status < 500 and status not in (408, 429):
                raise ConnectionRejectedError(self.url, status, body)
            raise _Retry(f"HTTP {status}: {body}")
        content_type = response.headers.get("content-type", "")
        if not content_type.startswith("text/event-stream"):
            await response.aclose()
            raise _Retry(f"expected text/event-stream, got {content_type!r}")
        self._response = response
        self._chunks = response.aiter_bytes()
        self._parser = SSEParser()
        self._reconnect_now = False
        self.status = "connected"
        self.connections += 1

    def _position(self, channel: str) -> str | None:
        key = self._cursors.get(channel)
        if key is not None:
            return f"{key[0]}-{key[1]}"
        return self._start[channel]

    async def _drop(self) -> None:
        chunks, self._chunks = self._chunks, None
        response, self._response = self._response, None
        if chunks is not None:
            await chunks.aclose()
        if response is not None:
            await response.aclose()
        if self.status != "closed":
            self.status = "connecting"

    # -- reading ---------------------------------------------------------------------------

    async def _read(self) -> None:
        try:
            chunk: bytes | None = await self._chunks.__anext__()
        except StopAsyncIteration:
            chunk = None
        except httpx.TransportError as exc:  # includes the idle ReadTimeout
            logger.info("tidings.client: stream from %s dropped: %r", self.url, exc)
            chunk = None
        if chunk is not None:
            for event in self._parser.feed(chunk):
                self._handle(event)
            if self._parser.retry_ms is not None:
                self._retry_delay = self._parser.retry_ms / 1000
            self._last_event_id = self._parser.last_event_id or self._last_event_id
            if not self._reconnect_now:
                return
        await self._drop()
        if not self._reconnect:
            return
        if not self._reconnect_now:
            # Dropped without notice: wait like a browser would (the server's
            # retry field, else the minimum backoff) before reconnecting.
            await asyncio.sleep(self._retry_delay if self._retry_delay is not None else self._min_backoff)

    def _handle(self, event: ServerEvent) -> None:
        if event.event != "message":
            return
        try:
            frame = orjson.loads(event.data)
        except orjson.JSONDecodeError:
            logger.warning("tidings.client: ignoring a frame that is not JSON: %.80r", event.data)
            return
        if not isinstance(frame, dict):
            return
        kind = frame.get("type")
        if kind is None and isinstance(frame.get("id"), str) and _ID_RE.match(frame["id"]):
            self._user_event(frame)
        elif kind == "connected":
            channel, cursor = frame.get("channel"), frame.get("cursor")
            if isinstance(channel, str) and isinstance(cursor, str) and _ID_RE.match(cursor):
                self._advance(channel, parse_id(cursor))
        elif kind == "reconnect":
            timestamp = frame.get("timestamp")
            if isinstance(timestamp, int):
                for channel in self.channels:
                    if channel not in self._cursors:
                        self._start[channel] = str(timestamp)
            self._reconnect_now = True
        elif kind == "error":
            self._pending.append(RemoteError(str(frame.get("error"))))

    def _user_event(self, frame: dict[str, Any]) -> None:
        channel = frame.get("channel")
        event = frame.get("event")
        if not isinstance(channel, str) or not isinstance(event, str):
            return
        key = parse_id(frame["id"])
        if not self._advance(channel, key):
            return  # already delivered: a resume replayed it again
        if self._events is None or event in self._events:
            self._pending.append(Message(frame["id"], event, channel, frame.get("data")))

    def _advance(self, channel: str, key: IdKey) -> bool:
        current = self._cursors.get(channel)
        if current is not None and key <= current:
            return False
        self._cursors[channel] = key
        return True

    async def _report(self, error: RemoteError) -> None:
        if self._on_error is None:
            raise error
        result = self._on_error(error)
        if inspect.isawaitable(result):
            await result


def _start_positions(
    channels: tuple[str, ...], last_ack: Position | Mapping[str, Position] | None
) -> dict[str, str | None]:
    given: Mapping[str, Position | None]
    if last_ack is None or isinstance(last_ack, str | int):
        given = dict.fromkeys(channels, last_ack)
    else:
        given = last_ack
        unknown = set(given) - set(channels)
        if unknown:
            raise InvalidArgumentError("last_ack", f"names channel(s) not in channels: {sorted(unknown)!r}")
    # Like the browser client: "from now" is pinned to the connect time, so a
    # first connection that fails half-way still resumes from that moment.
    pinned = str(now_ms())
    positions: dict[str, str | None] = {}
    for channel in channels:
        value = given.get(channel)
        if value is None:
            positions[channel] = pinned
        elif isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            positions[channel] = str(value)
        elif isinstance(value, str) and (_ID_RE.match(value) or _MS_RE.match(value)):
            positions[channel] = value
        else:
            raise InvalidArgumentError(
                "last_ack",
                f"{value!r} (channel {channel!r}) is neither an event id '<ms>-<seq>' "
                "nor a Unix ms timestamp",
            )
    return positions


async def _read_error(response: httpx.Response) -> str:
    try:
        raw = await response.aread()
    finally:
        await response.aclose()
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return raw[:200].decode("utf-8", "replace")
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        return str(body["error"])
    return raw[:200].decode("utf-8", "replace")
