"""Scenarios 3, 4 and 6: SSE fan-out, idle memory per connection, connection churn.

Server and load generators run in separate processes (``bench.sse_server``,
``bench.sse_load``); this module only orchestrates and reads /proc.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from bench._common import hist_percentile
from bench._procs import Load, Server, _Child, start_loads, stop_loads

STACKS = ("tidings", "native", "broadcaster")


@dataclass
class Step:
    requested: float  # deliveries/s the ladder asked for
    offered: float  # deliveries/s the server's emitter achieved (it may fall behind)
    delivered: float  # deliveries/s received by the load generators
    p50_ms: float
    p99_ms: float
    p999_ms: float
    lost: int
    disorder: int
    server_cpu: float  # fraction of one core
    load_cpu: float  # fraction of one core, all load processes together
    emitted: int

    @property
    def kept_up(self) -> bool:
        """The server's emitter achieved the rate asked for (else the server was the limit)."""
        return self.offered >= 0.85 * self.requested

    @property
    def saturated(self) -> bool:
        return (
            self.delivered < 0.85 * self.offered or self.p99_ms > 1000 or self.lost > 0 or self.disorder > 0
        )


@dataclass
class FanoutRun:
    stack: str
    conns: int
    channels: int
    connect_seconds: float
    rss_per_conn: float | None
    steps: list[Step] = field(default_factory=list)
    scrapes: int = 0  # of /metrics, with Variant(metrics=True)


@dataclass(frozen=True)
class Variant:
    """How the server under test runs: ``metrics`` serves ``/metrics`` and scrapes it every
    ``SCRAPE_SECONDS`` during each step; ``source`` is another tidings' ``src`` (None: ours)."""

    metrics: bool = False
    source: Path | None = None


SCRAPE_SECONDS = 1.0  # far more often than Prometheus' default 15 s: an upper bound on its cost


class Fleet:
    """A server with ``conns`` open streams spread over ``loads`` load processes."""

    def __init__(
        self,
        stack: str,
        conns: int,
        channels: int,
        *,
        loads: int = 2,
        freeze: bool = False,
        variant: Variant = Variant(),
    ) -> None:
        self.server = Server(stack, metrics=variant.metrics, source=variant.source)
        self.scraping = variant.metrics
        self.scrapes = 0
        self.conns = conns
        self.channels = channels
        self.loads: list[_Child] = []
        try:
            self.rss_before = self.server.collected_rss()
            started = time.monotonic()
            command = ["bench.sse_load", "stream", "--channels", str(channels)]
            self.loads = start_loads(command, self.server.port, conns, loads)
            self.connect_seconds = time.monotonic() - started
            self.server.wait_for_streams(conns)
            self.rss_after = self.server.collected_rss()
            if freeze:
                # Move every object alive now out of the collector's sight: the
                # streams' state no longer makes each full collection longer.
                self.server.get("/bench/gc?freeze=1")
        except BaseException:
            self.close()
            raise

    def step(self, rate: float, seconds: float) -> Step:
        for load in self.loads:
            load.send("start")
        for load in self.loads:
            load.line(timeout=30)
        cpu_server = self.server.cpu()
        cpu_loads = sum(load.cpu() for load in self.loads)
        started = time.monotonic()
        with self._scraping():
            answer = self.server.get(f"/bench/emit?rate={rate}&seconds={seconds}&channels={self.channels}")
        reports, hist = stop_loads(self.loads, answer["last"])
        wall = time.monotonic() - started
        frames = sum(r["frames"] for r in reports)
        last_at = max(r["last_at"] for r in reports)
        span = max(last_at - started, answer["seconds"], 1e-9)
        per_event = self.conns / self.channels
        return Step(
            requested=rate * per_event,
            offered=answer["emitted"] * per_event / max(answer["seconds"], 1e-9),
            delivered=frames / span,
            p50_ms=hist_percentile(hist, 0.5, 0.1),
            p99_ms=hist_percentile(hist, 0.99, 0.1),
            p999_ms=hist_percentile(hist, 0.999, 0.1),
            lost=sum(r["lost"] for r in reports),
            disorder=sum(r["disorder"] for r in reports),
            server_cpu=(self.server.cpu() - cpu_server) / wall,
            load_cpu=(sum(load.cpu() for load in self.loads) - cpu_loads) / wall,
            emitted=answer["emitted"],
        )

    @contextlib.contextmanager
    def _scraping(self) -> Iterator[None]:
        """Scrape ``/metrics`` every ``SCRAPE_SECONDS`` (from the first moment) while the body runs."""
        if not self.scraping:
            yield
            return
        done = threading.Event()

        def scrape() -> None:
            while True:
                self.server.scrape()
                self.scrapes += 1
                if done.wait(SCRAPE_SECONDS):
                    return

        scraper = threading.Thread(target=scrape, daemon=True)
        scraper.start()
        try:
            yield
        finally:
            done.set()
            scraper.join()

    def close(self) -> None:
        for load in self.loads:
            with contextlib.suppress(OSError):
                load.send("quit")
        for load in self.loads:
            load.stop()
        self.server.stop()


def fanout(
    stack: str,
    conns: int,
    channels: int,
    ladder: list[float],
    seconds: float,
    *,
    freeze: bool = False,
    variant: Variant = Variant(),
) -> FanoutRun:
    """Rising offered deliveries/s (``ladder``) until the first saturated step."""
    fleet = Fleet(stack, conns, channels, freeze=freeze, variant=variant)
    try:
        run = FanoutRun(
            stack, conns, channels, fleet.connect_seconds, (fleet.rss_after - fleet.rss_before) / conns
        )
        fleet.step(max(20.0, 20_000 * channels / conns), 0.5)  # warm-up
        for deliveries in ladder:
            rate = deliveries * channels / conns
            step = fleet.step(rate, seconds)
            run.steps.append(step)
            if step.saturated:
                break
        run.scrapes = fleet.scrapes
        return run
    finally:
        fleet.close()


def churn(stack: str, cycles: int, concurrency: int = 32) -> dict[str, Any]:
    """Connect/disconnect ``cycles`` times; RSS before (after a warm-up) and after."""
    server = Server(stack)
    try:
        warm = Load(
            [
                "churn",
                "--port",
                str(server.port),
                "--cycles",
                str(min(1000, cycles)),
                "--concurrency",
                str(concurrency),
            ]
        )
        warm.line(timeout=120)
        warm.stop()
        server.get("/bench/gc")
        rss_before = server.rss()
        load = Load(
            ["churn", "--port", str(server.port), "--cycles", str(cycles), "--concurrency", str(concurrency)]
        )
        result = orjson.loads(load.line(timeout=300))
        load.stop()
        time.sleep(0.5)
        stats = server.get("/bench/gc")
        after = server.get("/bench/stats")
        return {
            "rate": result["cycles"] / result["seconds"],
            "errors": result["errors"],
            "rss_before": rss_before,
            "rss_after": stats["rss"],
            "open_after": after["connections"],
            "tasks_after": after["tasks"],
        }
    finally:
        server.stop()


def idle_memory(stack: str, conns: int, channels: int = 1) -> float:
    fleet = Fleet(stack, conns, channels)
    try:
        return (fleet.rss_after - fleet.rss_before) / conns
    finally:
        fleet.close()
