"""Schemas shared by the contract tests (the one of the issue and the Upstash docs)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class Progress(BaseModel):
    progress: int


class ChatMessage(BaseModel):
    text: str
    author: str


class Alert(BaseModel):
    message: str
    priority: str
    userId: str


SCHEMA: dict[str, Any] = {
    "notification": {"alert": str, "urgent": Alert},
    "chat": {"message": ChatMessage},
    "user": {"joined": str, "left": str},
    "job": {"started": Progress, "progress": Progress, "completed": Progress},
    "announcement": str,
    "webhook": {"received": dict[str, Any]},
    "tick": int,
}
