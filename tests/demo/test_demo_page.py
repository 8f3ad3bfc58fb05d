"""The demo page in headless Chromium against a real ``tidings demo`` process."""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from pathlib import Path

import httpx
from playwright.async_api import BrowserContext, Page, expect

from tests.cli.processes import TidingsProcess

REPO = Path(__file__).resolve().parents[2]


def room() -> str:
    return f"room-{uuid.uuid4().hex[:8]}"


async def join(context: BrowserContext, base: str, name: str, room_name: str) -> Page:
    page = await context.new_page()
    await page.goto(f"{base}/")
    await page.fill("#name", name)
    await page.fill("#room", room_name)
    await page.click("#join")
    await expect(page.locator("#status")).to_have_attribute("data-status", "connected")
    await expect(page.locator("#room-badge")).to_have_text(f"#{room_name} · {name}")
    return page


async def send(page: Page, text: str) -> None:
    await page.fill("#message", text)
    await page.click("#send")


async def progress_at_least(page: Page, percent: int) -> int:
    """Wait until the bar shows at least ``percent`` (it moves in steps of 5) and return its value."""
    await page.wait_for_function(
        "p => Number(document.querySelector('#job-bar').getAttribute('aria-valuenow')) >= p", arg=percent
    )
    return int(await page.locator("#job-bar").get_attribute("aria-valuenow") or "0")


async def chat_history(base: str, room_name: str) -> list[dict[str, object]]:
    async with httpx.AsyncClient() as http:
        answer = await http.get(f"{base}/demo/history", params={"room": room_name})
    return [m for m in answer.json()["messages"] if m["event"] == "chat.message"]


async def test_two_pages_chat_with_each_other(demo: TidingsProcess, browser: BrowserContext) -> None:
    name = room()
    ada = await join(browser, demo.base, "Ada", name)
    grace = await join(browser, demo.base, "Grace", name)
    await expect(ada.locator("#messages .notice", has_text="Grace joined")).to_have_count(1)

    await send(ada, "Hello Grace")
    await expect(grace.locator("#messages .bubble", has_text="Hello Grace")).to_have_count(1)
    await expect(ada.locator("#messages .bubble.mine", has_text="Hello Grace")).to_have_count(1)
    await send(grace, "Hi Ada")
    await expect(ada.locator("#messages .bubble", has_text="Hi Ada")).to_have_count(1)
    await expect(ada.locator("#message")).to_have_value("")

    # Every event of the room shows in the log, with its id and channel.
    log = ada.locator("#log tr", has_text="chat.message")
    await expect(log).to_have_count(2)
    await expect(log.first.locator("td.channel")).to_have_text(f"demo-room-{name}")
    await expect(log.first.locator("td.id")).to_have_text(
        (await chat_history(demo.base, name))[-1]["id"]  # type: ignore[arg-type]
    )

    await grace.close()
    # After the demo's presence grace (5 s): a closed page might be a reload.
    await expect(ada.locator("#messages .notice", has_text="Grace left")).to_have_count(1, timeout=15_000)
    await expect(ada.locator("#members li")).to_have_text(["Ada"])


async def test_who_is_online_and_a_reload_is_not_a_leave(
    demo: TidingsProcess, browser: BrowserContext
) -> None:
    name = room()
    ada = await join(browser, demo.base, "Ada", name)
    await expect(ada.locator("#members li")).to_have_text(["Ada"])
    grace = await join(browser, demo.base, "Grace", name)
    # Each page lists both, whoever came first.
    await expect(ada.locator("#members li")).to_have_text(["Ada", "Grace"])
    await expect(grace.locator("#members li")).to_have_text(["Ada", "Grace"])
    await expect(ada.locator("#online-count")).to_have_text("2 online")

    await grace.reload()  # the same tab comes back as Grace, well within the grace period
    await expect(grace.locator("#status")).to_have_attribute("data-status", "connected")
    await expect(grace.locator("#members li")).to_have_text(["Ada", "Grace"])
    await send(ada, "still there?")  # anything Ada's page would have shown by now is in
    await expect(grace.locator(".bubble", has_text="still there?")).to_have_count(1)
    await expect(ada.locator("#messages .notice", has_text="Grace left")).to_have_count(0)
    await expect(ada.locator("#messages .notice", has_text="Grace joined")).to_have_count(1)
    await expect(ada.locator("#members li")).to_have_text(["Ada", "Grace"])


async def test_joining_replays_the_last_50_events_then_goes_live(
    demo: TidingsProcess, browser: BrowserContext
) -> None:
    name = room()
    async with httpx.AsyncClient() as http:
        for i in range(1, 61):
            answer = await http.post(
                f"{demo.base}/demo/chat", json={"room": name, "name": "Bot", "text": f"msg {i}"}
            )
            assert answer.status_code == 200
        page = await join(browser, demo.base, "Ada", name)
        # The 50 newest events: messages 11..60 (joins are presence events, on their own channel).
        bubbles = page.locator("#messages .bubble")
        await expect(bubbles).to_have_count(50)
        await expect(bubbles.first).to_contain_text("msg 11")
        await expect(bubbles.last).to_contain_text("msg 60")
        await expect(page.locator("#log tr.replayed")).to_have_count(50)

        answer = await http.post(
            f"{demo.base}/demo/chat", json={"room": name, "name": "Bot", "text": "msg 61"}
        )
        assert answer.status_code == 200
    await expect(bubbles).to_have_count(51)
    await expect(bubbles.last).to_contain_text("msg 61")
    await expect(page.locator("#messages .bubble", has_text="msg 60")).to_have_count(1)


async def test_job_progress_bar_reaches_100(demo: TidingsProcess, browser: BrowserContext) -> None:
    page = await browser.new_page()
    await page.goto(f"{demo.base}/")
    await page.click("#start-job")
    await expect(page.locator("#status")).to_have_attribute("data-status", "connected")
    bar = page.locator("#job-bar")
    await expect(bar).to_have_attribute("aria-valuenow", "100", timeout=30_000)
    await expect(page.locator("#job-label")).to_contain_text("completed in")
    await expect(page.locator("#job-percent")).to_have_text("100 %")
    events = await page.locator("#log td.event").all_inner_texts()
    assert events[0] == "job.completed"
    assert events[-1] == "job.started"
    assert events.count("job.progress") == 21


async def test_reload_mid_job_resumes_the_bar_from_history(
    demo: TidingsProcess, browser: BrowserContext
) -> None:
    page = await browser.new_page()
    await page.goto(f"{demo.base}/")
    await page.click("#start-job")
    bar = page.locator("#job-bar")
    before = await progress_at_least(page, 25)
    assert before < 100, "the job ended before the reload; the test needs it running"
    job = (await page.locator("#job-badge").inner_text()).removeprefix("demo-job-")
    await page.reload()

    # The job is found again (same tab), its past events replayed from history.
    await expect(page.locator("#job-badge")).to_have_text(f"demo-job-{job}")
    await expect(page.locator("#log tr.fresh td.event", has_text="job.started")).to_have_count(1)
    assert await progress_at_least(page, before) >= before
    await expect(bar).to_have_attribute("aria-valuenow", "100", timeout=30_000)
    await expect(page.locator("#job-label")).to_contain_text(f"Job {job} completed")
    progress = await page.locator("#log td.event", has_text="job.progress").count()
    assert progress == 21  # every step exactly once: no gap, no duplicate across the reload


async def test_invalid_input_is_refused_by_the_schema_and_shown(
    demo: TidingsProcess, browser: BrowserContext
) -> None:
    name = room()
    page = await browser.new_page()
    await page.goto(f"{demo.base}/")

    await page.fill("#name", "<script>")
    await page.fill("#room", name)
    await page.click("#join")
    await expect(page.locator("#join-error")).to_be_visible()
    await expect(page.locator("#join-error")).to_contain_text("name: use letters, digits")
    await expect(page.locator("#message")).to_be_disabled()

    await page.fill("#name", "Ada")
    await page.fill("#room", "Not A Room!")
    await page.click("#join")
    await expect(page.locator("#join-error")).to_contain_text("room: use lowercase letters")

    await page.fill("#room", name)
    await page.click("#join")
    await expect(page.locator("#join-error")).to_be_hidden()
    await expect(page.locator("#status")).to_have_attribute("data-status", "connected")

    await send(page, "   ")
    await expect(page.locator("#chat-error")).to_contain_text("text: String should have at least 1 character")
    await send(page, "x" * 501)
    await expect(page.locator("#chat-error")).to_contain_text(
        "text: String should have at most 500 characters"
    )
    await expect(page.locator("#message")).to_have_value("x" * 501)  # kept for fixing

    await send(page, "fine")
    await expect(page.locator("#chat-error")).to_be_hidden()
    await expect(page.locator("#messages .bubble")).to_have_count(1)
    assert [m["data"] for m in await chat_history(demo.base, name)] == [{"name": "Ada", "text": "fine"}]


async def test_screenshot_for_the_docs(demo: TidingsProcess, browser: BrowserContext, tmp_path: Path) -> None:
    """Renders the page mid-job; with TIDINGS_UPDATE_SCREENSHOT=1 it replaces docs/demo.png."""
    name = "lobby"
    ada = await join(browser, demo.base, "Ada", name)
    grace = await join(browser, demo.base, "Grace", name)
    await send(ada, "Hi Grace! This page is two browser tabs away from yours.")
    await expect(grace.locator(".bubble", has_text="two browser tabs")).to_have_count(1)
    await send(grace, "Hello Ada. Your message reached me over SSE, validated by the schema.")
    await expect(ada.locator(".bubble", has_text="validated by the schema")).to_have_count(1)
    await send(ada, "And if I reload, the room replays its last 50 events.")
    await expect(grace.locator(".bubble", has_text="last 50 events")).to_have_count(1)
    await ada.bring_to_front()  # a background tab would not run the bar's transition
    await ada.click("#start-job")
    await progress_at_least(ada, 55)
    await asyncio.sleep(0.4)  # let the bar's width transition settle
    target = tmp_path / "demo.png"
    await ada.screenshot(path=str(target))
    assert target.stat().st_size > 20_000
    if os.environ.get("TIDINGS_UPDATE_SCREENSHOT") == "1":
        shutil.copyfile(target, REPO / "docs" / "demo.png")
