"""A connection's one deadline that moves on every request, backed by one timer re-armed lazily.

A kept-alive connection moves its deadline twice per request: the request's
``request_timeout`` when it starts to arrive, none while it is served, then
``keepalive_timeout`` for the next one. Cancelling a timer and arming a new
one each time costs ~1 us (``call_later`` + ``cancel`` on uvloop, measured),
twice per request, on a JSON API request of ~50 us CPU in all. So moving
the deadline only stores a time: the timer that is armed stays, and when it
fires before the deadline (the deadline moved later), it is armed again for
the rest. A busy connection re-arms about once per
``keepalive_timeout``. Only a deadline earlier than the armed timer arms
a new one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

# A timer may fire this much before its time (uvloop counts in milliseconds):
# due all the same, rather than re-armed for less than the clock can tell.
_SLACK = 0.001


class Deadline:
    """Call ``action`` once ``seconds`` have passed since ``set``, unless ``clear``ed or ``set`` again."""

    __slots__ = ("_action", "_armed", "_loop", "_timer", "_when")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._timer: asyncio.TimerHandle | None = None
        # When the armed timer fires; when the deadline is and what it does (None: no deadline).
        self._armed = 0.0
        self._when: float | None = None
        self._action: Callable[[], object] | None = None

    @property
    def pending(self) -> bool:
        return self._when is not None

    def set(self, seconds: float, action: Callable[[], object]) -> None:
        """From now on, ``action`` runs in ``seconds`` (replacing any deadline set before)."""
        when = self._loop.time() + seconds
        self._when, self._action = when, action
        if self._timer is None or when < self._armed:
            self._arm(when)

    def clear(self) -> None:
        """No deadline; an armed timer is left to fire and find nothing to do (cheaper than cancelling)."""
        self._when = self._action = None

    def close(self) -> None:
        """No deadline, and no timer: nothing keeps the owner alive any more."""
        self.clear()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _arm(self, when: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._armed = when
        self._timer = self._loop.call_at(when, self._fired)

    def _fired(self) -> None:
        self._timer = None
        when, action = self._when, self._action
        if when is None or action is None:
            return
        if self._loop.time() < when - _SLACK:
            self._arm(when)  # the deadline moved later since this timer was armed
            return
        self._when = self._action = None
        action()
