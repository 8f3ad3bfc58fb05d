"""The native server: the SSE endpoint served from an ``asyncio.Protocol``, no ASGI server in the data path.

::

    from tidings.native import serve_native

    server = await serve_native(realtime, "0.0.0.0", 8000, path="/api/realtime")
    await server.serve_forever()

Needs httptools (``pip install 'tidings[server]'``). ``tidings.asgi``
re-exports ``serve_native`` and ``NativeServer`` lazily, so importing
``tidings.asgi`` never needs it.
"""

from __future__ import annotations

from ._server import NativeServer, serve_native

__all__ = ["NativeServer", "serve_native"]
