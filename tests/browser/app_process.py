"""``serve_app.py`` as a separate OS process that tests kill (-9) and start again."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from tests.support.redis_server import free_port

SCRIPT = Path(__file__).with_name("serve_app.py")


class AppProcess:
    """``python serve_app.py`` on a fixed port, so a restarted process has the same URL."""

    def __init__(
        self, *, redis: str | None = None, prefix: str = "tidings-browser:", extra: list[str] | None = None
    ) -> None:
        self.port = free_port()
        self.args = [sys.executable, str(SCRIPT), "--port", str(self.port), "--prefix", prefix]
        if redis is not None:
            self.args += ["--redis", redis]
        self.args += extra or []
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 20.0) -> AppProcess:
        self.process = subprocess.Popen(self.args, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"serve_app.py exited with {self.process.returncode}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"serve_app.py did not listen on {self.port} within {timeout} s")

    def kill(self) -> None:
        """``kill -9``: the streams drop with no goodbye."""
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self.process = None

    def terminate(self, timeout: float = 10.0) -> int:
        """SIGTERM, as a process manager stops a server; returns the exit code."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout)
        self.process = None
        return code

    def stop(self) -> None:
        self.kill()
