"""The process's operating counters: plain integers, read by ``tidings.ops`` at scrape time.

Counting must cost the hot path nothing measurable, whether or not anyone
scrapes: so a count is one attribute increment on one shared object, made
once per batch (``deliveries += len(batch)``) rather than once per event,
and nothing here knows Prometheus. ``tidings.ops`` (with the ``metrics``
extra) turns a ``snapshot()`` into Prometheus metrics when ``/metrics`` is
read, and sums the snapshots of a server's workers.

The counters are per process, like a Prometheus client's default registry:
every ``Realtime`` and endpoint of the process adds to the same ones.
"""

from __future__ import annotations

import weakref
from bisect import bisect_left
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._backend import Backend

# Upper bounds (seconds) of the emit latency histogram's buckets: a memory
# emit is microseconds, a Redis round trip a fraction of a millisecond, a
# struggling Redis seconds.
EMIT_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)

COUNTER_NAMES = (
    "streams_opened",  # SSE streams opened since start
    "deliveries",  # events written to SSE streams (one per event per stream)
    "emits",  # events stored by emit / emit_many
    "events_lost_notices",  # "events lost" error frames sent to streams
    "catch_ups",  # slow consumers (a full feed queue, a tap member's full socket) caught up from history
    "feed_resets",  # live feeds told the backend's live feed was interrupted (they re-read history)
    "history_reads",  # history pages read from the backend (replay, catch-up, history())
)
GAUGE_NAMES = (
    "streams",  # SSE streams open now
    "subscriptions",  # channels those streams are subscribed to
    "taps",  # channel taps open now (both servers)
    "tap_members",  # streams written by a tap now
)
# Fields of a backend's ``stats()`` that are levels, not counts.
BACKEND_GAUGE_NAMES = ("pubsub_connections", "channels")


class Counters:
    """One process's counts; every field is an ``int`` bumped in place by the code that counts."""

    __slots__ = (
        *COUNTER_NAMES,
        *GAUGE_NAMES,
        "backends",
        "emit_errors",
        "emit_seconds_buckets",
        "emit_seconds_count",
        "emit_seconds_sum",
        "refusals",
    )

    def __init__(self) -> None:
        self.streams_opened = 0
        self.deliveries = 0
        self.emits = 0
        self.events_lost_notices = 0
        self.catch_ups = 0
        self.feed_resets = 0
        self.history_reads = 0
        self.streams = 0
        self.subscriptions = 0
        self.taps = 0
        self.tap_members = 0
        self.emit_errors: dict[str, int] = {}  # by exception class name
        self.refusals: dict[int, int] = {}  # stream requests refused, by HTTP status
        # Not cumulative here: one count per bucket, the last for "above every bound".
        self.emit_seconds_buckets = [0] * (len(EMIT_BUCKETS) + 1)
        self.emit_seconds_count = 0
        self.emit_seconds_sum = 0.0
        # The backends in use, for their own counters (a Redis backend's reconnects...).
        self.backends: weakref.WeakSet[Backend] = weakref.WeakSet()

    def emitted(self, events: int, seconds: float) -> None:
        """One emit call stored ``events`` events in ``seconds``."""
        self.emits += events
        self.emit_seconds_buckets[bisect_left(EMIT_BUCKETS, seconds)] += 1
        self.emit_seconds_count += 1
        self.emit_seconds_sum += seconds

    def emit_failed(self, error: BaseException) -> None:
        name = type(error).__name__
        self.emit_errors[name] = self.emit_errors.get(name, 0) + 1

    def refused(self, status: int) -> None:
        self.refusals[status] = self.refusals.get(status, 0) + 1

    def snapshot(self) -> dict[str, Any]:
        """Every count now, as JSON-ready values (the form workers exchange)."""
        values: dict[str, Any] = {name: getattr(self, name) for name in (*COUNTER_NAMES, *GAUGE_NAMES)}
        values["emit_errors"] = dict(self.emit_errors)
        values["refusals"] = {str(status): count for status, count in self.refusals.items()}
        values["emit_seconds_buckets"] = list(self.emit_seconds_buckets)
        values["emit_seconds_count"] = self.emit_seconds_count
        values["emit_seconds_sum"] = self.emit_seconds_sum
        values["backend"] = self._backend_counts()
        return values

    def _backend_counts(self) -> dict[str, int]:
        """The sum of every backend's ``stats()`` (backends without one count nothing)."""
        totals: dict[str, int] = {}
        for backend in list(self.backends):
            stats = getattr(backend, "stats", None)
            if not callable(stats):
                continue
            for name, value in stats().items():
                if isinstance(value, int):
                    totals[name] = totals.get(name, 0) + value
        return totals


COUNTERS = Counters()
"""This process's counters."""
