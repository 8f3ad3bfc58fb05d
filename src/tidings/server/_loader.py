"""``load_realtime`` lives in the core (``tidings._loader``); the server imports it from here."""

from __future__ import annotations

from tidings._loader import AppLoadError, load_realtime

__all__ = ["AppLoadError", "load_realtime"]
