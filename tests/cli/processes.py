"""Running the real ``tidings`` command: one-shot, or as a server on a free port."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
URL_RE = re.compile(r"(http://127\.0\.0\.1:\d+)")
# Nothing listens on port 1; a short command_timeout so the wait for it is short too.
UNREACHABLE_REDIS = "redis://127.0.0.1:1/0?command_timeout=0.3"


def cli_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TIDINGS_", "SAMPLE_"))}
    env.update(extra)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def run_cli(
    *args: str, stdin: str | None = None, env: dict[str, str] | None = None, timeout: float = 30
) -> subprocess.CompletedProcess[str]:
    """``python -m tidings ARGS`` from the repository root (so ``tests.cli.sample_app`` imports)."""
    return subprocess.run(
        [sys.executable, "-m", "tidings", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env if env is not None else cli_env(),
        timeout=timeout,
    )


def assert_one_line_error(result: subprocess.CompletedProcess[str], code: int, *fragments: str) -> None:
    """Exit status ``code``, exactly one ``error: ...`` line on stderr, no traceback."""
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


class TidingsProcess:
    """``python -m tidings ARGS`` left running (serve, demo, tail); output collected by threads."""

    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
        self.args = args
        self.env = env if env is not None else cli_env()
        self.stdout: list[str] = []
        self.stderr: list[str] = []
        self.process: subprocess.Popen[str] | None = None
        self.readers: list[threading.Thread] = []
        self.base = ""

    def start(self, *, wait_for_url: bool = True, timeout: float = 30) -> TidingsProcess:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tidings", *self.args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=REPO,
            env=self.env,
            preexec_fn=_as_in_a_terminal,
        )
        for stream, sink in ((self.process.stdout, self.stdout), (self.process.stderr, self.stderr)):
            reader = threading.Thread(target=_collect, args=(stream, sink), daemon=True)
            reader.start()
            self.readers.append(reader)
        if wait_for_url:
            self.base = self.wait_for(URL_RE, timeout=timeout).group(1)
        return self

    def wait_for(self, pattern: re.Pattern[str], *, timeout: float = 30) -> re.Match[str]:
        """The first stdout line matching ``pattern``; fails if the process ends first."""
        deadline = time.monotonic() + timeout
        seen = 0
        while time.monotonic() < deadline:
            while seen < len(self.stdout):
                match = pattern.search(self.stdout[seen])
                seen += 1
                if match:
                    return match
            assert self.process is not None
            if self.process.poll() is not None and seen >= len(self.stdout):
                time.sleep(0.1)  # let the reader threads drain
                raise AssertionError(
                    f"tidings {' '.join(self.args)} exited with {self.process.returncode}: "
                    f"stdout={''.join(self.stdout)!r} stderr={''.join(self.stderr)!r}"
                )
            time.sleep(0.02)
        raise AssertionError(f"no line matching {pattern.pattern!r} within {timeout} s: {self.stdout!r}")

    def wait_lines(self, count: int, *, timeout: float = 20) -> list[str]:
        deadline = time.monotonic() + timeout
        while len(self.stdout) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"expected {count} stdout lines, got {self.stdout!r} / {self.stderr!r}")
            time.sleep(0.02)
        return self.stdout[:count]

    def send(self, sig: int = signal.SIGTERM) -> None:
        assert self.process is not None
        self.process.send_signal(sig)

    def wait(self, timeout: float = 15) -> int:
        assert self.process is not None
        code = self.process.wait(timeout=timeout)
        self._drain()
        return code

    def _drain(self) -> None:
        assert self.process is not None
        for reader in self.readers:
            reader.join(timeout=5)
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15) -> int:
        """Signal the process and return its exit status (killed after ``timeout``)."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                return self.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
                self._drain()
                raise
        self._drain()
        return self.process.returncode

    @property
    def errors(self) -> str:
        return "".join(self.stderr)


def _as_in_a_terminal() -> None:
    """Let SIGINT act as Ctrl-C in the command, as it does for a command started in a terminal.

    A test run started in the background (``scripts/test &``, nohup, a CI
    runner without job control) ignores SIGINT, and a child inherits that:
    Python then installs no KeyboardInterrupt handler, so a test's SIGINT
    would be ignored and the command would only end when the test gives up.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _collect(stream: object, sink: list[str]) -> None:
    try:
        for line in stream:  # type: ignore[attr-defined]
            sink.append(line)
    except ValueError:  # closed under us after a kill
        pass
