"""The message shape every subscriber and every history read receives."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic_core import to_jsonable_python


@dataclass(frozen=True, slots=True)
class Message:
    """One event: ``id`` (``"<ms>-<seq>"``), dotted ``event`` name, ``channel``, parsed ``data``.

    The same shape as ``@upstash/realtime``'s ``HistoryMessage``; ``data`` is
    parsed into the event's schema type (a ``BaseModel`` arrives as the model).
    """

    id: str
    event: str
    channel: str
    data: Any

    def to_dict(self) -> dict[str, Any]:
        """``{id, event, channel, data}`` with ``data`` in its JSON-compatible form."""
        data = to_jsonable_python(self.data)
        return {"id": self.id, "event": self.event, "channel": self.channel, "data": data}


HistoryMessage = Message
"""History reads return the same type as live deliveries."""
