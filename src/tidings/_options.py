"""Checking history options and turning millisecond bounds into id bounds.

Bounds are inclusive on both sides: ``start=T`` includes events stored at
millisecond ``T`` (ids ``T-0`` and up), ``end=T`` includes every event of
millisecond ``T`` (ids up to ``T-<max>``). That is what ``XRANGE T T`` does in
Redis, which the original ``@upstash/realtime`` passes the bounds to.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ._exceptions import InvalidArgumentError
from ._ids import MAX_PART, IdKey, parse_id


@dataclass(frozen=True, slots=True)
class HistoryQuery:
    limit: int
    start: IdKey | None
    end: IdKey | None
    after: IdKey | None


def history_query(*, limit: object, start: object, end: object, after: object, cap: int) -> HistoryQuery:
    checked_limit = check_limit(limit, cap)
    start_ms = _check_ms("start", start)
    end_ms = _check_ms("end", end)
    if start_ms is not None and end_ms is not None and start_ms > end_ms:
        raise InvalidArgumentError("start", f"start ({start_ms}) is after end ({end_ms})")
    after_key = check_cursor(after)
    if after_key is not None and start_ms is not None:
        raise InvalidArgumentError("after", "give either after (an id) or start (ms), not both")
    return HistoryQuery(
        limit=checked_limit,
        start=None if start_ms is None else (start_ms, 0),
        end=None if end_ms is None else (end_ms, MAX_PART),
        after=after_key,
    )


def check_limit(limit: object, cap: int) -> int:
    """``limit`` must be a positive int; values above ``cap`` are capped to it."""
    if limit is None:
        return cap
    if isinstance(limit, bool) or not isinstance(limit, int):
        raise InvalidArgumentError("limit", f"must be an int, got {type(limit).__name__}")
    if limit < 1:
        raise InvalidArgumentError("limit", f"must be at least 1, got {limit}")
    return min(limit, cap)


def check_cursor(after: object) -> IdKey | None:
    if after is None:
        return None
    if not isinstance(after, str):
        raise InvalidArgumentError("after", f"must be an event id str, got {type(after).__name__}")
    return parse_id(after, argument="after")


def subscribe_history(history: object, cap: int) -> tuple[int, IdKey | None] | None:
    """``history=True`` or ``{"limit": n, "start": ms}`` -> ``(limit, start key)``.

    ``end`` is refused: a replay that stops before now and then goes live
    would leave exactly the gap that subscribe-with-history exists to avoid.
    """
    if history is None or history is False:
        return None
    if history is True:
        return cap, None
    if not isinstance(history, Mapping):
        raise InvalidArgumentError(
            "history", f"must be True, False or a dict with limit/start, got {history!r}"
        )
    options: Mapping[str, Any] = history
    for key in options:
        if key == "end":
            raise InvalidArgumentError(
                "history.end",
                "not allowed when subscribing: the replay always runs up to now; "
                "use channel.history(end=...) for a closed window",
            )
        if key not in ("limit", "start"):
            raise InvalidArgumentError(f"history.{key}", "unknown option; allowed: limit, start")
    limit = check_limit(options.get("limit"), cap)
    start_ms = _check_ms("history.start", options.get("start"))
    return limit, None if start_ms is None else (start_ms, 0)


def _check_ms(name: str, value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidArgumentError(name, f"must be an int of Unix milliseconds, got {type(value).__name__}")
    if value < 0 or value > MAX_PART:
        raise InvalidArgumentError(name, f"must be between 0 and 2**64-1 ms, got {value}")
    return value
