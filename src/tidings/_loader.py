"""Finding the user's ``Realtime`` from an ``APP`` string such as ``myapp.events:realtime``.

In the core (it needs nothing optional) so that ``tidings serve`` and
``tidings schema`` load APP the same way, the latter without the server extra.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

from ._exceptions import AppLoadError as AppLoadError  # with the other errors; still importable here
from ._realtime import Realtime


def load_realtime(spec: str, *, app_dir: str | Path = ".") -> Realtime:
    """Import ``module:attribute`` (the attribute may be dotted) and return that ``Realtime``.

    ``app_dir`` is put first on ``sys.path``, as uvicorn does, so a module in
    the current directory is found without installing it.
    """
    target = load_attribute(spec, app_dir=app_dir)
    if not isinstance(target, Realtime):
        raise AppLoadError(f"{spec!r} is a {type(target).__name__}, not a tidings.Realtime")
    return target


def load_attribute(spec: str, *, app_dir: str | Path = ".") -> object:
    """Import ``module:attribute`` as ``load_realtime`` does and return the attribute, whatever it is."""
    module_name, sep, attribute = spec.partition(":")
    if not sep or not module_name or not attribute:
        raise AppLoadError(
            f"APP must look like 'module:attribute' (e.g. myapp.events:realtime), got {spec!r}"
        )
    directory = str(Path(app_dir).resolve())
    if directory not in sys.path:
        sys.path.insert(0, directory)
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and (module_name == exc.name or module_name.startswith(exc.name + ".")):
            raise AppLoadError(
                f"cannot import module {module_name!r} of APP {spec!r}: no such module"
            ) from None
        raise AppLoadError(f"importing module {module_name!r} failed: {_one_line(exc)}") from None
    except Exception as exc:
        raise AppLoadError(f"importing module {module_name!r} failed: {_one_line(exc)}") from None
    target: object = module
    for part in attribute.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise AppLoadError(f"module {module_name!r} has no attribute {attribute!r}") from None
    return target


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__
