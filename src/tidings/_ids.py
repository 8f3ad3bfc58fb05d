"""Event ids in the Redis Streams form ``"<unix-ms>-<seq>"``.

Every backend produces ids of this shape so that they are interchangeable and
the ``@upstash/realtime`` browser client accepts them (it drops any id that
does not match ``^\\d+-\\d+$``). Ids order by ``(ms, seq)`` as integers, never
as strings: ``"9-0" < "10-0"``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable

from ._exceptions import InvalidArgumentError

IdKey = tuple[int, int]
"""An id parsed for comparison: ``(milliseconds, sequence)``."""

MAX_PART = 2**64 - 1  # Redis stream ids are two unsigned 64-bit integers.
MIN_KEY: IdKey = (0, 0)
MAX_KEY: IdKey = (MAX_PART, MAX_PART)

# [0-9], not \d: \d and int() also take other scripts' digits ("\u0661" is 1).
_ID_RE = re.compile(r"\A([0-9]{1,20})-([0-9]{1,20})\Z")


def parse_id(value: str, *, argument: str = "id") -> IdKey:
    """Parse ``"<ms>-<seq>"``: ASCII digits, each part below 2**64.

    Raises ``InvalidArgumentError`` naming ``argument``.
    """
    match = _ID_RE.match(value) if isinstance(value, str) else None
    if match is None:
        raise InvalidArgumentError(argument, f"{value!r} is not an event id of the form '<ms>-<seq>'")
    ms, seq = int(match[1]), int(match[2])
    if ms > MAX_PART or seq > MAX_PART:
        raise InvalidArgumentError(argument, f"{value!r} is out of range (64-bit parts)")
    return ms, seq


def format_id(key: IdKey) -> str:
    return f"{key[0]}-{key[1]}"


def now_ms() -> int:
    return time.time_ns() // 1_000_000


class IdClock:
    """Hands out strictly increasing ids for one channel.

    Like Redis' ``XADD *``: the wall clock in ms, with a sequence that counts up
    while the clock stands still -- and also while it steps back, so a clock
    adjustment never produces an id lower than one already handed out.
    """

    __slots__ = ("_clock", "_last")

    def __init__(self, last: IdKey = MIN_KEY, clock: Callable[[], int] = now_ms) -> None:
        self._last = last
        self._clock = clock

    @property
    def last(self) -> IdKey:
        return self._last

    def next(self) -> IdKey:
        ms = self._clock()
        last_ms, last_seq = self._last
        key = (last_ms, last_seq + 1) if ms <= last_ms else (ms, 0)
        self._last = key
        return key
