"""Each optional import path names the extra to install when its dependency is missing.

Each case runs in a fresh interpreter where the dependency cannot be
imported (``sys.modules[name] = None``), as if the extra were not installed.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

CASES = {
    "redis": """
        import tidings  # the core needs no extra
        try:
            import tidings.redis
        except ImportError as exc:
            assert "pip install 'tidings[redis]'" in str(exc), exc
        else:
            raise AssertionError("tidings.redis imported without redis")
        try:
            tidings.Realtime(redis="redis://localhost:6379/0")
        except tidings.UsageError as exc:
            assert "pip install 'tidings[redis]'" in str(exc), exc
            assert str(exc).count("tidings[redis]") == 1, exc
        else:
            raise AssertionError("Realtime(redis=...) worked without redis")
        import tidings.demo  # the demo runs in memory without it
        from tidings.cli import run
        assert run(["emit", "--redis", "redis://localhost:6379/0", "c", "e", "1"]) == 2
    """,
    "httpx": """
        try:
            import tidings.client
        except ImportError as exc:
            assert "pip install 'tidings[client]'" in str(exc), exc
        else:
            raise AssertionError("tidings.client imported without httpx")
        from tidings.cli import run
        assert run(["history", "--url", "http://127.0.0.1:9/api/realtime", "--token", "t" * 20, "c"]) == 1
    """,
    "typer": """
        from tidings.cli import run
        assert run(["emit", "--redis", "redis://localhost:6379/0", "c", "e", "1"]) == 2
    """,
    "uvicorn": """
        import tidings.demo
        import tidings.server
        from tidings.cli import run
        assert run(["demo", "--port", "0"]) == 1
    """,
    "prometheus_client": """
        import asyncio
        from tidings import Realtime
        from tidings.ops import OpsApp  # health and readiness need no extra
        try:
            OpsApp(Realtime())
        except ModuleNotFoundError as exc:
            assert "pip install 'tidings[metrics]'" in str(exc), exc
        else:
            raise AssertionError("metrics were served without prometheus_client")
        # tidings serve: everything else serves, /metrics answers 501 naming the extra.
        ops = OpsApp(Realtime(), metrics_optional=True)
        sent = []
        async def send(message):
            sent.append(message)
        async def receive():
            return {"type": "http.request", "body": b""}
        loop = asyncio.new_event_loop()
        get = lambda path: {"type": "http", "method": "GET", "path": path, "headers": []}
        loop.run_until_complete(ops(get("/metrics"), receive, send))
        assert sent[0]["status"] == 501, sent
        assert b"pip install 'tidings[metrics]'" in sent[1]["body"], sent
        sent.clear()
        loop.run_until_complete(ops(get("/readyz"), receive, send))
        assert sent[0]["status"] == 200, sent
    """,
}
EXTRA = {
    "redis": "redis",
    "httpx": "client",
    "typer": "cli",
    "uvicorn": "server",
    "prometheus_client": "metrics",
}


@pytest.mark.parametrize("blocked", list(CASES))
def test_a_missing_dependency_names_its_extra(blocked: str) -> None:
    script = f"import sys\nsys.modules[{blocked!r}] = None\n" + textwrap.dedent(CASES[blocked])
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    if "run(" in CASES[blocked]:  # the CLI: one line naming the extra, no traceback
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, result.stderr
        assert f"pip install 'tidings[{EXTRA[blocked]}]'" in lines[0], lines
