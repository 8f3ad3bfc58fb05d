"""What the browser and nginx tests need from the machine: skip with the reason on a
developer's machine without it, fail in CI (``TIDINGS_REQUIRE_ALL=1``, set by .ci/run;
``TIDINGS_REQUIRE_BROWSER=1`` is its older name), where a skip would hide a missing
install step."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.support.chromium import CHROMIUM

BROWSER_NODE_MODULES = Path(__file__).resolve().parents[1] / "browser" / "node_modules"
TYPESCRIPT_DIR = Path(__file__).resolve().parents[1] / "typescript"


REQUIRE_ALL = "TIDINGS_REQUIRE_ALL"
NGINX = "/usr/sbin/nginx"  # Debian's nginx package


def _required() -> bool:
    return "1" in (os.environ.get(REQUIRE_ALL), os.environ.get("TIDINGS_REQUIRE_BROWSER"))


def need(present: bool, what: str) -> None:
    """Skip (or, in CI, fail) the calling test unless ``present``; ``what`` says what is missing."""
    if present:
        return
    reason = f"{what} is not installed here (scripts/bootstrap installs it as root)"
    if _required():
        pytest.fail(f"{reason}; {REQUIRE_ALL}=1 forbids skipping", pytrace=False)
    pytest.skip(reason)


def need_chromium() -> None:
    need(Path(CHROMIUM).exists(), f"Chromium ({CHROMIUM})")


def need_node() -> str:
    node = shutil.which("node")
    need(node is not None, "Node.js")
    assert node is not None
    return node


def need_browser_bundle() -> None:
    need_node()
    need((BROWSER_NODE_MODULES / ".bin" / "esbuild").exists(), "tests/browser/node_modules (npm ci)")


def need_typescript() -> Path:
    """tests/typescript/node_modules (tsc, zod, esbuild, @upstash/realtime); returns its .bin."""
    need_node()
    bin_dir = TYPESCRIPT_DIR / "node_modules" / ".bin"
    present = all((bin_dir / tool).exists() for tool in ("tsc", "esbuild"))
    need(present, "tests/typescript/node_modules (npm ci --prefix tests/typescript)")
    return bin_dir


def need_systemd_analyze() -> str:
    found = shutil.which("systemd-analyze")
    need(found is not None, "systemd-analyze (Debian package systemd)")
    assert found is not None
    return found


def need_nginx() -> str:
    need(Path(NGINX).exists(), f"nginx ({NGINX})")
    return NGINX
