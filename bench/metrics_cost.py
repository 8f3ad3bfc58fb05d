"""The fan-out with metrics off and on, in the same run: what counting and scraping cost.

* **off**: the server runs this commit's tidings (``git archive HEAD``) with
  every counting statement taken out (``strip_counting``: each ``COUNTERS.x
  += ...`` or ``COUNTERS.f(...)`` becomes ``pass``, keeping a call it
  wraps), so the two differ by counting alone. Counting cannot be switched off
  at run time -- a switch would cost what it saves -- so "off" is the code
  without it. ``BENCH_METRICS_BASE=<revision>`` runs that revision as it is
  instead (e.g. the commit before metrics came in).
* **on**: this tree's tidings, serving ``/metrics``, scraped every
  ``bench.sse.SCRAPE_SECONDS`` during every step (Prometheus' default is 15 s).

Both run the existing fan-out (``bench.sse.fanout``: same ladder, same load
generators, same saturation rule), interleaved run by run; the row is the
ratio of median peaks, on/off. Target: at least 0.95.
"""

from __future__ import annotations

import os
import re
import subprocess
import tarfile
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from bench._common import ROOT, median


def base_revision() -> str | None:
    """``BENCH_METRICS_BASE``, or None: this commit with counting stripped."""
    return os.environ.get("BENCH_METRICS_BASE") or None


# A counting statement on a line of its own; the deliveries of a tap wrap the write itself.
_WRAPPED = re.compile(r"^(\s*)COUNTERS\.\w+ \+= (self\._write_all\(.*\)) \* len\(item\)$")
_COUNTING = re.compile(r"^(\s*)COUNTERS\.[\w.]+(\s*[+-]= .*|\(.*\))$")


def strip_counting(src: Path) -> int:
    """Replace every counting statement under ``src/tidings`` by ``pass``; how many were.

    Refuses (RuntimeError) if any use of ``COUNTERS`` is left outside the
    counters module and ``tidings.ops``: "off" would not be off.
    """
    stripped = 0
    for path in (src / "tidings").rglob("*.py"):
        if path.name == "_counters.py" or "ops" in path.relative_to(src / "tidings").parts[:1]:
            continue
        lines = path.read_text().split("\n")
        for index, line in enumerate(lines):
            wrapped = _WRAPPED.match(line)
            counting = _COUNTING.match(line)
            if wrapped:
                lines[index] = f"{wrapped.group(1)}{wrapped.group(2)}"
            elif counting:
                lines[index] = f"{counting.group(1)}pass"
            elif "COUNTERS" in line and "import" not in line:
                raise RuntimeError(f"{path}:{index + 1}: a use of COUNTERS strip_counting does not know")
            else:
                continue
            stripped += 1
        path.write_text("\n".join(lines))
    return stripped


@contextmanager
def source_of(revision: str | None) -> Iterator[Path]:
    """The ``src`` directory of ``revision`` (None: HEAD, counting stripped), in a temporary directory."""
    with tempfile.TemporaryDirectory(prefix="tidings-base-") as directory:
        archive = Path(directory) / "src.tar"
        subprocess.run(
            ["git", "archive", "--format=tar", f"--output={archive}", revision or "HEAD", "src"],
            cwd=ROOT, check=True,
        )  # fmt: skip
        with tarfile.open(archive) as tar:
            tar.extractall(directory, filter="data")
        src = Path(directory) / "src"
        if revision is None:
            strip_counting(src)
        yield src


def metrics_cost(
    conns: int, configs: list[int], runs: int, seconds: float, ladder: list[float], log: Callable[[str], None]
) -> list[tuple[str, str, float, float, int, float, float]]:
    """Per stack and channel count: ``(stack, where, median peak off, median peak on, scrapes,
    server CPU µs per delivery off, on)``.

    The CPU figure is the median over every unsaturated step of 100 k deliveries/s or more:
    at the peak the load generators may be the limit, so the peaks alone could hide a cost.
    """
    from bench import sse

    revision = base_revision()
    results = []
    with source_of(revision) as base:
        off, on = sse.Variant(source=base), sse.Variant(metrics=True)
        for channels in configs:
            for stack in ("tidings", "native"):
                peaks: dict[bool, list[float]] = {False: [], True: []}
                cpu: dict[bool, list[float]] = {False: [], True: []}
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
                        cpu[metrics] += [
                            step.server_cpu / step.delivered * 1e6
                            for step in run.steps
                            if step.requested >= 100_000 and not step.saturated and step.delivered
                        ]
                        scrapes += run.scrapes
                        log(
                            f"fanout-metrics {stack} {conns}x{channels} run {index + 1} "
                            f"metrics {'on' if metrics else 'off'}: peak {peak:,.0f}/s"
                        )
                where = "one hot channel" if channels == 1 else f"{channels} channels"
                results.append(
                    (
                        stack,
                        where,
                        median(peaks[False]),
                        median(peaks[True]),
                        scrapes,
                        median(cpu[False]) if cpu[False] else float("nan"),
                        median(cpu[True]) if cpu[True] else float("nan"),
                    )
                )
    log(f"fanout-metrics: 'off' ran tidings from {revision or 'HEAD with counting stripped'}")
    return results
