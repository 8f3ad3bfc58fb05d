"""``connect()``: the entry point of the remote client."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import httpx

from tidings import DEFAULT_CHANNEL

from ._stream import ErrorHandler, Position, RemoteStream


def connect(
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
) -> RemoteStream:
    """Stream channels of a remote SSE endpoint::

        async with tidings.client.connect(url, channels=["chat"]) as stream:
            async for message in stream:
                print(message.event, message.data)

    last_ack:
        where to start: an event id (deliver what follows it) or a Unix ms
        timestamp (what was stored after it), for all channels or as a
        ``{channel: position}`` dict. Default: from now.
    events:
        deliver only these event names (filtered here, like the browser client).
    params / headers:
        extra query parameters (an access ``token``) and request headers.
    reconnect, max_attempts, min_backoff, max_backoff:
        dropped streams reconnect and resume with no gap and no duplicate,
        after a backoff doubling from ``min_backoff`` to ``max_backoff``
        seconds; ``max_attempts`` consecutive failures raise
        ``ConnectionFailedError`` (default: keep trying). A 4xx answer
        raises ``ConnectionRejectedError`` at once.
    idle_timeout:
        reconnect when nothing (not even a ping) arrived for this long.
    on_error:
        receives the endpoint's ``error`` frames; without it they are raised
        from the iteration as ``RemoteError`` (the stream stays usable).
    http_client:
        an ``httpx.AsyncClient`` to use (and not close); default: a new one.
    """
    return RemoteStream(
        url,
        channels=channels,
        last_ack=last_ack,
        events=events,
        params=params,
        headers=headers,
        reconnect=reconnect,
        max_attempts=max_attempts,
        min_backoff=min_backoff,
        max_backoff=max_backoff,
        idle_timeout=idle_timeout,
        connect_timeout=connect_timeout,
        on_error=on_error,
        http_client=http_client,
    )
