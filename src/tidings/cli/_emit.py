"""``tidings emit CHANNEL EVENT DATA``, and bulk emits from stdin.

Input forms:

    tidings emit room-1 chat.message '{"text": "hi"}'     one event, DATA is JSON
    tidings emit room-1 chat.message -  < data.jsonl      one JSON value per line, all EVENT
    tidings emit room-1 -  < events.jsonl                 one {"event": E, "data": D} per line

Blank lines are skipped. Every line is parsed (and, with --redis/--app,
validated against the schema) before anything is stored, so a bad line
stores nothing. Events go out in atomic batches of up to 1000.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Any, TextIO

import orjson

from ._errors import CliError, require, usage
from ._target import Direct, Remote, Target, failure

Item = tuple[str, Any]
BATCH = 1000


def parse_items(event: str, data: str | None, stdin: TextIO) -> list[Item]:
    if event == "-":
        if data is not None:
            raise usage('with EVENT \'-\' each stdin line is {"event": ..., "data": ...}; give no DATA')
        items = [_event_line(number, value) for number, value in _json_lines(stdin)]
    elif data is None:
        raise usage("missing DATA: a JSON value, or '-' to read one JSON value per line from stdin")
    elif data == "-":
        items = [(event, value) for _, value in _json_lines(stdin)]
    else:
        try:
            items = [(event, orjson.loads(data))]
        except orjson.JSONDecodeError as exc:
            raise usage(f"DATA is not valid JSON ({exc}); a string needs quotes: '\"text\"'") from None
    if not items:
        raise usage("stdin held no events (one JSON document per line expected)")
    return items


def _json_lines(stdin: TextIO) -> Iterable[tuple[int, Any]]:
    for number, line in enumerate(stdin, start=1):
        if not line.strip():
            continue
        try:
            yield number, orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise usage(f"stdin line {number}: invalid JSON ({exc})") from None


def _event_line(number: int, value: Any) -> Item:
    if not isinstance(value, dict) or not isinstance(value.get("event"), str) or "data" not in value:
        raise usage(
            f'stdin line {number}: expected {{"event": "<name>", "data": <json>}}, got {_short(value)}'
        )
    extra = set(value) - {"event", "data"}
    if extra:
        raise usage(
            f"stdin line {number}: unexpected field(s) {', '.join(sorted(extra))}; only event and data"
        )
    return value["event"], value["data"]


def _short(value: Any) -> str:
    text = orjson.dumps(value).decode("utf-8")
    return text if len(text) <= 60 else text[:57] + "..."


async def emit(target: Target, channel: str, items: list[Item]) -> list[str]:
    if isinstance(target, Remote):
        return await _emit_remote(target, channel, items)
    return await _emit_direct(target, channel, items)


async def _emit_direct(target: Direct, channel: str, items: list[Item]) -> list[str]:
    from tidings import TidingsError
    from tidings._waiting import notice_if_slow, waiting_for

    from ._output import to_stderr

    realtime = target.realtime()
    try:
        async with realtime, notice_if_slow(waiting_for(realtime.backend), to_stderr):
            handle = realtime.channel(channel)
            for index, (event, data) in enumerate(items):
                try:
                    realtime.schema.encode(event, data)
                except TidingsError as exc:
                    where = f"stdin event {index + 1}: " if len(items) > 1 else ""
                    raise usage(f"{where}{exc}") from None
            ids: list[str] = []
            size = min(BATCH, realtime.limits.max_batch)
            for start in range(0, len(items), size):
                ids += await handle.emit_many(items[start : start + size])
            return ids
    except TidingsError as exc:
        raise failure(exc, target) from None


async def _emit_remote(target: Remote, channel: str, items: list[Item]) -> list[str]:
    require("httpx", "client", "--url")
    from ._remote import ApiClient

    client = ApiClient(target.url, target.require_token("emitting"))
    try:
        ids: list[str] = []
        for start in range(0, len(items), BATCH):
            batch = items[start : start + BATCH]
            try:
                ids += await client.emit(channel, batch)
            except CliError as exc:
                if len(items) <= BATCH:
                    raise
                # Earlier batches were stored: say which events were not.
                where = f"events {start + 1}-{len(items)} not stored; batch {start + 1}-{start + len(batch)}"
                raise CliError(f"{where}: {exc.message}", exc.code) from None
        return ids
    finally:
        await client.aclose()


def print_ids(ids: list[str]) -> None:
    sys.stdout.write("".join(event_id + "\n" for event_id in ids))
    sys.stdout.flush()
