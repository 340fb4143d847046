"""Range and RangeSet against a model: a Python set of the addresses they hold.

Addresses are small (ranges of up to 64 within [0, 4096)) so that the model is a
plain set of ints; the same ranges shifted near 2**63 and up to 2**64 check that
nothing depends on fixed-width arithmetic and that a range may end at 2**64.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pmpoolctl.ranges.rangeset import Range, RangeSet

SPACE = 4096
MAX_SIZE = 64
TOP = 1 << 64
# Offsets that put [0, SPACE) at the bottom, across 2**32, across 2**63, and flush with 2**64.
SHIFTS = (0, (1 << 32) - SPACE // 2, (1 << 63) - SPACE // 2, TOP - SPACE)

PROPERTY = settings(max_examples=200, deadline=None)


@st.composite
def small_ranges(draw: st.DrawFn, min_size: int = 0) -> Range:
    size = draw(st.integers(min_size, MAX_SIZE))
    base = draw(st.integers(0, SPACE - size))
    return Range(base, size)


range_lists = st.lists(small_ranges(), max_size=12)


@st.composite
def shifted_range_lists(draw: st.DrawFn, count: int) -> list[list[Range]]:
    """`count` lists of small ranges, all moved by one shift (possibly up against 2**64)."""
    shift = draw(st.sampled_from(SHIFTS))
    return [[Range(r.base + shift, r.size) for r in draw(range_lists)] for _ in range(count)]


def addresses(ranges: Iterable[Range]) -> set[int]:
    return {a for r in ranges for a in range(r.base, r.end)}


def model_ranges(model: set[int]) -> list[Range]:
    """The maximal runs of consecutive addresses in `model`: the one canonical form."""
    runs: list[Range] = []
    for a in sorted(model):
        if runs and runs[-1].end == a:
            runs[-1] = Range(runs[-1].base, runs[-1].size + 1)
        else:
            runs.append(Range(a, 1))
    return runs


def assert_canonical(ranges: list[Range]) -> None:
    for r in ranges:
        assert r.size > 0, ranges
        assert r.end <= TOP, ranges
    for prev, cur in itertools.pairwise(ranges):
        assert prev.end < cur.base, ranges  # sorted, disjoint and not touching


# --- Range ---------------------------------------------------------------------------------------------------------


def test_range_end_span_and_str() -> None:
    r = Range(0x1000, 0x2000)
    assert r.end == 0x3000
    assert Range.span(0x1000, 0x3000) == r
    assert str(r) == "[0x1000, 0x3000)"
    assert str(Range(TOP - 0x1000, 0x1000)) == "[0xfffffffffffff000, 0x10000000000000000)"
    assert str(Range(0, 0x1000)) == "[0x0, 0x1000)"


def test_ranges_order_by_base_then_size() -> None:
    assert sorted([Range(5, 1), Range(1, 9), Range(1, 2)]) == [Range(1, 2), Range(1, 9), Range(5, 1)]


@PROPERTY
@given(small_ranges(min_size=1), small_ranges(min_size=1))
def test_overlaps_means_a_shared_address(a: Range, b: Range) -> None:
    shared = bool(addresses([a]) & addresses([b]))
    assert a.overlaps(b) is shared
    assert b.overlaps(a) is shared


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        (Range(0, 10), Range(10, 5), False),  # touching is not overlapping
        (Range(0, 10), Range(9, 5), True),
        (Range(0, 10), Range(2, 3), True),  # containment
        (Range(TOP - 10, 10), Range(TOP - 1, 1), True),
        (Range(TOP - 10, 5), Range(TOP - 5, 5), False),
    ],
)
def test_overlaps_examples(a: Range, b: Range, expected: bool) -> None:
    assert a.overlaps(b) is expected
    assert b.overlaps(a) is expected


def test_an_empty_range_overlaps_nothing() -> None:
    # "True when the two ranges share at least one address": an empty range has none.
    assert not Range(0x1000, 0).overlaps(Range(0, 0x2000))
    assert not Range(0, 0x2000).overlaps(Range(0x1000, 0))


# --- RangeSet construction ------------------------------------------------------------------------------------------


@PROPERTY
@given(shifted_range_lists(1))
def test_rangeset_is_the_canonical_form_of_its_addresses(lists: list[list[Range]]) -> None:
    (ranges,) = lists
    model = addresses(ranges)
    result = RangeSet(ranges).ranges()
    assert_canonical(result)
    assert addresses(result) == model
    assert result == model_ranges(model)
    assert list(RangeSet(ranges)) == result
    assert [Range.span(s, e) for s, e in RangeSet(ranges).spans()] == result


@PROPERTY
@given(shifted_range_lists(1))
def test_total_size_len_and_bool(lists: list[list[Range]]) -> None:
    (ranges,) = lists
    rs = RangeSet(ranges)
    model = addresses(ranges)
    assert rs.total_size == len(model)
    assert len(rs) == len(model_ranges(model))
    assert bool(rs) is bool(model)


def test_touching_and_overlapping_ranges_merge() -> None:
    rs = RangeSet([Range(0x3000, 0x1000), Range(0x1000, 0x1000), Range(0x2000, 0x1000), Range(0x8000, 0x2000)])
    assert rs.ranges() == [Range(0x1000, 0x3000), Range(0x8000, 0x2000)]
    assert RangeSet([Range(0, 0x4000), Range(0x1000, 0x1000)]).ranges() == [Range(0, 0x4000)]


def test_empty_ranges_are_ignored() -> None:
    assert not RangeSet([Range(0x1000, 0)])
    assert len(RangeSet([Range(0x1000, 0), Range(0, 0)])) == 0
    assert RangeSet([Range(0x1000, 0)]) == RangeSet()
    # An empty range in a gap creates nothing; one at a boundary changes nothing.
    assert RangeSet([Range(0, 10), Range(20, 0), Range(30, 5)]).ranges() == [Range(0, 10), Range(30, 5)]
    assert RangeSet([Range(0, 10), Range(10, 0), Range(12, 3)]).ranges() == [Range(0, 10), Range(12, 3)]
    assert RangeSet([Range(TOP, 0)]).total_size == 0


def test_ranges_ending_at_2_64() -> None:
    rs = RangeSet([Range(TOP - 0x1000, 0x1000), Range(TOP - 0x3000, 0x2000)])
    assert rs.ranges() == [Range(TOP - 0x3000, 0x3000)]
    assert rs.ranges()[0].end == TOP
    assert rs.total_size == 0x3000
    cut = RangeSet([Range(TOP - 0x2000, 0x1000)])
    assert rs.difference(cut).ranges() == [Range(TOP - 0x3000, 0x1000), Range(TOP - 0x1000, 0x1000)]
    assert rs.covers(RangeSet([Range(TOP - 1, 1)]))
    whole = RangeSet([Range(0, TOP)])
    assert whole.total_size == TOP
    assert whole.difference(RangeSet([Range(0, TOP - 1)])).ranges() == [Range(TOP - 1, 1)]


# --- set operations -------------------------------------------------------------------------------------------------


@PROPERTY
@given(shifted_range_lists(2))
def test_union_is_set_union(lists: list[list[Range]]) -> None:
    a, b = lists
    result = RangeSet(a).union(RangeSet(b)).ranges()
    assert_canonical(result)
    assert result == model_ranges(addresses(a) | addresses(b))


@PROPERTY
@given(shifted_range_lists(2))
def test_difference_is_set_difference(lists: list[list[Range]]) -> None:
    a, b = lists
    result = RangeSet(a).difference(RangeSet(b)).ranges()
    assert_canonical(result)
    assert result == model_ranges(addresses(a) - addresses(b))


@PROPERTY
@given(shifted_range_lists(2))
def test_intersection_is_set_intersection(lists: list[list[Range]]) -> None:
    a, b = lists
    result = RangeSet(a).intersection(RangeSet(b)).ranges()
    assert_canonical(result)
    assert result == model_ranges(addresses(a) & addresses(b))


@PROPERTY
@given(shifted_range_lists(2))
def test_covers_is_superset(lists: list[list[Range]]) -> None:
    a, b = lists
    assert RangeSet(a).covers(RangeSet(b)) is (addresses(b) <= addresses(a))
    assert RangeSet(a).covers(RangeSet(a).intersection(RangeSet(b)))
    assert RangeSet(a).union(RangeSet(b)).covers(RangeSet(b))


def test_operations_do_not_change_their_operands() -> None:
    a = RangeSet([Range(0, 0x3000)])
    b = RangeSet([Range(0x1000, 0x1000)])
    a.union(b)
    a.difference(b)
    a.intersection(b)
    assert a.ranges() == [Range(0, 0x3000)]
    assert b.ranges() == [Range(0x1000, 0x1000)]


def test_difference_with_one_cut_spanning_several_ranges() -> None:
    a = RangeSet([Range(0, 10), Range(20, 10), Range(40, 10)])
    cut = RangeSet([Range(5, 40)])
    assert a.difference(cut).ranges() == [Range(0, 5), Range(45, 5)]
    assert a.intersection(cut).ranges() == [Range(5, 5), Range(20, 10), Range(40, 5)]


# --- equality and hashing -------------------------------------------------------------------------------------------


@st.composite
def same_set_two_ways(draw: st.DrawFn) -> tuple[list[Range], list[Range]]:
    """A list of ranges and another that holds the same addresses, split and shuffled differently."""
    shift = draw(st.sampled_from(SHIFTS))
    ranges = [Range(r.base + shift, r.size) for r in draw(range_lists)]
    pieces: list[Range] = []
    for r in ranges:
        cuts = sorted(draw(st.lists(st.integers(r.base, r.end), max_size=3)))
        edges = [r.base, *cuts, r.end]
        pieces.extend(Range.span(s, e) for s, e in itertools.pairwise(edges))
    if ranges:
        pieces.extend(draw(st.lists(st.sampled_from(ranges), max_size=3)))  # duplicates
    return ranges, draw(st.permutations(pieces))


@PROPERTY
@given(same_set_two_ways())
def test_equal_sets_are_equal_and_hash_alike(pair: tuple[list[Range], list[Range]]) -> None:
    ranges, pieces = pair
    assert RangeSet(ranges) == RangeSet(pieces)
    assert hash(RangeSet(ranges)) == hash(RangeSet(pieces))
    assert len({RangeSet(ranges), RangeSet(pieces)}) == 1


@PROPERTY
@given(shifted_range_lists(2))
def test_equality_is_equality_of_address_sets(lists: list[list[Range]]) -> None:
    a, b = lists
    assert (RangeSet(a) == RangeSet(b)) is (addresses(a) == addresses(b))
    assert (RangeSet(a) != RangeSet(b)) is (addresses(a) != addresses(b))


def test_equality_with_other_types() -> None:
    rs = RangeSet([Range(0, 10)])
    assert rs != [Range(0, 10)]
    assert rs != object()
    assert RangeSet([Range(0, 10)]) != RangeSet([Range(0, 11)])
    assert RangeSet([Range(0, 10), Range(11, 1)]) != RangeSet([Range(0, 12)])


def test_repr_lists_the_canonical_ranges() -> None:
    assert repr(RangeSet([Range(0x2000, 0x1000), Range(0x1000, 0x1000)])) == "RangeSet([[0x1000, 0x3000)])"
    assert repr(RangeSet()) == "RangeSet([])"
