"""Prometheus metrics from the process's counters, built at scrape time (``tidings[metrics]``).

The hot path only bumps plain integers (``tidings._counters``); this
collector reads them when ``/metrics`` is scraped and describes them with
``prometheus_client``'s metric families. Nobody scraping costs nothing, and a
scrape costs one snapshot.

Every name starts with ``tidings_``; counters end in ``_total``, durations
are in seconds. The list, with what each counts, is in docs/operations.md.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, cast

from tidings._counters import BACKEND_GAUGE_NAMES, EMIT_BUCKETS
from tidings._extras import require_extra
from tidings.asgi import Response
from tidings.asgi._types import Receive, Scope, Send

from ._responses import answer

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric
    from prometheus_client.registry import Collector

Snapshot = dict[str, Any]

EXTRA_HINT = "pip install 'tidings[metrics]'"

# (snapshot field, metric name without _total, help)
_COUNTERS = (
    ("streams_opened", "tidings_streams_opened", "SSE streams opened."),
    ("deliveries", "tidings_deliveries", "Events written to SSE streams (one per event per stream)."),
    ("emits", "tidings_emits", "Events stored by emit and emit_many."),
    ("events_lost_notices", "tidings_events_lost_notices", "'Events lost' error frames sent to streams."),
    (
        "catch_ups",
        "tidings_catch_ups",
        "Slow consumers (a full feed queue, a tap member's full writer) that caught up from history.",
    ),
    (
        "feed_resets",
        "tidings_backend_resets",
        "Live feeds told that the backend's live feed was interrupted (each re-read history).",
    ),
    (
        "history_reads",
        "tidings_history_reads",
        "History pages read from the backend (replay, catch-up, history()).",
    ),
)
_GAUGES = (
    ("streams", "tidings_open_streams", "SSE streams open now."),
    ("subscriptions", "tidings_open_subscriptions", "Channel subscriptions of the open SSE streams."),
    ("taps", "tidings_open_taps", "Channel taps open now, under both servers (one shared feed each)."),
    ("tap_members", "tidings_tap_members", "SSE streams written by a channel tap now."),
)


def require_prometheus() -> None:
    """``ModuleNotFoundError`` naming the ``metrics`` extra if ``prometheus_client`` is missing."""
    require_extra("prometheus_client", "metrics", "serving Prometheus metrics")


class TidingsCollector:
    """A ``prometheus_client`` collector of ``snapshot()``'s numbers (``COUNTERS.snapshot`` or a sum)."""

    def __init__(self, snapshot: Callable[[], Snapshot], *, workers: Callable[[], int] | None = None) -> None:
        require_prometheus()
        self._snapshot = snapshot
        self._workers = workers

    def collect(self) -> Iterator[Metric]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

        values = self._snapshot()
        for field, name, text in _COUNTERS:
            yield CounterMetricFamily(name, text, value=values[field])
        for field, name, text in _GAUGES:
            yield GaugeMetricFamily(name, text, value=values[field])
        errors = CounterMetricFamily(
            "tidings_emit_errors", "Emits that raised, by exception type.", labels=["type"]
        )
        for kind, count in sorted(values["emit_errors"].items()):
            errors.add_metric([kind], count)
        yield errors
        refusals = CounterMetricFamily(
            "tidings_refusals", "Stream requests answered with an error, by HTTP status.", labels=["status"]
        )
        for status, count in sorted(values["refusals"].items()):
            refusals.add_metric([str(status)], count)
        yield refusals
        yield _emit_histogram(HistogramMetricFamily, values)
        for field, count in sorted(values["backend"].items()):
            name = f"tidings_backend_{field}"
            if field in BACKEND_GAUGE_NAMES:
                yield GaugeMetricFamily(name, f"The backend's {field} now.", value=count)
            else:
                yield CounterMetricFamily(name, f"The backend's {field} (see its stats()).", value=count)
        if self._workers is not None:
            yield GaugeMetricFamily(
                "tidings_workers", "Worker processes whose numbers are summed here.", value=self._workers()
            )


def _emit_histogram(family: Any, values: Snapshot) -> Metric:
    buckets: list[tuple[str, float]] = []
    running = 0
    for bound, count in zip((*EMIT_BUCKETS, float("inf")), values["emit_seconds_buckets"], strict=True):
        running += count
        buckets.append(("+Inf" if bound == float("inf") else repr(bound), running))
    metric: Metric = family(
        "tidings_emit_duration_seconds",
        "Time an emit (or emit_many) took, validation and the backend's append included.",
        buckets=buckets,
        sum_value=values["emit_seconds_sum"],
    )
    return metric


class MetricsEndpoint:
    """``GET /metrics``: the Prometheus text exposition of ``collector``."""

    def __init__(self, collector: TidingsCollector) -> None:
        self._collector = collector

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        body, content_type = exposition(self._collector)
        await answer(scope, receive, send, Response(200, body, media_type=content_type))


class MissingMetrics:
    """``/metrics`` of a server without ``prometheus_client``: 501 naming the extra to install."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        text = f"metrics need prometheus_client: {EXTRA_HINT}"
        await answer(scope, receive, send, Response(501, {"error": text}))


def exposition(collector: TidingsCollector) -> tuple[bytes, str]:
    """The text ``/metrics`` answers with, and its content type."""
    from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

    # A registry of our own: nothing else of the process's default registry is implied.
    registry = CollectorRegistry(auto_describe=False)
    # Duck-typed: prometheus_client's Collector base cannot be imported at module level here.
    registry.register(cast("Collector", collector))
    return generate_latest(registry), CONTENT_TYPE_LATEST
