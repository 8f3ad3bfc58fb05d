"""The write path: appends from many tasks coalesced onto one connection."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Sequence
from typing import Any

from redis.asyncio.connection import AbstractConnection
from redis.exceptions import NoScriptError, ResponseError

from tidings._backend import Retention
from tidings._exceptions import BackendConfigurationError, BackendError, ClosedError

from ._connections import ASKING, Command, Connections, connect, pack, read_reply
from ._errors import REDIRECTS, UNREACHABLE, unavailable, wrap
from ._layout import Layout

# Bounds on one merged script call: its PUBLISH must stay far below Redis'
# Pub/Sub output-buffer limit, and one call should not stall Redis for long.
_MAX_MERGED_RECORDS = 1000
_MAX_MERGED_BYTES = 256 * 1024


class _Append:
    __slots__ = (
        "asking",
        "channel",
        "deadline",
        "future",
        "key",
        "records",
        "retention",
        "retried",
        "size",
    )

    def __init__(
        self,
        channel: str,
        key: str,
        records: Sequence[tuple[str, bytes]],
        retention: Retention,
        future: asyncio.Future[list[str]],
        deadline: float,
        asking: bool = False,
    ) -> None:
        self.channel = channel
        self.key = key
        self.records = records
        self.retention = retention
        self.future = future
        self.deadline = deadline
        self.asking = asking  # sent after ASKING: the slot is being migrated here
        self.size = sum(len(event) + len(payload) for event, payload in records)
        self.retried = False  # sent once already and bounced off NOSCRIPT


class AppendWriter:
    """Sends appends over one dedicated connection, many callers per round trip.

    While one flush is in flight, new appends queue up. The next flush takes
    all of them: appends to the same channel (with the same retention) are
    merged into one script call, in queue order, and the calls for different
    channels go out back to back as one pipeline (no MULTI: each script is
    atomic on its own). Under load, throughput grows with concurrency instead
    of being capped at one round trip per append.

    Guarantees:

    * an append's records are stored together, contiguously, in call order;
      appends to one channel are stored in the order ``append`` was called;
    * an append runs at most once (it is only resent after NOSCRIPT, which
      means it did not run), and never if its caller gave up (timeout or
      cancellation) before it was sent;
    * a caller gets ids only for records Redis stored. If the connection fails
      after the append was sent, or no reply comes within ``timeout``, it gets
      ``BackendUnavailableError``: the outcome is unknown, never reported as
      success;
    * every call ends by its deadline.

    What the writer cannot settle itself it hands back to its caller (the
    router, which retries elsewhere or later): a failed connection attempt
    fails the queued appends with the connection error (nothing was sent), and
    a Redis Cluster redirection (``MOVED``, ``ASK``, ``TRYAGAIN``,
    ``CLUSTERDOWN``) fails the appends it answered with that error (the script
    did not run).
    """

    def __init__(
        self,
        connections: Connections,
        layout: Layout,
        *,
        timeout: float,
    ) -> None:
        self._connections = connections
        self._layout = layout
        self._timeout = timeout
        self._queue: deque[_Append] = deque()
        self._in_flight: list[_Append] = []
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._watchdog: asyncio.TimerHandle | None = None
        self._watchdog_at = 0.0
        self._connection: AbstractConnection | None = None
        self._load_script = False
        self._load_error: ResponseError | None = None
        self._last_error: BaseException | None = None
        self._closed = False

    async def append(
        self,
        channel: str,
        key: str,
        records: Sequence[tuple[str, bytes]],
        retention: Retention,
        *,
        deadline: float,
        asking: bool = False,
    ) -> list[str]:
        """Store ``records`` atomically at the end of stream ``key``; their ids."""
        if self._closed:
            raise ClosedError("this RedisBackend was closed")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[list[str]] = loop.create_future()
        self._queue.append(_Append(channel, key, records, retention, future, deadline, asking))
        self._wakeup.set()
        if self._task is None:
            self._task = loop.create_task(self._run(), name="tidings-redis-writer")
        if self._watchdog is None or deadline < self._watchdog_at:
            self._arm(deadline)
        return await future

    def _arm(self, deadline: float) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
        self._watchdog = asyncio.get_running_loop().call_at(deadline, self._expire)
        self._watchdog_at = deadline

    async def aclose(self) -> None:
        self._closed = True
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        closed = ClosedError("this RedisBackend was closed")
        for pending in [*self._in_flight, *self._queue]:
            _fail(pending, closed)
        self._queue.clear()
        self._in_flight = []
        await self._drop_connection()

    # -- deadlines ------------------------------------------------------------------
    # One timer for everyone instead of a timeout per call. Deadlines mostly
    # come in queue order, but an append the router retries keeps its own.

    def _expire(self) -> None:
        self._watchdog = None
        now = asyncio.get_running_loop().time()
        oldest: float | None = None
        for pending in (*self._in_flight, *self._queue):
            if pending.future.done():
                continue
            if pending.deadline > now:
                oldest = pending.deadline if oldest is None else min(oldest, pending.deadline)
                continue
            _fail(pending, unavailable(_doing(pending), self._last_error, self._timeout))
        if oldest is not None:
            self._arm(oldest)

    # -- the writer task --------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            if not self._queue:
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            connection = await self._connect()
            if connection is None:
                continue
            batch: list[_Append] = []
            while self._queue:
                pending = self._queue.popleft()
                if not pending.future.done():
                    batch.append(pending)
            if batch:
                await self._flush(connection, batch)

    async def _connect(self) -> AbstractConnection | None:
        """The live connection; None (the queue failed) if one cannot be made now."""
        connection = self._connection
        if connection is not None:
            # Unread data or EOF on an idle connection means the server closed
            # it (restart, CLIENT KILL): reconnect before sending anything, so
            # the appends are not lost in a dead socket with an unknown outcome.
            if connection.is_connected and not await connection.can_read():
                return connection
            await self._drop_connection()
        connection = self._connections.dedicated()
        try:
            async with asyncio.timeout(self._timeout):
                await connect(connection)
                # Loading the script now also waits out a Redis that is still
                # LOADING its data after a restart: that is refused here, before
                # any append is sent.
                await self._load(connection)
        except Exception as exc:  # unreachable, or refused (auth...): nothing was sent
            self._last_error = exc
            await connection.disconnect(nowait=True)
            # The router retries what is unreachable; a refusal it raises at once.
            failure = self._connections.refusal(exc) or exc
            while self._queue:
                _fail(self._queue.popleft(), failure)
            return None
        except BaseException:  # cancelled by aclose: do not leak the socket
            await connection.disconnect(nowait=True)
            raise
        self._connection = connection
        return connection

    async def _load(self, connection: AbstractConnection) -> None:
        source = self._layout.append_script.source
        await connection.send_packed_command(
            pack([("SCRIPT", "LOAD", source)], connection), check_health=False
        )
        self._loaded(await read_reply(connection))

    def _loaded(self, reply: Any) -> None:
        """Note the outcome of SCRIPT LOAD; appends that get NOSCRIPT report a refusal."""
        self._load_script = False
        self._load_error = reply if isinstance(reply, ResponseError) else None

    async def _flush(self, connection: AbstractConnection, batch: list[_Append]) -> None:
        calls = _merge(batch)
        commands: list[Command] = []
        script = self._layout.append_script
        loading = self._load_script
        if loading:  # the script was flushed from Redis (SCRIPT FLUSH)
            commands.append(("SCRIPT", "LOAD", script.source))
        for call in calls:
            first = call[0]
            records = [record for pending in call for record in pending.records]
            args = self._layout.append_args(first.channel, records, first.retention)
            if first.asking:
                commands.append(ASKING)
            commands.append(script.evalsha([first.key], args))
        self._in_flight = batch
        retry: list[_Append] = []
        done = 0
        try:
            await connection.send_packed_command(pack(commands, connection), check_health=False)
            if loading:
                self._loaded(await read_reply(connection))
            for call in calls:
                if call[0].asking:
                    await read_reply(connection)  # +OK, or an error the script call repeats
                reply = await read_reply(connection)
                done += 1
                self._settle(call, reply, retry)
        except UNREACHABLE as exc:
            self._last_error = exc
            await self._drop_connection()
            for call in calls[done:]:
                for pending in call:
                    _fail(pending, unavailable(f"{_doing(pending)} (it may have been stored)", exc))
        except Exception as exc:  # a bug or an unexpected reply: fail loudly, start afresh
            await self._drop_connection()
            failed = BackendError(f"the Redis writer failed: {type(exc).__name__}: {exc}")
            failed.__cause__ = exc
            for call in calls[done:]:
                for pending in call:
                    _fail(pending, failed)
        # Not in a finally: if the task is cancelled (aclose), the callers still
        # in flight are failed by aclose.
        self._in_flight = []
        if retry:
            # NOSCRIPT means nothing ran: send the same appends again, first.
            self._load_script = True
            self._queue.extendleft(reversed(retry))

    def _settle(self, call: list[_Append], reply: Any, retry: list[_Append]) -> None:
        if isinstance(reply, REDIRECTS):
            for pending in call:
                _fail(pending, reply)  # the script did not run: the router sends it elsewhere
            return
        if isinstance(reply, NoScriptError):
            for pending in call:
                if self._load_error is not None:
                    _fail(pending, _refused(_doing(pending), self._load_error))
                elif pending.retried:
                    _fail(pending, wrap(_doing(pending), reply))
                else:
                    pending.retried = True
                    retry.append(pending)
            return
        if isinstance(reply, ResponseError):
            for pending in call:
                _fail(pending, wrap(_doing(pending), reply))
            return
        position = 0
        for pending in call:
            count = len(pending.records)
            if not pending.future.done():
                pending.future.set_result([raw.decode() for raw in reply[position : position + count]])
            position += count

    async def _drop_connection(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            await connection.disconnect(nowait=True)


def _merge(batch: list[_Append]) -> list[list[_Append]]:
    """Group appends into script calls, keeping each channel's appends in call order.

    An append joins the latest call for its stream if that call has the same
    retention and room left; otherwise it starts a new call, which becomes
    the one later appends to that stream may join.
    """
    calls: list[list[_Append]] = []
    latest: dict[str, tuple[list[_Append], list[int]]] = {}
    for pending in batch:
        current = latest.get(pending.key)
        if current is not None:
            call, totals = current
            if (
                call[0].retention == pending.retention
                and call[0].asking == pending.asking
                and totals[0] + len(pending.records) <= _MAX_MERGED_RECORDS
                and totals[1] + pending.size <= _MAX_MERGED_BYTES
            ):
                call.append(pending)
                totals[0] += len(pending.records)
                totals[1] += pending.size
                continue
        call = [pending]
        calls.append(call)
        latest[pending.key] = (call, [len(pending.records), pending.size])
    return calls


def _doing(pending: _Append) -> str:
    return f"appending to channel {pending.channel!r}"


def _refused(doing: str, error: ResponseError) -> BackendError:
    refused = BackendConfigurationError(
        f"Redis refused tidings' append script while {doing} (the Redis backend needs "
        f"Redis >= 7.0 with scripting allowed): {error}"
    )
    refused.__cause__ = error
    return refused


def _fail(pending: _Append, error: BaseException) -> None:
    if not pending.future.done():
        pending.future.set_exception(error)
