"""``handle()``: the one call that turns a ``Realtime`` into an SSE endpoint."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from ._cors import CorsPolicy
from ._endpoint import Middleware, RealtimeEndpoint
from ._presence import PresenceHook, StreamPresence
from ._settings import StreamSettings

if TYPE_CHECKING:
    from tidings._realtime import Realtime


def handle(
    realtime: Realtime,
    *,
    middleware: Middleware | None = None,
    cors_origins: str | Sequence[str] | None = None,
    cors_credentials: bool = False,
    ping_interval: float = 30.0,
    max_duration: float | None = None,
    max_channels: int = 32,
    max_replay: int = 10_000,
    max_connections: int | None = 10_000,
    retry_ms: int | None = None,
    shutdown_timeout: float = 5.0,
    close_on_signal: bool = True,
    send_buffer: int = 65_536,
    presence: PresenceHook | None = None,
    presence_grace: float | None = None,
) -> RealtimeEndpoint:
    """An ASGI app that streams ``realtime``'s channels to browsers (Server-Sent Events).

    Speaks the protocol of the ``@upstash/realtime`` browser client::

        app.mount("/api/realtime", handle(realtime, middleware=authorize))

    ``GET ?channel=a&channel=b&last_ack_a=<id or ms>`` answers 200
    ``text/event-stream`` once every channel's subscription is live, then
    sends one ``connected`` frame per channel, the events stored after each
    channel's ``last_ack`` (missing: none), then live events -- no gap, no
    duplicate. Every event frame's ``id:`` line is a cursor over all the
    connection's channels, so a plain ``EventSource`` resumes exactly through
    ``Last-Event-ID``, which wins over ``last_ack_*``.

    middleware:
        ``middleware(request, channels)``, sync or async: return None to
        allow, or an ASGI response (``Response(403, {...})``) to send
        instead. ``TokenAuth(secret)`` is one.
    cors_origins:
        origins whose pages may read the stream: a list of exact origins,
        or ``"*"``. Default None: same-origin only (no CORS headers).
    cors_credentials:
        allow ``withCredentials`` (cookies) from those origins.
    ping_interval:
        seconds between ``{"type":"ping"}`` frames (default 30; at most 60,
        the browser client reconnects after 75 s of silence).
    max_duration:
        seconds after which a stream gets a ``reconnect`` frame and is
        closed (default None: never); set it below a serverless host's
        request time limit.
    max_channels:
        channels one connection may ask for (default 32). It also bounds
        ``Last-Event-ID`` to the longest cursor of that many channels
        (``50 * max_channels - 1`` bytes; 431 beyond).
    max_replay:
        stored events one connection may replay (default 10 000). A client
        that missed more gets an ``{"type":"error"}`` frame saying which
        events were skipped, then live events; never a silent cut.
    max_connections:
        open streams per endpoint; more get 503 (default 10 000, None: no limit).
    retry_ms:
        if set, sent as the SSE ``retry`` field: the delay before the
        browser reconnects on its own (browser default ~3 s).
    shutdown_timeout:
        how long ``shutdown()`` waits for streams to end (default 5 s).
    close_on_signal:
        on SIGTERM/SIGINT, run ``shutdown()`` before the ASGI server's own
        handler (default True), so ``uvicorn app:app`` stops at once and
        every stream gets a ``reconnect`` frame; uvicorn alone would wait
        for the never-ending streams. Chained in front of the server's
        handler when the first stream opens, never replacing it.
    send_buffer:
        bytes a stream may queue under an ASGI server while its previous
        ``send`` is still in progress (default 64 KiB). Beyond it, the stream
        stops taking events (its feeds catch up from history once the client
        reads again) and leaves its channels' shared feeds. The native
        server's writes go straight to the socket and use its flow control.
    presence:
        ``presence(request, channel)``, sync or async, run after the
        middleware allowed the request: return ``(client_id, info)`` and the
        stream enters that channel's presence for its lifetime, or None to
        stay out of it (default: no presence). See docs/presence.md.
    presence_grace:
        seconds a closed stream stays present, so a reload or a reconnect
        is not a leave and a join (default: the Realtime's ``presence_ttl``).

    Refusals are JSON ``{"error": "..."}``: 400 (bad channel name, bad
    ``last_ack`` or ``Last-Event-ID``, too many channels), 431 (a
    ``Last-Event-ID`` over its bound), 405 (not GET), 401/403 (middleware),
    503 (too many streams, backend down, shutting down).
    """
    settings = StreamSettings(
        ping_interval=ping_interval,
        max_duration=max_duration,
        max_channels=max_channels,
        max_replay=max_replay,
        max_connections=max_connections,
        retry_ms=retry_ms,
        shutdown_timeout=shutdown_timeout,
        close_on_signal=close_on_signal,
        send_buffer=send_buffer,
    )
    cors = CorsPolicy(cors_origins, credentials=cors_credentials)
    stream_presence = None if presence is None else StreamPresence(realtime, presence, grace=presence_grace)
    return RealtimeEndpoint(
        realtime, middleware=middleware, cors=cors, settings=settings, presence=stream_presence
    )
