"""Liveness and readiness: ``GET /healthz`` and ``GET /readyz`` as plain ASGI apps.

* ``/healthz`` answers 200 whenever the process serves requests at all: a
  load balancer or a Kubernetes liveness probe restarts a process that stops
  answering it. It never touches the backend (a Redis outage must not get
  every server restarted).
* ``/readyz`` answers 200 only while the backend answers a cheap round trip
  (``Backend.ping``: nothing for the memory backend, ``PING`` to every Redis
  primary in use) within ``timeout`` seconds, and the server is not shutting
  down; otherwise 503 with ``{"ready": false, "reason": ...}``, so traffic
  goes to another instance until this one can serve streams again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING

from tidings._checks import positive_seconds
from tidings._exceptions import ClosedError, TidingsError
from tidings.asgi import Response
from tidings.asgi._types import Receive, Scope, Send

from ._responses import answer

if TYPE_CHECKING:
    from tidings._realtime import Realtime

DEFAULT_READY_TIMEOUT = 1.0


def never() -> bool:
    """Not shutting down (the default when nothing says otherwise)."""
    return False


class Liveness:
    """``GET /healthz``: 200 ``{"ok": true}`` while the process serves."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await answer(scope, receive, send, Response(200, {"ok": True}))


class Readiness:
    """``GET /readyz``: 200 while ``realtime``'s backend answers and nothing is shutting down; else 503.

    ``shutting_down`` is asked first on every request (``ServerApp`` passes
    its own state); ``timeout`` bounds the backend's round trip.
    """

    def __init__(
        self,
        realtime: Realtime,
        *,
        timeout: float = DEFAULT_READY_TIMEOUT,
        shutting_down: Callable[[], bool] = never,
    ) -> None:
        self._realtime = realtime
        self._timeout = positive_seconds("ready_timeout", timeout)
        self._shutting_down = shutting_down

    async def check(self) -> str | None:
        """Why the server is not ready now, or None if it is."""
        if self._shutting_down():
            return "the server is shutting down"
        try:
            async with asyncio.timeout(self._timeout):
                await self._realtime.backend.ping()
        except TimeoutError:
            return f"the event backend did not answer within {self._timeout:g} s (ready_timeout)"
        except ClosedError:
            return "the event backend was closed"
        except TidingsError as exc:
            return f"the event backend is unavailable: {exc}"
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        reason = await self.check()
        if reason is None:
            response = Response(200, {"ready": True})
        else:
            response = Response(503, {"ready": False, "reason": reason})
        await answer(scope, receive, send, response)
