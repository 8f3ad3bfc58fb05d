"""The sum over a multi-worker server's processes: each worker's counters in a shared directory.

Per-worker aggregation, not ``prometheus_client``'s multiprocess mode: that
mode keeps every metric in a memory-mapped file and writes it on every
increment, which would put a file write behind every counted batch; and it
cannot describe counts kept as plain integers. Here each worker writes a
snapshot of its counters (``tidings._counters``) to ``<dir>/<pid>.json``
every ``interval`` seconds and when it stops, and the worker that is scraped
answers with its own live numbers plus every other worker's last snapshot.

So another worker's numbers are at most ``interval`` old. A worker that
exited keeps its file: its counters stay in the sum (a counter never goes
down because a worker was replaced), its gauges (open streams...) count zero.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tidings._checks import positive_seconds
from tidings._counters import BACKEND_GAUGE_NAMES, COUNTERS, GAUGE_NAMES

from ._metrics import Snapshot

logger = logging.getLogger("tidings.ops")

DEFAULT_SHARE_INTERVAL = 1.0


class WorkerShare:
    """This worker's snapshots in ``directory``, and the sum over every worker's."""

    def __init__(
        self, directory: str | os.PathLike[str], *, interval: float = DEFAULT_SHARE_INTERVAL
    ) -> None:
        self._directory = Path(directory)
        self._interval = positive_seconds("metrics_interval", interval)
        self._pid = os.getpid()
        self._task: asyncio.Task[None] | None = None

    @property
    def _own(self) -> Path:
        return self._directory / f"{self._pid}.json"

    async def start(self) -> None:
        """Write a snapshot now, then every ``interval`` seconds until ``stop()``."""
        self._pid = os.getpid()  # the app may be built before the worker forks
        self._write()
        self._task = asyncio.get_running_loop().create_task(self._publish())

    async def stop(self) -> None:
        """Stop publishing; the last snapshot stays, with this worker's gauges at zero."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            self._write(final=True)

    async def _publish(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            self._write()

    def _write(self, *, final: bool = False) -> None:
        snapshot = COUNTERS.snapshot()
        if final:
            _zero_gauges(snapshot)
        temporary = self._own.with_suffix(".tmp")
        try:
            temporary.write_text(json.dumps(snapshot))
            os.replace(temporary, self._own)  # readers see the old file or the new one, never half
        except OSError as exc:
            logger.warning("tidings: cannot share this worker's metrics in %s: %s", self._directory, exc)

    def workers(self) -> int:
        """Workers alive whose numbers are in the sum (this one included)."""
        return 1 + sum(1 for pid, _ in self._others() if _alive(pid))

    def combined(self) -> Snapshot:
        """This worker's counters now plus every other worker's last snapshot."""
        total = COUNTERS.snapshot()
        for pid, snapshot in self._others():
            if not _alive(pid):
                _zero_gauges(snapshot)
            _add(total, snapshot)
        return total

    def _others(self) -> Iterator[tuple[int, Snapshot]]:
        for path in self._directory.glob("*.json"):
            if not path.stem.isdigit() or int(path.stem) == self._pid:
                continue
            try:
                snapshot = json.loads(path.read_text())
            except (OSError, ValueError):
                continue  # gone, or being replaced right now: counted at the next scrape
            yield int(path.stem), snapshot


def _zero_gauges(snapshot: Snapshot) -> None:
    for name in GAUGE_NAMES:
        snapshot[name] = 0
    for name in BACKEND_GAUGE_NAMES:
        if name in snapshot["backend"]:
            snapshot["backend"][name] = 0


def _add(total: dict[str, Any], other: dict[str, Any]) -> None:
    """Add ``other`` into ``total``: numbers add, mappings add by key, lists add element-wise."""
    for key, value in other.items():
        mine = total.get(key)
        if isinstance(value, dict):
            if not isinstance(mine, dict):
                mine = total[key] = {}
            _add(mine, value)
        elif isinstance(value, list):
            if isinstance(mine, list) and len(mine) == len(value):
                total[key] = [a + b for a, b in zip(mine, value, strict=True)]
        elif isinstance(value, int | float):
            total[key] = (mine if isinstance(mine, int | float) else 0) + value


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
