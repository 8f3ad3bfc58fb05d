"""Browser and nginx tests skip on a developer's machine without Chromium/npm/nginx, and fail in CI."""

from __future__ import annotations

import pytest

from tests.support.requirements import need


def test_a_missing_piece_skips_saying_what(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TIDINGS_REQUIRE_BROWSER", raising=False)
    monkeypatch.delenv("TIDINGS_REQUIRE_ALL", raising=False)
    with pytest.raises(pytest.skip.Exception, match="Chromium .* is not installed"):
        need(False, "Chromium (/nowhere)")


@pytest.mark.parametrize("variable", ["TIDINGS_REQUIRE_ALL", "TIDINGS_REQUIRE_BROWSER"])
def test_ci_turns_the_skip_into_a_failure(monkeypatch: pytest.MonkeyPatch, variable: str) -> None:
    monkeypatch.delenv("TIDINGS_REQUIRE_BROWSER", raising=False)
    monkeypatch.delenv("TIDINGS_REQUIRE_ALL", raising=False)
    monkeypatch.setenv(variable, "1")
    with pytest.raises(pytest.fail.Exception, match="forbids skipping"):
        need(False, "nginx")


def test_a_present_piece_does_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIDINGS_REQUIRE_BROWSER", "1")
    need(True, "Node.js")
