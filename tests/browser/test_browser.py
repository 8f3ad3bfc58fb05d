"""The official @upstash/realtime client and a plain EventSource, in Chromium, against tidings.asgi."""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import quote

from playwright.async_api import BrowserContext, Page

from tidings import Realtime
from tidings.asgi import TokenAuth

from .app_process import AppProcess
from .serve_app import TOKEN_SECRET

TIMEOUT_MS = 20_000


async def open_page(browser: BrowserContext, url: str) -> tuple[Page, list[str]]:
    page = await browser.new_page()
    console: list[str] = []
    page.on("console", lambda message: console.append(message.text))
    await page.goto(url)
    return page, console


async def events(page: Page) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = await page.evaluate("window.__events")
    return found


async def wait_for_events(page: Page, count: int) -> list[dict[str, Any]]:
    await page.wait_for_function(f"window.__events.length >= {count}", timeout=TIMEOUT_MS)
    await asyncio.sleep(0.3)  # anything beyond ``count`` would be a duplicate: let it show
    return await events(page)


def by_channel(found: list[dict[str, Any]]) -> dict[str, list[Any]]:
    grouped: dict[str, list[Any]] = {}
    for event in found:
        grouped.setdefault(event["channel"], []).append(event["data"]["n"])
    return grouped


async def test_python_emits_reach_the_react_client_on_two_channels(
    app: AppProcess, browser: BrowserContext, emitter: Realtime
) -> None:
    # A channel name the client must URL-encode, in "channel=" and in "last_ack_<name>=".
    odd = "alerts:\u00fc/1&x"
    page, console = await open_page(browser, f"{app.url}/index.html?channels=orders,{quote(odd)}")
    await page.wait_for_function("window.__status === 'connected'", timeout=TIMEOUT_MS)
    for n in range(3):
        await emitter.channel("orders").emit("order.created", {"n": n, "total": 9.5})
        await emitter.channel(odd).emit("alert", {"n": n})
    found = await wait_for_events(page, 6)
    assert by_channel(found) == {"orders": [0, 1, 2], odd: [0, 1, 2]}, console
    assert {e["event"] for e in found if e["channel"] == "orders"} == {"order.created"}
    assert found[0] == {"event": "order.created", "data": {"n": 0, "total": 9.5}, "channel": "orders"}
    await page.wait_for_selector("#status >> text=connected")


async def resume_after(
    app: AppProcess, browser: BrowserContext, emitter: Realtime, url: str, stop: str
) -> tuple[list[dict[str, Any]], list[str]]:
    """Emit 3 per channel, stop the server process, emit 3 more, restart it, emit 3 more."""
    page, console = await open_page(browser, url)
    await page.wait_for_function("window.__opens >= 1 || window.__status === 'connected'", timeout=TIMEOUT_MS)
    n = 0

    async def emit_round() -> None:
        nonlocal n
        for _ in range(3):
            await emitter.channel("a").emit("tick", {"n": n})
            await emitter.channel("b").emit("tick", {"n": n})
            n += 1

    await emit_round()
    await wait_for_events(page, 6)
    if stop == "kill":
        await asyncio.to_thread(app.kill)
    else:
        await asyncio.to_thread(app.terminate)
    await emit_round()  # while no server runs: history must carry these
    await asyncio.sleep(0.5)
    await asyncio.to_thread(app.start)
    await emit_round()
    return await wait_for_events(page, 18), console


async def test_react_client_resumes_after_the_server_process_is_killed(
    app: AppProcess, browser: BrowserContext, emitter: Realtime
) -> None:
    # The browser's own EventSource reconnects to the original URL; the
    # Last-Event-ID cursor, not the stale last_ack_*, decides the replay.
    found, console = await resume_after(
        app, browser, emitter, f"{app.url}/index.html?channels=a,b&attempts=10", "kill"
    )
    assert by_channel(found) == {"a": list(range(9)), "b": list(range(9))}, console


async def test_react_client_resumes_after_a_graceful_restart(
    app: AppProcess, browser: BrowserContext, emitter: Realtime
) -> None:
    # SIGTERM: the server sends "reconnect"; the library then reconnects by
    # itself with last_ack_<channel> = the last id it saw.
    found, console = await resume_after(
        app, browser, emitter, f"{app.url}/index.html?channels=a,b&attempts=10", "terminate"
    )
    assert by_channel(found) == {"a": list(range(9)), "b": list(range(9))}, console


async def test_official_client_is_unchanged_while_presence_is_active_on_its_channels(
    app: AppProcess, browser: BrowserContext, emitter: Realtime
) -> None:
    # The page's own stream is present (/api/present?user=ada) and others join
    # and leave all along: the page asked for a and b, not their presence
    # channels, so it must get exactly the ticks, resuming across a kill -9
    # of the server with no gap and no duplicate.
    stop = asyncio.Event()

    async def churn() -> None:
        n = 0
        while not stop.is_set():
            for channel in ("a", "b"):
                async with emitter.channel(channel).enter(f"bot-{n % 5}", {"n": n}):
                    await asyncio.sleep(0.02)
            n += 1

    churning = asyncio.create_task(churn())
    try:
        api = quote("/api/present?user=ada", safe="")
        found, console = await resume_after(
            app, browser, emitter, f"{app.url}/index.html?api={api}&channels=a,b&attempts=10", "kill"
        )
    finally:
        stop.set()
        await churning
    assert by_channel(found) == {"a": list(range(9)), "b": list(range(9))}, console
    assert {event["event"] for event in found} == {"tick"}
    # The page's stream is present, and the presence channels did fill up meanwhile.
    assert "ada" in [member.client_id for member in await emitter.channel("a").presence()]
    assert len(await emitter.channel("a").presence_channel.history()) > 10


async def test_plain_eventsource_resumes_after_the_server_process_is_killed(
    app: AppProcess, browser: BrowserContext, emitter: Realtime
) -> None:
    found, console = await resume_after(app, browser, emitter, f"{app.url}/plain.html?channels=a,b", "kill")
    assert by_channel(found) == {"a": list(range(9)), "b": list(range(9))}, console


async def test_plain_eventsource_resumes_through_last_event_id_when_streams_end(
    app: AppProcess, browser: BrowserContext, emitter: Realtime
) -> None:
    # /api/short closes every stream after 1 s; a plain EventSource reconnects
    # on its own, sending only Last-Event-ID (its URL has no last_ack at all).
    page, console = await open_page(browser, f"{app.url}/plain.html?api=/api/short&channels=a,b")
    await page.wait_for_function("window.__opens >= 1", timeout=TIMEOUT_MS)
    for n in range(60):
        await emitter.channel("a" if n % 3 else "b").emit("tick", {"n": n})
        await asyncio.sleep(0.05)
    found = await wait_for_events(page, 60)
    assert sorted(e["data"]["n"] for e in found) == list(range(60)), console
    grouped = by_channel(found)
    assert grouped["a"] == sorted(grouped["a"]) and grouped["b"] == sorted(grouped["b"])
    assert await page.evaluate("window.__opens") >= 3
    assert await page.evaluate("window.__reconnectFrames") >= 2


async def test_middleware_rejection_shows_as_error_status(app: AppProcess, browser: BrowserContext) -> None:
    page, console = await open_page(
        browser, f"{app.url}/index.html?api=/api/guarded&channels=secret-1&attempts=1"
    )
    await page.wait_for_function("window.__status === 'error'", timeout=TIMEOUT_MS)
    statuses = await page.evaluate("window.__statuses")
    assert "connected" not in statuses, (statuses, console)
    assert await events(page) == []


async def test_token_in_the_api_url_authorizes_the_react_client(
    app: AppProcess, browser: BrowserContext, emitter: Realtime
) -> None:
    auth = TokenAuth(TOKEN_SECRET)
    api = quote(f"/api/token?token={auth.issue(['a', 'b'], ttl=300)}", safe="")
    page, console = await open_page(browser, f"{app.url}/index.html?api={api}&channels=a,b")
    await page.wait_for_function("window.__status === 'connected'", timeout=TIMEOUT_MS)
    await emitter.channel("a").emit("tick", {"n": 0})
    await emitter.channel("b").emit("tick", {"n": 0})
    assert by_channel(await wait_for_events(page, 2)) == {"a": [0], "b": [0]}, console
    wrong = quote(f"/api/token?token={auth.issue(['a'], ttl=300)}", safe="")
    refused, _ = await open_page(browser, f"{app.url}/index.html?api={wrong}&channels=a,b&attempts=1")
    await refused.wait_for_function("window.__status === 'error'", timeout=TIMEOUT_MS)
