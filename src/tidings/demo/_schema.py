"""The demo's events, as pydantic models: the schema is the validation.

What the page sends becomes the data of an emit, so an empty or oversized
message or a malformed name is refused by the schema -- with a message
naming the event and the field -- before anything is stored.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

Name = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=24, pattern=r"^[\w][\w .'-]*$"),
    Field(description="a display name: letters, digits, spaces, . ' - _ ; at most 24 characters"),
]
Room = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, to_lower=True, min_length=1, max_length=32, pattern=r"^[a-z0-9-]+$"
    ),
    Field(description="a room name: lowercase letters, digits and '-'"),
]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
JobId = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{12}$")]

HISTORY_ON_JOIN = 50
MAX_MESSAGE_CHARS = 500


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ChatMessage(_Strict):
    name: Name
    text: Text


class JobStarted(_Strict):
    job: JobId
    steps: int = Field(ge=1, le=1000)


class JobProgress(_Strict):
    job: JobId
    progress: int = Field(ge=0, le=100)


class JobCompleted(_Strict):
    job: JobId
    duration_ms: int = Field(ge=0)


DEMO_SCHEMA: dict[str, Any] = {
    "chat": {"message": ChatMessage},
    "job": {"started": JobStarted, "progress": JobProgress, "completed": JobCompleted},
}


class JobRequest(_Strict):
    """Body of ``POST /demo/job``: how long the job runs."""

    seconds: float = Field(default=6.0, ge=0.5, le=60.0)


ROOM_PREFIX = "demo-room-"


def room_channel(room: str) -> str:
    return ROOM_PREFIX + room


def job_channel(job: str) -> str:
    return f"demo-job-{job}"
