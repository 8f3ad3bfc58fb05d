"""The positive-number checks every option shares, so they refuse alike.

A ``bool`` is refused although it is an ``int``: ``max_length=True`` is a
mistake, not 1. ``not value > 0`` (rather than ``value <= 0``) also refuses
NaN, which compares false with everything.
"""

from __future__ import annotations

from typing import TypeGuard

from ._exceptions import InvalidArgumentError


def positive_seconds(name: str, value: object) -> float:
    """``value`` as a float if it is a positive number (of seconds), else ``InvalidArgumentError``."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise InvalidArgumentError(name, f"must be a positive number of seconds, got {value!r}")
    return float(value)


def positive_int(name: str, value: object) -> int:
    """``value`` if it is an int of at least 1, else ``InvalidArgumentError``."""
    if not _is_positive_int(value):
        raise InvalidArgumentError(name, f"must be a positive int, got {value!r}")
    return value


def positive_int_or_none(name: str, value: object) -> int | None:
    """``positive_int`` for options where None means "no limit"."""
    if value is not None and not _is_positive_int(value):
        raise InvalidArgumentError(name, f"must be a positive int or None, got {value!r}")
    return value


def _is_positive_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1
