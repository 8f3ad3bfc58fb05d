"""``tidings demo`` as a real process, and headless Chromium (Debian's /usr/bin/chromium) to drive it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from playwright.async_api import BrowserContext, async_playwright

from tests.cli.processes import TidingsProcess
from tests.support.chromium import CHROMIUM, CHROMIUM_ARGS
from tests.support.requirements import need_chromium


@pytest.fixture(scope="module")
def demo() -> Iterator[TidingsProcess]:
    """One in-memory demo server for the module; each test uses rooms of its own."""
    process = TidingsProcess("demo", "--port", "0").start()
    try:
        yield process
    finally:
        assert process.stop() == 0, process.errors


@pytest.fixture
async def browser(tmp_path: Path) -> AsyncIterator[BrowserContext]:
    need_chromium()
    async with async_playwright() as playwright:
        context = await playwright.chromium.launch_persistent_context(
            str(tmp_path / "profile"),
            executable_path=CHROMIUM,
            args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 860},
        )
        context.set_default_timeout(20_000)
        try:
            yield context
        finally:
            await context.close()
