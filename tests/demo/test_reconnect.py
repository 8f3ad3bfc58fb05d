"""The page's client (static/tidings.js) across a server restart, on Redis.

The server goes away while the page is open; an event is stored meanwhile by
another process; the server comes back on the same port. The page must show
that it lost the stream, reconnect by itself, and show the event exactly once.
"""

from __future__ import annotations

import uuid

from playwright.async_api import BrowserContext, expect

from tests.cli.processes import TidingsProcess
from tests.support.redis_server import RedisServer, free_port
from tidings.demo import demo_realtime

from .test_demo_page import join, send


async def test_page_resumes_after_a_server_restart_without_gap(
    redis_server: RedisServer, browser: BrowserContext
) -> None:
    redis_url = f"{redis_server.url}?prefix=demo-{uuid.uuid4().hex[:12]}:"
    port = free_port()
    first = TidingsProcess("demo", "--port", str(port), "--redis", redis_url).start()
    try:
        page = await join(browser, first.base, "Ada", "lobby")
        await send(page, "before the restart")
        await expect(page.locator(".bubble", has_text="before the restart")).to_have_count(1)
    finally:
        assert first.stop() == 0, first.errors

    status = page.locator("#status")
    await expect(status).not_to_have_attribute("data-status", "connected")
    assert await status.get_attribute("data-status") in ("reconnecting", "error")

    realtime = demo_realtime(redis=redis_url)
    async with realtime:
        await realtime.channel("demo-room-lobby").emit(
            "chat.message", {"name": "Grace", "text": "while you were away"}
        )

    second = TidingsProcess("demo", "--port", str(port), "--redis", redis_url).start()
    try:
        await expect(status).to_have_attribute("data-status", "connected", timeout=30_000)
        await expect(page.locator(".bubble", has_text="while you were away")).to_have_count(1)
        await send(page, "after the restart")
        await expect(page.locator(".bubble", has_text="after the restart")).to_have_count(1)
        await expect(page.locator(".bubble")).to_have_count(3)
        await expect(page.locator("#log tr", has_text="chat.message")).to_have_count(3)
    finally:
        assert second.stop() == 0, second.errors
