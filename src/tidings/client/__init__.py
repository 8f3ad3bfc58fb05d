"""A Python client for SSE endpoints that speak the ``@upstash/realtime`` protocol.

::

    import tidings.client

    async with tidings.client.connect("https://app.example.com/api/realtime",
                                      channels=["orders"]) as stream:
        async for message in stream:
            print(message.id, message.event, message.data)

Reconnects by itself and resumes every channel with no gap and no duplicate.
Needs ``pip install 'tidings[client]'`` (httpx).
"""

from tidings._extras import require_extra

require_extra("httpx", "client", "tidings.client")

from ._connect import connect  # noqa: E402
from ._errors import ClientError, ConnectionFailedError, ConnectionRejectedError, RemoteError  # noqa: E402
from ._sse import ServerEvent, SSEParser  # noqa: E402
from ._stream import RemoteStream  # noqa: E402

__all__ = [
    "ClientError",
    "ConnectionFailedError",
    "ConnectionRejectedError",
    "RemoteError",
    "RemoteStream",
    "SSEParser",
    "ServerEvent",
    "connect",
]
