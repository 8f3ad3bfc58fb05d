"""``WorkerShare``: the sum over a multi-worker server's snapshots, with files of real processes.

(The end-to-end sum over two real workers is in tests/cli/test_serve_metrics.py;
here every case of the arithmetic, deterministically.)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tidings._counters import COUNTERS, EMIT_BUCKETS
from tidings.ops import WorkerShare


def other_worker(**values: Any) -> dict[str, Any]:
    """A snapshot another worker could have written: every field zero but ``values``."""
    snapshot = {name: 0 for name in COUNTERS.snapshot() if name not in ("emit_errors", "refusals", "backend")}
    snapshot.update(
        emit_errors={}, refusals={}, backend={}, emit_seconds_buckets=[0] * (len(EMIT_BUCKETS) + 1)
    )
    snapshot.update(values)
    return snapshot


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_the_sum_adds_live_and_exited_workers_and_drops_exited_gauges(tmp_path: Path) -> None:
    buckets = [0] * (len(EMIT_BUCKETS) + 1)
    buckets[2] = 5
    alive = other_worker(
        deliveries=100, streams=7, emit_errors={"InvalidDataError": 2}, refusals={"400": 1},
        emit_seconds_buckets=buckets, emit_seconds_count=5, emit_seconds_sum=0.01,
        backend={"reconnects": 1, "pubsub_connections": 1},
    )  # fmt: skip
    exited = other_worker(
        deliveries=10, streams=3, refusals={"400": 2, "503": 1}, backend={"pubsub_connections": 1}
    )
    (tmp_path / f"{os.getppid()}.json").write_text(json.dumps(alive))
    (tmp_path / f"{dead_pid()}.json").write_text(json.dumps(exited))
    (tmp_path / "stray.json").write_text("not ours")  # ignored: not a pid
    share = WorkerShare(tmp_path)
    mine = COUNTERS.snapshot()
    total = share.combined()
    assert total["deliveries"] == mine["deliveries"] + 110
    # An exited worker's streams are gone; its counts stay.
    assert total["streams"] == mine["streams"] + 7
    assert total["backend"]["pubsub_connections"] == mine["backend"].get("pubsub_connections", 0) + 1
    assert total["backend"]["reconnects"] == mine["backend"].get("reconnects", 0) + 1
    assert total["emit_errors"]["InvalidDataError"] == mine["emit_errors"].get("InvalidDataError", 0) + 2
    assert total["refusals"]["400"] == mine["refusals"].get("400", 0) + 3
    assert total["refusals"]["503"] == mine["refusals"].get("503", 0) + 1
    assert total["emit_seconds_buckets"][2] == mine["emit_seconds_buckets"][2] + 5
    assert total["emit_seconds_count"] == mine["emit_seconds_count"] + 5
    assert share.workers() == 2  # this one and the live one


async def test_a_worker_publishes_and_leaves_its_counts_with_gauges_zeroed(tmp_path: Path) -> None:
    share = WorkerShare(tmp_path, interval=0.01)
    await share.start()
    own = tmp_path / f"{os.getpid()}.json"
    assert json.loads(own.read_text())["deliveries"] == COUNTERS.deliveries
    COUNTERS.streams += 1
    try:
        await share.stop()
        final = json.loads(own.read_text())
    finally:
        COUNTERS.streams -= 1
    assert final["streams"] == 0
    assert final["deliveries"] == COUNTERS.deliveries
    assert temporary_files(tmp_path) == []


def temporary_files(directory: Path) -> list[Path]:
    return list(directory.glob("*.tmp"))
