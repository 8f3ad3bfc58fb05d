"""``tidings.asgi`` without httptools (tidings[redis] + FastAPI + Hypercorn): ``handle()`` works,
the native server says which extra it needs."""

from __future__ import annotations

import subprocess
import sys
import textwrap

# Run first in a fresh interpreter: importing httptools then fails as if it were not installed.
_BLOCK = """
import sys
sys.modules["httptools"] = None  # "import httptools" now raises ModuleNotFoundError
"""


def run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", _BLOCK + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_handle_imports_and_serves_without_httptools() -> None:
    result = run(
        """
        import asyncio
        import httpx
        from tidings import Realtime
        from tidings.asgi import handle, RealtimeEndpoint

        async def main():
            async with Realtime() as realtime:
                app = handle(realtime)
                assert isinstance(app, RealtimeEndpoint)
                transport = httpx.ASGITransport(app=app)
                async with httpx.AsyncClient(transport=transport, base_url="http://x") as http:
                    answer = await http.get("/?channel=a%20b")
                assert answer.status_code == 400, answer.text
            assert "httptools" not in sys.modules or sys.modules["httptools"] is None
            print("ok")

        asyncio.run(main())
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_the_native_server_names_the_extra_to_install() -> None:
    result = run(
        """
        import tidings.asgi
        assert "serve_native" in tidings.asgi.__all__ and "NativeServer" in tidings.asgi.__all__
        for name in ("serve_native", "NativeServer"):
            try:
                getattr(tidings.asgi, name)
            except ImportError as exc:
                print(type(exc).__name__, exc)
            else:
                print("imported", name)
        try:
            import tidings.native
        except ImportError as exc:
            print(type(exc).__name__, exc)
        else:
            print("imported tidings.native")
        """
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 3
    for line in lines:
        assert line.startswith("ImportError ")
        assert "pip install 'tidings[server]'" in line
        assert "httptools" in line


def test_the_native_server_is_there_with_httptools() -> None:
    import tidings.asgi
    import tidings.native

    assert tidings.native.__all__ == ["NativeServer", "serve_native"]
    assert tidings.asgi.serve_native is tidings.native.serve_native
    assert tidings.asgi.NativeServer is tidings.native.NativeServer
    assert {"serve_native", "NativeServer"} <= set(dir(tidings.asgi))
