"""The fan-out with metrics off and on, in the same run: what counting and scraping cost.

* **off**: the server runs tidings as it was before metrics existed: the
  source of ``BENCH_METRICS_BASE`` (default: the parent of the commit that
  added ``src/tidings/_counters.py``), exported with ``git archive``. Counting
  cannot be switched off at run time -- a switch would cost what it saves --
  so "off" is the code without it.
* **on**: this tree's tidings, serving ``/metrics``, scraped every
  ``bench.sse.SCRAPE_SECONDS`` during every step (Prometheus' default is 15 s).

Both run the existing fan-out (``bench.sse.fanout``: same ladder, same load
generators, same saturation rule), interleaved run by run; the row is the
ratio of median peaks, on/off. Target: at least 0.95.
"""

from __future__ import annotations

import os
import subprocess
import tarfile
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from bench._common import ROOT, median

COUNTERS_MODULE = "src/tidings/_counters.py"


def base_revision() -> str:
    """``BENCH_METRICS_BASE``, or the commit just before metrics came in."""
    chosen = os.environ.get("BENCH_METRICS_BASE")
    if chosen:
        return chosen
    added = subprocess.run(
        ["git", "log", "--diff-filter=A", "--format=%H", "--", COUNTERS_MODULE],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    if not added:
        raise RuntimeError(f"no commit added {COUNTERS_MODULE}; set BENCH_METRICS_BASE")
    return f"{added[-1]}^"


@contextmanager
def source_of(revision: str) -> Iterator[Path]:
    """The ``src`` directory of ``revision``, exported to a temporary directory."""
    with tempfile.TemporaryDirectory(prefix="tidings-base-") as directory:
        archive = Path(directory) / "src.tar"
        subprocess.run(
            ["git", "archive", "--format=tar", f"--output={archive}", revision, "src"], cwd=ROOT, check=True
        )
        with tarfile.open(archive) as tar:
            tar.extractall(directory, filter="data")
        yield Path(directory) / "src"


def metrics_cost(
    conns: int, configs: list[int], runs: int, seconds: float, ladder: list[float], log: Callable[[str], None]
) -> list[tuple[str, str, float, float, int]]:
    """``(stack, where, median peak off, median peak on, scrapes)`` per stack and channel count."""
    from bench import sse

    revision = base_revision()
    results = []
    with source_of(revision) as base:
        off, on = sse.Variant(source=base), sse.Variant(metrics=True)
        for channels in configs:
            for stack in ("tidings", "native"):
                peaks: dict[bool, list[float]] = {False: [], True: []}
                scrapes = 0
                for index in range(runs):
                    # Alternate which goes first, so drift of the machine does not favour one.
                    for metrics in (False, True) if index % 2 == 0 else (True, False):
                        run = sse.fanout(
                            stack,
                            conns,
                            channels,
                            ladder,
                            seconds,
                            freeze=True,
                            variant=on if metrics else off,
                        )
                        peak = max(step.delivered if not step.lost else 0 for step in run.steps)
                        peaks[metrics].append(peak)
                        scrapes += run.scrapes
                        log(
                            f"fanout-metrics {stack} {conns}x{channels} run {index + 1} "
                            f"metrics {'on' if metrics else 'off'}: peak {peak:,.0f}/s"
                        )
                where = "one hot channel" if channels == 1 else f"{channels} channels"
                results.append((stack, where, median(peaks[False]), median(peaks[True]), scrapes))
    log(f"fanout-metrics: 'off' ran tidings from {revision}")
    return results
