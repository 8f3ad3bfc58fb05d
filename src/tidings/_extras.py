"""Optional dependencies: what to install when one is missing."""

from __future__ import annotations

import importlib


def require_extra(module: str, extra: str, what: str) -> None:
    """Import ``module``, or raise ``ModuleNotFoundError`` naming ``pip install 'tidings[extra]'``.

    Only the dependency itself is imported here, so an ``ImportError`` raised by
    tidings' own code is never mistaken for a missing extra.
    """
    try:
        importlib.import_module(module)
    except ImportError as exc:
        raise ModuleNotFoundError(
            f"{what} needs the {extra} extra: pip install 'tidings[{extra}]' ({exc})", name=exc.name
        ) from exc
