"""Channel and event names: the fast path for printable ASCII agrees with the character rules."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from tidings._limits import _first_forbidden, _forbidden


@given(st.text(alphabet=st.characters(max_codepoint=0x7F)) | st.text())
def test_fast_path_agrees_with_the_per_character_rule(name: str) -> None:
    slow = next((index for index, char in enumerate(name) if _forbidden(char)), None)
    found = _first_forbidden(name)
    if slow is None:
        assert found is None
    else:
        assert found is not None and f"at index {slow}" in found


def test_every_ascii_character_is_judged_as_before() -> None:
    for code in range(128):
        char = chr(code)
        assert (_first_forbidden(f"a{char}b") is None) == (not _forbidden(char)), repr(char)
