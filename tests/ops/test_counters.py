"""The process counters behind ``/metrics``: their snapshot and the emit histogram's buckets."""

from __future__ import annotations

from tidings._counters import COUNTER_NAMES, EMIT_BUCKETS, GAUGE_NAMES, Counters


def test_the_snapshot_has_every_name_and_is_independent_of_later_counts() -> None:
    counters = Counters()
    counters.deliveries += 3
    counters.refused(400)
    counters.emit_failed(ValueError("x"))
    snapshot = counters.snapshot()
    assert set(COUNTER_NAMES) | set(GAUGE_NAMES) <= set(snapshot)
    assert snapshot["deliveries"] == 3
    assert snapshot["refusals"] == {"400": 1}
    assert snapshot["emit_errors"] == {"ValueError": 1}
    counters.refused(400)
    assert snapshot["refusals"] == {"400": 1}


def test_an_emit_lands_in_the_first_bucket_whose_bound_holds_it() -> None:
    counters = Counters()
    counters.emitted(1, EMIT_BUCKETS[0])  # a bound is inclusive (Prometheus' "le")
    counters.emitted(1, EMIT_BUCKETS[0] * 1.01)
    counters.emitted(1, EMIT_BUCKETS[-1] * 2)
    assert counters.emit_seconds_buckets[0] == 1
    assert counters.emit_seconds_buckets[1] == 1
    assert counters.emit_seconds_buckets[-1] == 1
    assert counters.emit_seconds_count == 3
    assert counters.emits == 3
