"""A real nginx for tests: docs/nginx.conf as written, on free ports, in a directory of its own.

It runs in the foreground (``daemon off``, one process), with its own pid file,
error log and temp paths under the test's directory, so it never touches the
system's nginx and leaves nothing behind.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import time
from pathlib import Path

DOCS_CONFIG = Path(__file__).resolve().parents[2] / "docs" / "nginx.conf"
# The two lines of docs/nginx.conf a test replaces (and nothing else).
UPSTREAM_LINE = "server 127.0.0.1:8000;"
LISTEN_LINE = "listen 80;"

MAIN_CONFIG = """\
daemon off;
master_process off;
pid {root}/nginx.pid;
error_log {root}/error.log info;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {root}/client_body;
    proxy_temp_path {root}/proxy;
    fastcgi_temp_path {root}/fastcgi;
    uwsgi_temp_path {root}/uwsgi;
    scgi_temp_path {root}/scgi;
    include {root}/tidings.conf;
}}
"""


def site_config(upstream_port: int, listen_port: int) -> str:
    """docs/nginx.conf with its upstream and listen addresses replaced; fails if the doc changed them."""
    text = DOCS_CONFIG.read_text()
    for line in (UPSTREAM_LINE, LISTEN_LINE):
        assert text.count(line) == 1, f"docs/nginx.conf must hold {line!r} exactly once"
    return text.replace(UPSTREAM_LINE, f"server 127.0.0.1:{upstream_port};").replace(
        LISTEN_LINE, f"listen 127.0.0.1:{listen_port};"
    )


class Nginx:
    """``nginx`` serving docs/nginx.conf on ``port``, in front of ``127.0.0.1:upstream_port``."""

    def __init__(self, binary: str, root: Path, *, port: int, upstream_port: int) -> None:
        self.binary = binary
        self.root = root
        self.port = port
        self.upstream_port = upstream_port
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 10.0) -> Nginx:
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / "tidings.conf").write_text(site_config(self.upstream_port, self.port))
        config = self.root / "nginx.conf"
        config.write_text(MAIN_CONFIG.format(root=self.root))
        # -e: the error log before the config is read (else /var/log/nginx/error.log).
        command = [self.binary, "-p", str(self.root), "-e", str(self.root / "error.log"), "-c", str(config)]
        check = subprocess.run([*command, "-t"], capture_output=True, text=True)
        assert check.returncode == 0, f"nginx -t refused the config: {check.stderr}"
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while not _listening(self.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"nginx did not start: {self.errors()}")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)  # fast shutdown: a graceful one would wait for streams
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def errors(self) -> str:
        log = self.root / "error.log"
        return log.read_text() if log.exists() else ""


def connections_to(port: int) -> int:
    """Established IPv4 TCP connections of this machine whose remote end is ``127.0.0.1:port``.

    From the client side only, so for nginx's upstream port it counts the
    connections nginx holds open to the server (kept alive or in use).
    """
    count = 0
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        remote, state = fields[2], fields[3]
        if state == "01" and remote == f"0100007F:{port:04X}":
            count += 1
    return count


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0
