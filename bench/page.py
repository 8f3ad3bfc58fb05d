"""Page-shape fan-out: in-process on the memory backend, or end to end on Redis.

Every stream is on ``broadcast`` + its own ``user-<i>`` (:mod:`bench._page`); the
load generators (``bench.sse_check``) parse and check every frame. Two modes:

* in-process (``redis=False``): the server's own emitter (``/bench/page``), memory backend;
* end to end (``redis=True``): a private redis-server, the server on it, and the events
  emitted by a separate process (``bench.page_emit``: tidings' Python API, or
  broadcaster's ``publish`` for the broadcaster stack).
"""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass, field

import orjson

from bench._common import hist_percentile
from bench._procs import Server, _Child, start_loads, stop_loads


@dataclass
class PageStep:
    requested: float  # broadcast deliveries/s asked for
    offered: float  # deliveries/s the emitter achieved (broadcast x streams + user events)
    delivered: float
    p50_ms: float
    p99_ms: float
    lost: int
    duplicate: int
    disorder: int
    foreign: int
    server_cpu: float
    load_cpu: float
    emitter_cpu: float  # the separate emitter process (0 in-process)
    load1: float  # 1-minute load average just before the step

    @property
    def errors(self) -> int:
        return self.lost + self.duplicate + self.disorder + self.foreign

    @property
    def saturated(self) -> bool:
        return self.delivered < 0.85 * self.offered or self.p99_ms > 1000 or self.errors > 0


@dataclass
class PageRun:
    stack: str
    conns: int
    rss_per_stream: float = 0.0
    steps: list[PageStep] = field(default_factory=list)


class PageFleet:
    """A server with ``conns`` page-shape streams (``single``: on ``broadcast`` only, the control).

    ``rss_per_stream``: the server's resident memory per stream once all are open and idle.
    """

    def __init__(
        self, stack: str, conns: int, redis: str | None, *, loads: int = 2, single: bool = False
    ) -> None:
        self.conns = conns
        self.loads: list[_Child] = []
        self.emitter: _Child | None = None
        self.server = Server(stack, redis)
        try:
            if redis is not None:
                self.emitter = _Child(
                    [
                        "bench.page_emit",
                        "--stack",
                        "broadcaster" if stack == "broadcaster" else "tidings",
                        "--redis",
                        redis,
                    ]
                )
                if self.emitter.line(timeout=60) != "ready":
                    raise RuntimeError("the page emitter did not start")
            rss_before = self.server.collected_rss()
            command = ["bench.sse_check", *(["--single"] if single else [])]
            self.loads = start_loads(command, self.server.port, conns, loads)
            self.server.wait_for_streams(conns)
            self.rss_per_stream = (self.server.collected_rss() - rss_before) / conns
            self.server.get("/bench/gc?freeze=1")
        except BaseException:
            self.close()
            raise

    def _emit(self, rate: float, user_rate: float, seconds: float) -> dict[str, object]:
        if self.emitter is None:
            answer: dict[str, object] = self.server.get(
                f"/bench/page?rate={rate}&user_rate={user_rate}&seconds={seconds}&users={self.conns}"
            )
            return answer
        self.emitter.send(f"emit {rate} {user_rate} {seconds} {self.conns}")
        answer = orjson.loads(self.emitter.line(timeout=seconds + 60))
        return answer

    def step(self, deliveries: float, trickle: float, seconds: float) -> PageStep:
        load1 = os.getloadavg()[0]
        for load in self.loads:
            load.send("start")
        for load in self.loads:
            load.line(timeout=30)
        cpu_server = self.server.cpu()
        cpu_loads = sum(load.cpu() for load in self.loads)
        cpu_emitter = self.emitter.cpu() if self.emitter else 0.0
        started = time.monotonic()
        answer = self._emit(deliveries / self.conns, deliveries * trickle, seconds)
        reports, hist = stop_loads(self.loads, answer["last"])
        wall = time.monotonic() - started
        emit_seconds = max(float(answer["seconds"]), 1e-9)  # type: ignore[arg-type]
        span = max(max(r["last_at"] for r in reports) - started, emit_seconds, 1e-9)
        offered = int(answer["broadcast_emitted"]) * self.conns + int(answer["user_emitted"])  # type: ignore[call-overload]
        return PageStep(
            requested=deliveries,
            offered=offered / emit_seconds,
            delivered=sum(r["frames"] for r in reports) / span,
            p50_ms=hist_percentile(hist, 0.5, 0.1),
            p99_ms=hist_percentile(hist, 0.99, 0.1),
            lost=sum(r["lost"] for r in reports),
            duplicate=sum(r["duplicate"] for r in reports),
            disorder=sum(r["disorder"] for r in reports),
            foreign=sum(r["foreign"] for r in reports),
            server_cpu=(self.server.cpu() - cpu_server) / wall,
            load_cpu=(sum(load.cpu() for load in self.loads) - cpu_loads) / wall,
            emitter_cpu=((self.emitter.cpu() - cpu_emitter) / wall) if self.emitter else 0.0,
            load1=load1,
        )

    def close(self) -> None:
        for child in [*self.loads, *([self.emitter] if self.emitter else [])]:
            with contextlib.suppress(OSError):
                child.send("quit")
        for child in [*self.loads, *([self.emitter] if self.emitter else [])]:
            child.stop()
        self.server.stop()


def page_run(
    stack: str,
    conns: int,
    ladder: list[float],
    seconds: float,
    *,
    redis: bool,
    trickle: float = 0.01,
    single: bool = False,
) -> PageRun:
    """Rising broadcast deliveries/s (``ladder``) until the first saturated step.

    ``trickle``: user-channel events/s as a fraction of the broadcast deliveries/s,
    spread round-robin over the user channels (each delivered to one stream).
    ``single``: the control, streams on ``broadcast`` only and no trickle.
    """
    if single:
        trickle = 0.0
    from tests.support.redis_server import RedisServer

    # A fresh Redis per run: no stream or subscription left over from another stack.
    server = RedisServer().start() if redis else None
    try:
        fleet = PageFleet(stack, conns, server.url if server else None, single=single)
        try:
            run = PageRun(stack, conns, fleet.rss_per_stream)
            fleet.step(20 * conns, trickle, 0.5)  # warm-up: 20 broadcast events/s
            for deliveries in ladder:
                step = fleet.step(deliveries, trickle, seconds)
                run.steps.append(step)
                if step.saturated:
                    break
            return run
        finally:
            fleet.close()
    finally:
        if server is not None:
            server.stop()
