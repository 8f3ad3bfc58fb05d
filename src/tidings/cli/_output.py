"""Printing messages: JSON lines for programs, aligned colour for people (rich, loaded on first use)."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from rich.console import Console
    from rich.text import Text

    from tidings import Member, Message


def json_line(message: Message) -> str:
    """``{"id", "event", "channel", "data"}`` on one line, the shape of a history entry."""
    return orjson.dumps(message.to_dict()).decode("utf-8")


def data_text(data: Any) -> str:
    return orjson.dumps(data, default=str).decode("utf-8")


def clock(event_id: str) -> str:
    """The local time an id was stored at: ``HH:MM:SS.mmm`` (ids start with Unix ms)."""
    ms = int(event_id.partition("-")[0])
    return datetime.fromtimestamp(ms / 1000).strftime("%H:%M:%S.%f")[:-3]


class Printer:
    """Writes messages to stdout as they come, flushing each, so a pipe sees them at once."""

    def __init__(self, *, as_json: bool) -> None:
        self.as_json = as_json
        self._console: Console | None = None

    @property
    def console(self) -> Console:
        if self._console is None:
            from rich.console import Console

            self._console = Console(highlight=False, soft_wrap=True)
        return self._console

    def message(self, message: Message) -> None:
        if self.as_json:
            sys.stdout.write(json_line(message) + "\n")
            sys.stdout.flush()
            return
        self.console.print(_line(message))

    def messages(self, channel: str, messages: Sequence[Message]) -> None:
        """A history read: JSON lines, or a table for people."""
        if self.as_json:
            sys.stdout.write("".join(json_line(m) + "\n" for m in messages))
            sys.stdout.flush()
            return
        if not messages:
            self.console.print(f"no events in channel {channel!r} for this query", style="dim")
            return
        from rich.table import Table

        table = Table(title=f"{channel}: {len(messages)} event(s), oldest first", title_justify="left")
        table.add_column("time", style="dim", no_wrap=True)
        table.add_column("id", style="dim", no_wrap=True)
        table.add_column("event", style="bold magenta", no_wrap=True)
        table.add_column("data", overflow="fold")
        for m in messages:
            table.add_row(clock(m.id), m.id, m.event, data_text(m.to_dict()["data"]))
        self.console.print(table)

    def members(self, channel: str, members: Sequence[Member], total: int) -> None:
        """Presence: one JSON line per member, or a table for people."""
        if self.as_json:
            sys.stdout.write("".join(orjson.dumps(m.to_dict()).decode() + "\n" for m in members))
            sys.stdout.flush()
            return
        if not members:
            self.console.print(f"nobody is present on channel {channel!r}", style="dim")
            return
        from rich.table import Table

        shown = "" if total == len(members) else f" ({len(members)} shown)"
        table = Table(title=f"{channel}: {total} member(s){shown}, earliest first", title_justify="left")
        table.add_column("since", style="dim", no_wrap=True)
        table.add_column("client id", style="bold cyan", no_wrap=True)
        table.add_column("info", overflow="fold")
        for m in members:
            table.add_row(_since(m.since), m.client_id, data_text(m.info))
        self.console.print(table)

    def note(self, text: str) -> None:
        """A remark for people, on stderr (never mixed into JSON output)."""
        to_stderr(text)


def to_stderr(text: str) -> None:
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


def _since(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000).strftime("%Y-%m-%d %H:%M:%S")


def _line(message: Message) -> Text:
    from rich.text import Text

    line = Text()
    line.append(clock(message.id), style="dim")
    line.append("  ")
    line.append(message.channel, style="cyan")
    line.append("  ")
    line.append(message.event, style="bold magenta")
    line.append("  ")
    line.append(message.id, style="dim")
    line.append("  ")
    line.append(data_text(message.to_dict()["data"]))
    return line
