"""Closing streams when the ASGI server is told to stop (SIGTERM, SIGINT).

uvicorn's graceful shutdown waits for every open response to end, and only
then sends the lifespan ``shutdown`` event (which Starlette does not forward
to a mounted app anyway). An SSE stream never ends by itself, so under plain
``uvicorn app:app`` a SIGTERM used to wait forever, and the streams never got
their ``reconnect`` frame.

So an endpoint, when it serves its first stream, puts one process-wide
handler in front of the server's own handler for those signals: on a signal
it starts ``shutdown()`` of every endpoint that registered (each on its own
event loop: ``reconnect`` frames, streams closed), then calls the server's
handler as before, and the server's shutdown finds nothing left to wait for.

Nothing is chained off the main thread, nor where no Python handler is
installed (``SIG_DFL``, ``SIG_IGN``: no server is doing a graceful shutdown
there). A server that installs its handlers again later (uvicorn restores
the previous ones when it stops) is chained again on the next stream.
This is a chain, not a patch of the server: the server's handler always
runs, unchanged, right after.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
import weakref
from collections.abc import Callable
from types import FrameType
from typing import Any

SIGNALS = (signal.SIGINT, signal.SIGTERM)

Handler = Callable[[int, FrameType | None], Any]

# Each endpoint's "start shutting down" method, held weakly, with the loop it serves on.
_registered: dict[int, tuple[weakref.WeakMethod[Callable[[], object]], asyncio.AbstractEventLoop]] = {}


class _Chain:
    """The handler in front of the server's: begin every endpoint's shutdown, then ``previous``."""

    def __init__(self, previous: Handler) -> None:
        self.previous = previous

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        for key, (method, loop) in list(_registered.items()):
            begin = method()
            if begin is None or loop.is_closed():
                _registered.pop(key, None)
                continue
            with contextlib.suppress(RuntimeError):  # the loop closed just now
                loop.call_soon_threadsafe(begin)
        self.previous(signum, frame)


def close_on_signal(begin_shutdown: Callable[[], object], loop: asyncio.AbstractEventLoop) -> None:
    """Call ``begin_shutdown`` on ``loop`` when the process gets SIGINT or SIGTERM (see above).

    ``begin_shutdown`` is a bound method, held weakly: a dropped endpoint is
    forgotten. Cheap to call again: a registered method and an installed
    chain are left as they are.
    """
    key = id(begin_shutdown.__self__)  # type: ignore[attr-defined]
    entry = _registered.get(key)
    # A dead entry under a reused id, or the same endpoint now serving on another loop.
    if entry is None or entry[0]() is None or entry[1] is not loop:
        for dead in [k for k, (method, _) in _registered.items() if method() is None]:
            del _registered[dead]
        _registered[key] = (weakref.WeakMethod(begin_shutdown), loop)
    if threading.current_thread() is not threading.main_thread():
        return
    for sig in SIGNALS:
        current = signal.getsignal(sig)
        if isinstance(current, _Chain) or not callable(current):
            continue
        signal.signal(sig, _Chain(current))
