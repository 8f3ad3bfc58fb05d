"""The demo page in Chromium over ``tidings demo --native`` (the native SSE server)."""

from __future__ import annotations

import uuid

from playwright.async_api import BrowserContext, expect

from tests.cli.processes import TidingsProcess

from .test_demo_page import join, progress_at_least, send


async def test_the_demo_page_works_in_a_browser_over_the_native_server(browser: BrowserContext) -> None:
    demo = TidingsProcess("demo", "--port", "0", "--native").start()
    try:
        room = f"room-{uuid.uuid4().hex[:8]}"
        ada = await join(browser, demo.base, "Ada", room)
        grace = await join(browser, demo.base, "Grace", room)
        await expect(ada.locator("#messages .notice", has_text="Grace joined")).to_have_count(1)
        await send(ada, "Hello Grace")
        await expect(grace.locator("#messages .bubble", has_text="Hello Grace")).to_have_count(1)
        await send(grace, "x" * 501)  # refused by the schema, shown on the page
        await expect(grace.locator("#chat-error")).to_contain_text("at most 500 characters")

        await ada.click("#start-job")
        before = await progress_at_least(ada, 25)
        await ada.reload()  # the job resumes from history, every step once
        assert await progress_at_least(ada, before) >= before
        await expect(ada.locator("#job-bar")).to_have_attribute("aria-valuenow", "100", timeout=30_000)
        await expect(ada.locator("#log td.event", has_text="job.progress")).to_have_count(21)

        status = grace.locator("#status")
        await expect(status).to_have_attribute("data-status", "connected")
        assert demo.stop() == 0, demo.errors
        await expect(status).not_to_have_attribute("data-status", "connected")
    finally:
        demo.stop()
