"""``tidings demo``: a chat room, a background job and a live event log in one page.

The page (``static/``) talks to three things: the SSE endpoint, through the
small browser client ``static/tidings.js``; ``/demo/*`` routes that emit
schema-checked events (``_app.py``); and jobs that report progress on
their own channel (``_jobs.py``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._app import PRESENCE_GRACE, DemoSite
from ._schema import DEMO_SCHEMA

if TYPE_CHECKING:
    from tidings._backend import Backend
    from tidings._realtime import Realtime

# Enough for a room's scroll-back and a job's whole run; old demo rooms fade away.
MAX_LENGTH = 1000
EXPIRE_AFTER_SECS = 24 * 3600


def demo_realtime(*, redis: str | None = None, backend: Backend | None = None) -> Realtime:
    """A ``Realtime`` with the demo's schema, on ``redis``, a shared ``backend``, or in memory."""
    from tidings._realtime import Realtime

    return Realtime(
        schema=DEMO_SCHEMA,
        redis=redis,
        backend=backend,
        max_length=MAX_LENGTH,
        expire_after_secs=EXPIRE_AFTER_SECS,
    )


__all__ = ["DEMO_SCHEMA", "PRESENCE_GRACE", "DemoSite", "demo_realtime"]
