"""Stream-style ids: parsing, ordering, and a clock that never goes backwards."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tidings import InvalidArgumentError
from tidings._ids import MAX_PART, IdClock, format_id, parse_id


def test_parse_and_format_round_trip() -> None:
    assert parse_id("1700000000000-5") == (1700000000000, 5)
    assert format_id((1700000000000, 5)) == "1700000000000-5"


@pytest.mark.parametrize("bad", ["", "5", "a-b", "1-", "-1", "1-2-3", " 1-2", "1-2\n", f"{MAX_PART + 1}-0"])
def test_malformed_ids_are_rejected(bad: str) -> None:
    with pytest.raises(InvalidArgumentError, match="cursor"):
        parse_id(bad, argument="cursor")


def test_ids_compare_as_numbers_not_strings() -> None:
    assert parse_id("9-0") < parse_id("10-0")
    assert parse_id("10-9") < parse_id("10-10")


def test_clock_standing_still_counts_the_sequence_up() -> None:
    clock = IdClock(clock=lambda: 1000)
    assert [clock.next() for _ in range(3)] == [(1000, 0), (1000, 1), (1000, 2)]


def test_clock_stepping_back_never_produces_a_lower_id() -> None:
    times = iter([1000, 1005, 990, 990, 1006])
    clock = IdClock(clock=lambda: next(times))
    assert [clock.next() for _ in range(5)] == [(1000, 0), (1005, 0), (1005, 1), (1005, 2), (1006, 0)]


@given(st.lists(st.integers(min_value=0, max_value=2**45), min_size=1, max_size=200))
def test_ids_strictly_increase_whatever_the_clock_does(readings: list[int]) -> None:
    it = iter(readings)
    clock = IdClock(clock=lambda: next(it))
    keys = [clock.next() for _ in readings]
    assert all(a < b for a, b in zip(keys, keys[1:], strict=False))
    assert all(parse_id(format_id(k)) == k for k in keys)
