"""Server-side demo jobs: asyncio tasks that report progress as events on their own channel."""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from typing import TYPE_CHECKING

from ._schema import job_channel

if TYPE_CHECKING:
    from tidings._realtime import Realtime

logger = logging.getLogger("tidings.demo")

STEPS = 20


class TooManyJobsError(Exception):
    """More jobs are running than the demo allows."""


class Jobs:
    """Starts jobs, keeps their tasks, cancels what is left on ``aclose()``."""

    def __init__(self, realtime: Realtime, *, max_running: int = 16) -> None:
        self._realtime = realtime
        self._max_running = max_running
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def running(self) -> int:
        return len(self._tasks)

    async def start(self, seconds: float) -> str:
        """Emit ``job.started`` now, then progress in the background; return the job id."""
        if len(self._tasks) >= self._max_running:
            raise TooManyJobsError(
                f"{len(self._tasks)} jobs are running; the demo allows {self._max_running}"
            )
        job = secrets.token_hex(6)
        channel = self._realtime.channel(job_channel(job))
        # Emitted before returning, so a page that subscribes with history
        # right after the response always finds the job.
        await channel.emit("job.started", {"job": job, "steps": STEPS})
        task = asyncio.get_running_loop().create_task(self._run(job, seconds), name=f"tidings-demo-job:{job}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return job

    async def _run(self, job: str, seconds: float) -> None:
        channel = self._realtime.channel(job_channel(job))
        began = time.monotonic()
        try:
            for step in range(STEPS + 1):
                await channel.emit("job.progress", {"job": job, "progress": step * 100 // STEPS})
                if step < STEPS:
                    await asyncio.sleep(seconds / STEPS)
            duration_ms = int((time.monotonic() - began) * 1000)
            await channel.emit("job.completed", {"job": job, "duration_ms": duration_ms})
        except Exception:
            logger.exception("tidings demo: job %s failed", job)

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
