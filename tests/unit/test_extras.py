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
}
EXTRA = {"redis": "redis", "httpx": "client", "typer": "cli", "uvicorn": "server"}


@pytest.mark.parametrize("blocked", list(CASES))
def test_a_missing_dependency_names_its_extra(blocked: str) -> None:
    script = f"import sys\nsys.modules[{blocked!r}] = None\n" + textwrap.dedent(CASES[blocked])
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    if "run(" in CASES[blocked]:  # the CLI: one line naming the extra, no traceback
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, result.stderr
        assert f"pip install 'tidings[{EXTRA[blocked]}]'" in lines[0], lines
