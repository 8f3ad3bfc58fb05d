"""``/metrics`` of ``tidings serve``: the numbers match what the test did, exactly.

Scraped while streams are open and emits run, under uvicorn and ``--native``;
with ``--workers 2``, whichever worker answers reports the sum over both.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack

import httpx

from tidings.ops._share import DEFAULT_SHARE_INTERVAL

from .conftest import TOKEN
from .processes import TidingsProcess, cli_env

APP = "tests.cli.sample_app:realtime"
AUTH = {"authorization": f"Bearer {TOKEN}"}

Numbers = dict[str, float]


def parse(text: str) -> Numbers:
    """Prometheus text as ``{"name{labels}": value}``."""
    numbers: Numbers = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            numbers[name] = float(value)
    return numbers


async def scrape(base: str) -> Numbers:
    # A new connection each time: with workers, any of them may answer.
    async with httpx.AsyncClient(timeout=10) as http:
        response = await http.get(f"{base}/metrics")
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("text/plain")
        return parse(response.text)


async def scrape_until(base: str, done: Callable[[Numbers], bool], timeout: float = 10) -> Numbers:
    deadline = time.monotonic() + timeout
    while True:
        numbers = await scrape(base)
        if done(numbers):
            return numbers
        assert time.monotonic() < deadline, numbers
        await asyncio.sleep(0.1)


def delta(after: Numbers, before: Numbers, name: str) -> float:
    return after.get(name, 0.0) - before.get(name, 0.0)


class Streams:
    """Open SSE streams, each read into its own text."""

    def __init__(self, http: httpx.AsyncClient, stack: AsyncExitStack, url: str) -> None:
        self.http, self.stack, self.url = http, stack, url
        self.texts: list[str] = []
        self._chunks: list[AsyncIterator[str]] = []

    async def open(self, *channels: str) -> None:
        response = await self.stack.enter_async_context(
            self.http.stream("GET", self.url, params=[("channel", channel) for channel in channels])
        )
        assert response.status_code == 200
        chunks = response.aiter_text()
        self._chunks.append(chunks)
        self.texts.append(await anext(chunks))

    async def read_until(self, index: int, events: int) -> None:
        async with asyncio.timeout(10):
            while self.texts[index].count("counter.tick") < events:
                self.texts[index] += await anext(self._chunks[index])


async def emit(http: httpx.AsyncClient, base: str, body: dict[str, object], status: int = 200) -> None:
    response = await http.post(f"{base}/api/realtime/emit", json=body, headers=AUTH)
    assert response.status_code == status, response.text


async def test_the_numbers_match_what_was_done(server: TidingsProcess, flags: tuple[str, ...]) -> None:
    base = server.base
    before = await scrape(base)
    async with AsyncExitStack() as stack:
        http = await stack.enter_async_context(httpx.AsyncClient(timeout=10))
        streams = Streams(http, stack, f"{base}/api/realtime")
        for _ in range(3):
            await streams.open("m")
        await streams.open("m", "n")
        # Under both servers, the four streams on "m" share its channel tap ("n" has one stream: no tap).
        await scrape_until(base, lambda n: n["tidings_tap_members"] == 4)
        for value in range(5):
            await emit(http, base, {"channel": "m", "event": "counter.tick", "data": value})
        await emit(
            http, base, {"channel": "n", "events": [{"event": "counter.tick", "data": i} for i in range(3)]}
        )
        await emit(http, base, {"channel": "m", "event": "counter.tick", "data": "not an int"}, status=422)
        refused = await http.get(f"{base}/api/realtime", params={"channel": "no spaces"})
        assert refused.status_code == 400
        history = await http.get(f"{base}/api/realtime/history", params={"channel": "m"}, headers=AUTH)
        assert history.status_code == 200
        for index in range(3):
            await streams.read_until(index, 5)
        await streams.read_until(3, 8)

        during = await scrape(base)
        assert during["tidings_open_streams"] == 4
        assert during["tidings_open_subscriptions"] == 5
        assert delta(during, before, "tidings_streams_opened_total") == 4
        # 5 events to each of the four streams on m, 3 more to the one also on n.
        assert delta(during, before, "tidings_deliveries_total") == 5 * 4 + 3
        assert delta(during, before, "tidings_emits_total") == 8
        # Six emit calls succeeded (one a batch of three); one was refused by the schema.
        assert delta(during, before, "tidings_emit_duration_seconds_count") == 6
        assert delta(during, before, 'tidings_emit_duration_seconds_bucket{le="+Inf"}') == 6
        assert delta(during, before, 'tidings_emit_errors_total{type="InvalidDataError"}') == 1
        assert delta(during, before, 'tidings_refusals_total{status="400"}') == 1
        assert delta(during, before, "tidings_history_reads_total") == 1
        assert delta(during, before, "tidings_events_lost_notices_total") == 0
        assert delta(during, before, "tidings_catch_ups_total") == 0
        assert during["tidings_open_taps"] == 1
        assert during["tidings_tap_members"] == 4
        assert during["tidings_backend_pubsub_connections"] == 1
    after = await scrape_until(base, lambda n: n["tidings_open_streams"] == 0)
    assert after["tidings_open_subscriptions"] == 0
    assert after["tidings_open_taps"] == 0
    assert after["tidings_tap_members"] == 0


async def test_workers_report_the_sum_over_all_of_them(redis_url: str, flags: tuple[str, ...]) -> None:
    server = TidingsProcess(
        "serve", APP, "--port", "0", "--workers", "2", "--api-token", TOKEN, *flags,
        env=cli_env(SAMPLE_REDIS_URL=redis_url),
    ).start()  # fmt: skip
    try:
        base = server.base
        async with AsyncExitStack() as stack:
            http = await stack.enter_async_context(httpx.AsyncClient(timeout=10))
            streams = Streams(http, stack, f"{base}/api/realtime")
            for _ in range(6):
                # A client each: its own connection, to whichever worker accepts it.
                own = await stack.enter_async_context(httpx.AsyncClient(timeout=10))
                streams.http = own
                await streams.open("w")
            for value in range(4):
                async with httpx.AsyncClient(timeout=10) as once:
                    await emit(once, base, {"channel": "w", "event": "counter.tick", "data": value})
            for index in range(6):
                await streams.read_until(index, 4)

            def summed(numbers: Numbers) -> bool:
                return (
                    numbers["tidings_open_streams"] == 6
                    and numbers["tidings_deliveries_total"] == 24
                    and numbers["tidings_emits_total"] == 4
                )

            # Another worker's numbers are at most DEFAULT_SHARE_INTERVAL old: past
            # that, whichever worker answers has the exact sum.
            await asyncio.sleep(DEFAULT_SHARE_INTERVAL * 1.5)
            for _ in range(6):
                numbers = await scrape(base)
                assert summed(numbers), numbers
                assert numbers["tidings_workers"] == 2
                assert numbers["tidings_streams_opened_total"] == 6
    finally:
        assert server.stop() == 0, server.errors
