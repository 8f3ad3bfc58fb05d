"""Headless Chromium (Debian's /usr/bin/chromium) driving pages served by serve_app.py.

The bundle of the official client is built here from tests/browser's npm
project; its node_modules come from ``npm ci --prefix tests/browser``.
"""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from playwright.async_api import BrowserContext, async_playwright

from tests.support.chromium import CHROMIUM, CHROMIUM_ARGS
from tests.support.redis_server import RedisServer
from tests.support.requirements import need_browser_bundle, need_chromium
from tidings import Realtime

from .app_process import AppProcess

HERE = Path(__file__).parent


@pytest.fixture(scope="session")
def bundle() -> Path:
    need_browser_bundle()
    subprocess.run(["npm", "run", "--silent", "build"], cwd=HERE, check=True, timeout=120)
    return HERE / "dist" / "app.js"


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    return redis_server.url


@pytest.fixture
def prefix() -> str:
    return f"browser-{uuid.uuid4().hex[:12]}:"


@pytest.fixture
def app(bundle: Path, redis_url: str, prefix: str) -> Iterator[AppProcess]:
    process = AppProcess(redis=redis_url, prefix=prefix).start()
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture
async def emitter(redis_url: str, prefix: str) -> AsyncIterator[Realtime]:
    """The test's own Realtime on the same Redis namespace: emits from Python, outside the server."""
    realtime = Realtime(redis=f"{redis_url}?prefix={prefix}")
    yield realtime
    await realtime.aclose()


@pytest.fixture
async def browser(tmp_path: Path) -> AsyncIterator[BrowserContext]:
    need_chromium()
    async with async_playwright() as playwright:
        context = await playwright.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield context
        finally:
            await context.close()
