"""Scenario api-emits: emits over the JSON API, ``tidings serve --api-token`` under uvicorn vs ``--native``.

64 clients (one kept-alive connection each, raw asyncio sockets: an httpx
client pool in the same process runs out of CPU long before either server)
POST ``{"channel", "event", "data"}`` to ``/api/realtime/emit`` back to back.
The servers run one after the other in each round, a fresh process each
time; figures are emits/s, answered 200, per server. A connection the server
closes is reopened and counted (``reconnects``): with keep-alive there are none.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass

import orjson

from bench._common import ROOT, cpu_seconds
from tests.support.redis_server import free_port

TOKEN = "bench-api-token-0123456789"
STACKS = ("uvicorn", "native")
_ENV = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'src'}"}


@dataclass
class Rate:
    emits_per_second: float
    reconnects: int
    server_cpu: float  # share of one core

    @property
    def cpu_us_per_emit(self) -> float:
        """The server's CPU per emit answered: what stays put when other work shares the machine."""
        return self.server_cpu / self.emits_per_second * 1e6 if self.emits_per_second else float("nan")


def _request(port: int, n: int) -> bytes:
    body = orjson.dumps({"channel": f"c{n % 16}", "event": "tick", "data": {"n": n}})
    head = (
        f"POST /api/realtime/emit HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Authorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def _answer(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """Read one answer; its status and whether the server keeps the connection."""
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    lower = head.lower()
    at = lower.index(b"content-length:") + 15
    await reader.readexactly(int(lower[at : lower.index(b"\r\n", at)]))
    return status, b"connection: close" not in lower


async def drive(port: int, clients: int, seconds: float) -> tuple[float, int]:
    """``clients`` connections emitting back to back for ``seconds``: (emits/s, reconnects)."""
    stop = time.perf_counter() + seconds
    done = [0] * clients
    reconnects = [0] * clients

    async def client(index: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        n = index
        while time.perf_counter() < stop:
            writer.write(_request(port, n))
            status, kept = await _answer(reader)
            if status != 200:
                raise RuntimeError(f"emit answered {status}")
            done[index] += 1
            n += clients
            if not kept:
                writer.close()
                reconnects[index] += 1
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(client(i) for i in range(clients)))
    return sum(done) / (time.perf_counter() - started), sum(reconnects)


def _serve(stack: str, port: int) -> subprocess.Popen[bytes]:
    args = ["serve", "bench.api_app:realtime", "--port", str(port), "--api-token", TOKEN]
    return subprocess.Popen(
        [sys.executable, "-m", "tidings", *args, *(["--native"] if stack == "native" else [])],
        cwd=ROOT,
        env=_ENV,
        stdout=subprocess.DEVNULL,
        start_new_session=True,
    )


async def _ready(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(_request(port, 0))
            status, _ = await _answer(reader)
            writer.close()
            if status == 200:
                return
        except (OSError, asyncio.IncompleteReadError):
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"tidings serve on port {port} did not start")
        await asyncio.sleep(0.1)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(5)


async def measure(stack: str, clients: int, seconds: float) -> Rate:
    port = free_port()
    process = _serve(stack, port)
    try:
        await _ready(port, process)
        await drive(port, clients, min(0.5, seconds))  # warm up
        cpu = cpu_seconds(process.pid)
        started = time.perf_counter()
        rate, reconnects = await drive(port, clients, seconds)
        share = (cpu_seconds(process.pid) - cpu) / (time.perf_counter() - started)
        return Rate(rate, reconnects, share)
    finally:
        _stop(process)


async def run(runs: int, seconds: float, clients: int = 64) -> dict[str, list[Rate]]:
    """``runs`` rounds, each measuring every stack once, alternating which goes first."""
    found: dict[str, list[Rate]] = {stack: [] for stack in STACKS}
    for round_ in range(runs):
        for stack in STACKS if round_ % 2 == 0 else reversed(STACKS):
            found[stack].append(await measure(stack, clients, seconds))
    return found


if __name__ == "__main__":
    from bench._common import install_uvloop

    install_uvloop()
    for stack, rates in asyncio.run(run(1, float(sys.argv[1]) if len(sys.argv) > 1 else 2.0)).items():
        print(stack, rates)
