"""Child processes of a benchmark: the SSE server and its load generators."""

from __future__ import annotations

import http.client
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import orjson

from bench._common import ROOT, cpu_seconds, rss_bytes
from tests.support.redis_server import free_port


def child_env(source: Path | None = None) -> dict[str, str]:
    """The environment of a child: ``bench`` from here, ``tidings`` from ``source`` (default: ours)."""
    src = ROOT / "src" if source is None else source
    return {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{src}"}


class _Child:
    def __init__(self, args: list[str], *, source: Path | None = None) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", *args],
            cwd=ROOT,
            env=child_env(source),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        self._lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._lines.put(line.strip())
        self._lines.put("")

    @property
    def pid(self) -> int:
        return self.process.pid

    def cpu(self) -> float:
        return cpu_seconds(self.pid)

    def line(self, timeout: float) -> str:
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            raise TimeoutError(f"{self.process.args!r}: no answer within {timeout} s") from None
        if not line and self.process.poll() is not None:
            raise RuntimeError(f"{self.process.args!r} exited with {self.process.returncode}")
        return line

    def send(self, line: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(5)


class Server(_Child):
    """``bench.sse_server``; ``metrics`` serves ``/metrics``; ``source`` is another tidings' ``src``."""

    def __init__(
        self, stack: str, redis: str | None = None, *, metrics: bool = False, source: Path | None = None
    ) -> None:
        self.port = free_port()
        args = ["bench.sse_server", "--stack", stack, "--port", str(self.port)]
        if redis:
            args += ["--redis", redis]
        if metrics:
            args.append("--metrics")
        super().__init__(args, source=source)
        deadline = time.monotonic() + 30
        while True:
            try:
                self.get("/bench/stats")
                return
            except OSError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    self.stop()
                    raise RuntimeError(f"the {stack} server did not start") from None
                time.sleep(0.1)

    def get(self, path: str, timeout: float = 60) -> Any:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request("GET", path)
            return orjson.loads(conn.getresponse().read())
        finally:
            conn.close()

    def scrape(self) -> bytes:
        """``GET /metrics`` (as Prometheus would), the text itself."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request("GET", "/metrics")
            response = conn.getresponse()
            body = response.read()
            if response.status != 200:
                raise RuntimeError(f"/metrics answered {response.status}: {body[:200]!r}")
            return body
        finally:
            conn.close()

    def wait_for_streams(self, count: int, timeout: float = 30) -> None:
        """Until the server counts ``count`` open streams."""
        deadline = time.monotonic() + timeout
        while self.get("/bench/stats")["connections"] < count:
            if time.monotonic() > deadline:
                raise RuntimeError("the server never counted every stream")
            time.sleep(0.1)

    def rss(self) -> int:
        return rss_bytes(self.pid)

    def collected_rss(self) -> int:
        """``rss()`` after a full collection and a moment for the allocator to give memory back."""
        self.get("/bench/gc")
        time.sleep(0.2)
        return self.rss()


class Load(_Child):
    def __init__(self, args: list[str]) -> None:
        super().__init__(["bench.sse_load", *args])


def start_loads(command: list[str], port: int, conns: int, loads: int = 2) -> list[_Child]:
    """``loads`` load processes (``python -m *command``) sharing ``conns`` streams; each said ready."""
    children: list[_Child] = []
    try:
        share = conns // loads
        for index in range(loads):
            count = share if index < loads - 1 else conns - share * (loads - 1)
            where = ["--port", str(port), "--conns", str(count), "--offset", str(index * share)]
            children.append(_Child([*command, *where]))
        for child in children:
            ready = child.line(timeout=180).split()
            if ready[0] != "ready" or ready[2] != "0":
                raise RuntimeError(f"load generator: {ready}")
    except BaseException:
        for child in children:
            child.stop()
        raise
    return children


def stop_loads(loads: list[_Child], last: object) -> tuple[list[dict[str, Any]], dict[int, int]]:
    """Send ``stop <last>`` to every load process; their reports and merged latency histogram."""
    line = f"stop {orjson.dumps(last).decode()}"
    for load in loads:
        load.send(line)
    reports = [orjson.loads(load.line(timeout=60)) for load in loads]
    hist: dict[int, int] = {}
    for report in reports:
        for key, count in report["hist"].items():
            hist[int(key)] = hist.get(int(key), 0) + count
    return reports, hist
