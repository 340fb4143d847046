"""RangeArray (the pool's ranges as two u64 arrays) against models, and validate's fast path against its slow one.

The models: a list of Range for the Sequence behaviour and the byte layout (struct), the
binding's exact per-range loops for `is_canonical`, RangeSet and a plain set of "cells"
(small address units) for the edits and queries, Python sets of ranges for `changed`,
and validate's sort-and-sweep path for its bisection path.

Addresses are cells of a small space (a few dozen units), so that ranges collide, touch
and overlap often; the space is placed at 0, across 2**32, across 2**63 and flush with
2**64, so that nothing depends on small values and a range may end at 2**64.
"""

from __future__ import annotations

import dataclasses
import random
import struct
from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from unittest.mock import patch

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

import pmpoolctl.check.validate as validate_module
from pmpoolctl.check.findings import Finding, Severity
from pmpoolctl.check.validate import validate
from pmpoolctl.memmap.iomem import parse_iomem
from pmpoolctl.memmap.model import CRASHKERNEL, KERNEL, RAM, RESERVED, MapEntry, MemoryMap
from pmpoolctl.pool.binding import Pool, canonical_findings, decode_pool
from pmpoolctl.ranges import arrayops
from pmpoolctl.ranges.everyaddress import EVERY_ADDRESS, WHOLE_RANGE, EveryAddress
from pmpoolctl.ranges.rangearray import RangeArray, changed, same_run, subtract
from pmpoolctl.ranges.rangeset import Range, RangeSet
from pmpoolctl.ranges.u64lanes import all_aligned, all_below_2_62, all_below_2_63, ends_below_next_bases, has_zero

TOP = 1 << 64
U64_MAX = TOP - 1
PAGE_SIZES = tuple(1 << k for k in range(12, 22))  # 4 KiB .. 2 MiB, byte-lane aligned or not
UNITS = (1, 2, 4096, 8192, 1 << 17, 1 << 21, 3)  # 3: not a power of two, the edits must not care
PLACES = ("bottom", "2^32", "2^63", "top")

FAST = settings(max_examples=300, deadline=None)
PROPERTY = settings(max_examples=200, deadline=None)

u64 = st.integers(0, U64_MAX)
# u64 values that are mostly small, or have high bits set, or sit at the very top.
u64_edgy = st.one_of(
    u64,
    st.integers(0, 1 << 20),
    st.integers(U64_MAX - (1 << 20), U64_MAX),
    st.integers(0, 64).map(lambda k: (1 << k) - 1 if k else 0),
    st.integers(0, 63).map(lambda k: 1 << k),
)


def pairs_bytes(pairs: Iterable[tuple[int, int]]) -> bytes:
    return b"".join(struct.pack(">QQ", base, size) for base, size in pairs)


def copy_of(arr: RangeArray) -> RangeArray:
    return RangeArray(array("Q", arr.bases), array("Q", arr.sizes))


def is_power_of_two(n: int) -> bool:
    return n > 0 and n & (n - 1) == 0


# --- cells: the model for edits and queries ------------------------------------------------------------------------


def runs_of(cells: Iterable[int]) -> list[tuple[int, int]]:
    """The maximal runs [start, end) of a set of cells, in order: a canonical form by construction."""
    runs: list[tuple[int, int]] = []
    for cell in sorted(set(cells)):
        if runs and runs[-1][1] == cell:
            runs[-1] = (runs[-1][0], cell + 1)
        else:
            runs.append((cell, cell + 1))
    return runs


@dataclass(frozen=True)
class Space:
    """Cells of `unit` bytes starting at `offset`."""

    unit: int
    offset: int

    def range(self, start: int, end: int) -> Range:
        return Range.span(self.offset + start * self.unit, self.offset + end * self.unit)

    def ranges(self, cells: Iterable[int]) -> list[Range]:
        return [self.range(start, end) for start, end in runs_of(cells)]

    def array(self, cells: Iterable[int]) -> RangeArray:
        return RangeArray.from_ranges(self.ranges(cells))

    def rangeset(self, cells: Iterable[int]) -> RangeSet:
        return RangeSet(self.ranges(cells))


def place(where: str, unit: int, extent: int) -> int:
    """The offset of a space of `extent` cells: at 0, centred on 2**32 or 2**63, or ending at 2**64."""
    if where == "bottom":
        return 0
    if where == "top":
        return TOP - extent * unit
    centre = 1 << (32 if where == "2^32" else 63)
    return (centre // unit - extent // 2) * unit


@st.composite
def cell_sets(draw: st.DrawFn, limit: int = 60) -> frozenset[int]:
    """Cells below `limit`: as canonical runs of drawn lengths and gaps, or as a union of overlapping spans."""
    if draw(st.booleans()):
        max_len = draw(st.integers(1, 15))
        max_gap = draw(st.integers(1, 6))
        cells: set[int] = set()
        cursor = draw(st.integers(0, max_gap))
        for _ in range(draw(st.integers(0, 12))):
            length = draw(st.integers(1, max_len))
            cells.update(range(cursor, cursor + length))
            cursor += length + draw(st.integers(1, max_gap))
    else:
        specs = draw(st.lists(st.tuples(st.integers(0, limit - 1), st.integers(1, 12)), max_size=8))
        cells = {c for start, count in specs for c in range(start, start + count)}
    return frozenset(c for c in cells if c < limit)


@dataclass(frozen=True)
class Scene:
    """A canonical pool and an argument set, as cells of one space."""

    space: Space
    pool: frozenset[int]
    other: frozenset[int]

    @property
    def array(self) -> RangeArray:
        return self.space.array(self.pool)

    @property
    def other_set(self) -> RangeSet:
        return self.space.rangeset(self.other)


@st.composite
def scenes(draw: st.DrawFn) -> Scene:
    pool = draw(cell_sets())
    other = draw(cell_sets())
    extent = max([*pool, *other, 0]) + 1
    unit = draw(st.sampled_from(UNITS))
    return Scene(Space(unit, place(draw(st.sampled_from(PLACES)), unit, extent)), pool, other)


def assert_canonical(result: RangeArray, space: Space) -> None:
    assert result.is_canonical(1)
    if is_power_of_two(space.unit) and space.offset % space.unit == 0:
        assert result.is_canonical(space.unit)


# --- 1. bytes, Sequence behaviour, equality --------------------------------------------------------------------------


@FAST
@given(st.binary(max_size=200))
def test_from_be_bytes_reads_big_endian_pairs_and_ignores_a_trailing_partial_pair(data: bytes) -> None:
    whole = len(data) - len(data) % 16
    arr = RangeArray.from_be_bytes(data)
    expected = [Range(base, size) for base, size in struct.iter_unpack(">QQ", data[:whole])]
    assert list(arr) == expected
    assert len(arr) == len(expected) == len(data) // 16
    assert arr.to_be_bytes() == data[:whole]


@FAST
@given(st.lists(st.tuples(u64_edgy, u64_edgy), max_size=20))
def test_to_be_bytes_is_struct_pack_per_pair_and_round_trips(pairs: list[tuple[int, int]]) -> None:
    ranges = [Range(base, size) for base, size in pairs]
    arr = RangeArray.from_ranges(ranges)
    encoded = arr.to_be_bytes()
    assert encoded == pairs_bytes(pairs)
    assert RangeArray.from_be_bytes(encoded) == arr
    assert RangeArray.from_be_bytes(encoded + encoded[:15]) == arr
    assert list(RangeArray.from_be_bytes(encoded)) == ranges
    # The arrays hold native u64 items, whatever the byte order of the blob.
    assert arr.bases.typecode == arr.sizes.typecode == "Q"
    assert arr.bases.tolist() == [base for base, _ in pairs]
    assert arr.sizes.tolist() == [size for _, size in pairs]


@FAST
@given(st.lists(st.tuples(u64_edgy, u64_edgy), max_size=20), st.integers(0, 2**64))
def test_pairs_held_whole_are_the_decoded_pairs(pairs: list[tuple[int, int]], total: int) -> None:
    """`of_be_pairs` keeps only the bytes: its length, total and pairs are known without decoding,
    and its columns, decoded when read, are `from_be_bytes`'s."""
    encoded = pairs_bytes(pairs)
    held = RangeArray.of_be_pairs(memoryview(encoded), total)
    assert len(held) == len(pairs)
    assert held.total_size == total
    assert held.to_be_bytes() == encoded
    assert held._bases is None  # nothing above decoded it
    decoded = RangeArray.from_be_bytes(encoded)
    assert held == decoded and decoded == RangeArray.of_be_pairs(memoryview(encoded))
    assert held.bases == decoded.bases and held.sizes == decoded.sizes
    assert list(held) == list(decoded)


def test_pairs_held_whole_must_be_whole_pairs() -> None:
    with pytest.raises(ValueError, match="whole number of 16-byte pairs"):
        RangeArray.of_be_pairs(memoryview(bytes(17)))


def test_empty_array() -> None:
    empty = RangeArray()
    assert len(empty) == 0
    assert list(empty) == []
    assert empty.to_be_bytes() == b""
    assert RangeArray.from_be_bytes(b"") == empty == RangeArray.from_ranges([])
    assert RangeArray.from_be_bytes(bytes(15)) == empty
    assert empty.total_size == 0
    assert list(empty.ends()) == []
    assert empty.is_canonical(4096)
    assert empty[0:5] == empty


slices = st.builds(
    slice,
    st.none() | st.integers(-25, 25),
    st.none() | st.integers(-25, 25),
    st.none() | st.sampled_from((-4, -3, -2, -1, 1, 2, 3, 4)),
)


@FAST
@given(st.lists(st.tuples(u64_edgy, u64_edgy), max_size=20), st.lists(slices, max_size=4), st.integers(-25, 25))
def test_sequence_behaviour_agrees_with_a_list_of_ranges(
    pairs: list[tuple[int, int]], cuts: list[slice], index: int
) -> None:
    ranges = [Range(base, size) for base, size in pairs]
    arr = RangeArray.from_ranges(ranges)
    assert len(arr) == len(ranges)
    assert list(arr) == ranges
    n = len(ranges)
    assert [arr[i] for i in range(-n, n)] == [ranges[i] for i in range(-n, n)]
    if -len(ranges) <= index < len(ranges):
        assert arr[index] == ranges[index]
        assert isinstance(arr[index], Range)
    else:
        with pytest.raises(IndexError):
            arr[index]
    for cut in cuts:
        part = arr[cut]
        assert isinstance(part, RangeArray)
        assert list(part) == ranges[cut]
        assert part == RangeArray.from_ranges(ranges[cut])
    assert list(reversed(arr)) == ranges[::-1]
    assert list(arr.ends()) == [r.end for r in ranges]
    assert arr.total_size == sum(r.size for r in ranges)
    for r in ranges[:3]:
        assert r in arr
        assert arr.index(r) == ranges.index(r)
        assert arr.count(r) == ranges.count(r)
    probe = Range(1, U64_MAX)
    assert (probe in arr) == (probe in ranges)


@FAST
@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 3)), max_size=4), st.data())
def test_equality_is_equality_of_the_range_lists(pairs: list[tuple[int, int]], data: st.DataObject) -> None:
    others = data.draw(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 3)), max_size=4))
    a = RangeArray.from_ranges(Range(*p) for p in pairs)
    b = RangeArray.from_ranges(Range(*p) for p in others)
    assert (a == b) == (pairs == others)
    assert (a != b) == (pairs != others)
    assert a == copy_of(a)
    # Not equal to a list of the same ranges (NotImplemented both ways), and unhashable (mutable arrays).
    assert a != list(a)
    assert a.__eq__(list(a)) is NotImplemented
    with pytest.raises(TypeError):
        hash(a)


# --- 2. is_canonical against the binding's exact loops ------------------------------------------------------------


def binding_verdict(ranges: Sequence[Range], page_size: int) -> bool:
    """Canonical by the binding's per-range loops: no error, and no ranges-not-coalesced warning."""
    findings = canonical_findings(list(ranges), page_size)  # a list: never the RangeArray short cut
    return not [f for f in findings if f.severity is Severity.ERROR or f.rule == "ranges-not-coalesced"]


MUTATIONS = (
    "none",
    "empty",
    "unaligned-base",
    "unaligned-size",
    "touch",
    "overlap",
    "contain",
    "swap",
    "duplicate",
    "to-top",
    "overflow",
    "wild",
)


def _mutate(draw: st.DrawFn, ranges: list[Range], page: int, mutation: str) -> None:
    if not ranges:
        return
    k = draw(st.integers(0, len(ranges) - 1))
    r = ranges[k]
    nxt = ranges[k + 1] if k + 1 < len(ranges) and ranges[k + 1].base > r.base else None
    # A misalignment in any bit below the page: the lowest, the highest, or one in another byte lane.
    delta = draw(st.sampled_from(sorted({1, 2, 255, 256, 512, page // 2, page - 1, page // 16 + 1})))
    if mutation == "empty":
        ranges[k] = Range(r.base, 0)
    elif mutation == "unaligned-base":
        ranges[k] = Range(r.base + delta if r.base + delta < TOP else r.base - delta, r.size)
    elif mutation == "unaligned-size":
        ranges[k] = Range(r.base, r.size + delta if r.size + delta < TOP else r.size - delta)
    elif mutation == "touch" and nxt is not None:
        ranges[k] = Range.span(r.base, nxt.base)
    elif mutation == "overlap" and nxt is not None:
        end = nxt.base + draw(st.sampled_from((page, nxt.size, nxt.size + page)))
        if end - r.base < TOP:  # a size of 2**64 has no u64 to be written in: no pool holds it
            ranges[k] = Range.span(r.base, end)
    elif mutation == "contain" and nxt is not None:
        ranges[k + 1] = Range(r.base + (r.size - page if r.size > page else 0), page)
    elif mutation == "swap" and nxt is not None:
        ranges[k], ranges[k + 1] = nxt, r
    elif mutation == "duplicate":
        ranges.insert(k, r)
    elif mutation == "to-top" and ranges[-1].base:
        ranges[-1] = Range.span(ranges[-1].base, TOP)  # still canonical: a range may end at 2**64
    elif mutation == "overflow":
        last = ranges[-1]
        over = draw(st.sampled_from((page, 2 * page, last.base)))
        if TOP - last.base + over < TOP:
            ranges[-1] = Range(last.base, TOP - last.base + over)
    elif mutation == "wild":
        ranges[k] = Range(draw(u64_edgy), draw(u64_edgy))


@st.composite
def near_canonical(draw: st.DrawFn) -> tuple[list[Range], int]:
    """Canonical ranges in pages, then a mutation or two that may or may not break the form."""
    page = draw(st.sampled_from(PAGE_SIZES))
    cells = draw(cell_sets(40))
    extent = max([*cells, 0]) + 1
    space = Space(page, place(draw(st.sampled_from(PLACES)), page, extent))
    ranges = space.ranges(cells)
    for mutation in draw(st.lists(st.sampled_from(MUTATIONS), max_size=2)):
        _mutate(draw, ranges, page, mutation)
    return ranges, page


@st.composite
def random_page_ranges(draw: st.DrawFn) -> tuple[list[Range], int]:
    """Few ranges in a tiny space of pages (collisions everywhere), sometimes knocked off the page grid."""
    page = draw(st.sampled_from(PAGE_SIZES))
    origin = TOP - 24 * page if draw(st.booleans()) else 0
    specs = draw(st.lists(st.tuples(st.integers(0, 20), st.integers(0, 4)), max_size=6))
    ranges = [Range(origin + b * page, s * page) for b, s in specs]
    if ranges and draw(st.integers(0, 3)) == 0:
        _mutate(draw, ranges, page, draw(st.sampled_from(("unaligned-base", "unaligned-size"))))
    return ranges, page


@FAST
@given(st.one_of(near_canonical(), random_page_ranges()))
def test_is_canonical_is_exactly_the_binding_finding_nothing(case: tuple[list[Range], int]) -> None:
    ranges, page = case
    arr = RangeArray.from_ranges(ranges)
    slow = canonical_findings(list(ranges), page)
    expected = binding_verdict(ranges, page)
    event(f"canonical={expected}")
    assert arr.is_canonical(page) == expected, slow
    # The only warning is ranges-not-coalesced, so "canonical" is "no finding at all".
    assert expected == (slow == [])
    # The binding's short cut for a RangeArray gives the same findings as its loops.
    assert canonical_findings(arr, page) == slow
    # And so does decoding a pool from the bytes.
    pool = decode_pool(
        "p",
        [("compatible", b"pmpool-v1\0"), ("page-size", page.to_bytes(4, "big")), ("page-ranges", arr.to_be_bytes())],
    )
    assert pool.problems == slow
    assert pool.canonical == expected


@pytest.mark.parametrize(
    ("pairs", "page", "canonical"),
    [
        ([], 4096, True),
        ([(0, 4096)], 4096, True),
        ([(TOP - 4096, 4096)], 4096, True),  # ends at 2**64
        ([(TOP - 8192, 8192)], 8192, True),
        ([(TOP - 4096, 8192)], 4096, False),  # past 2**64
        ([(0, 0)], 4096, False),
        ([(0, 4096), (4096, 4096)], 4096, False),  # touching: the warning
        ([(0, 8192), (4096, 4096)], 4096, False),  # overlap
        ([(8192, 4096), (0, 4096)], 4096, False),  # unsorted
        ([(0, 4096), (0, 4096)], 4096, False),  # duplicate
        ([(1 << 63, 4096), (U64_MAX - 4095, 4096)], 4096, True),
        ([(1 << 63 | 2048, 4096)], 4096, False),
        ([(1 << 63, 1 << 13)], 1 << 13, True),
        ([(1 << 63 | 1 << 12, 1 << 13)], 1 << 13, False),  # unaligned in the bit just below the page
        ([(0, (1 << 21) + (1 << 20))], 1 << 21, False),
        ([(1 << 21, 1 << 21), (3 << 21, 1 << 21)], 1 << 21, True),
        ([(0, 4096), (8192, 4096), (8192 + 4096, 4096)], 4096, False),
    ],
)
def test_is_canonical_examples(pairs: list[tuple[int, int]], page: int, canonical: bool) -> None:
    ranges = [Range(*p) for p in pairs]
    assert RangeArray.from_ranges(ranges).is_canonical(page) == canonical
    assert binding_verdict(ranges, page) == canonical


@st.composite
def aligned_cases(draw: st.DrawFn) -> tuple[list[int], int]:
    bits = draw(st.integers(0, 63))
    alignment = 1 << bits
    high = st.integers(0, U64_MAX >> bits).map(lambda v: v << bits)  # aligned, high bits free
    values: list[int] = draw(st.lists(st.one_of(high, u64_edgy), max_size=20))
    shape = draw(st.sampled_from(("as drawn", "all aligned", "all aligned but one bit")))
    if values and shape != "as drawn":
        values = [v & ~(alignment - 1) for v in values]
        if shape == "all aligned but one bit" and bits:
            k = draw(st.integers(0, len(values) - 1))
            values[k] |= 1 << draw(st.integers(0, bits - 1))
    return values, alignment


@FAST
@given(aligned_cases())
def test_all_aligned_is_every_value_a_multiple(case: tuple[list[int], int]) -> None:
    values, alignment = case
    expected = all(v % alignment == 0 for v in values)
    assert all_aligned(array("Q", values), alignment) == expected
    assert all_aligned(array("Q", values).tobytes(), alignment) == expected  # its bytes, as is_canonical passes


# Values whose bytes hold runs of zeros across value boundaries: 0, 1 << 8k, 1 << 63, ...
_ZERO_RUNS = st.lists(
    st.one_of(
        st.sampled_from([0, 1, 0xFF, 1 << 56, 0xFF << 56, 1 << 63, 0x1000, 0xFFFF_FFFF_FFFF_FFFF]),
        st.integers(0, (1 << 64) - 1),
    ),
    max_size=40,
)


@FAST
@given(_ZERO_RUNS)
def test_has_zero_finds_a_zero_value_only_on_a_value_boundary(values: list[int]) -> None:
    assert has_zero(array("Q", values)) == (0 in values)
    assert has_zero(array("Q", values).tobytes()) == (0 in values)


@FAST
@given(_ZERO_RUNS)
def test_all_below_2_63_and_2_62_are_no_top_bits_set(values: list[int]) -> None:
    assert all_below_2_63(array("Q", values)) == all(v < 1 << 63 for v in values)
    assert all_below_2_62(array("Q", values)) == all(v < 1 << 62 for v in values)


@st.composite
def _neighbour_ranges(draw: st.DrawFn) -> tuple[list[int], list[int]]:
    """Bases and sizes below 2**62 whose next base is often the end itself, one off it, or far."""
    count = draw(st.integers(0, 40))
    base = draw(st.integers(0, (1 << 62) - 1))
    bases, sizes = [], []
    for _ in range(count):
        size = draw(st.one_of(st.sampled_from([0, 1, 0x1000]), st.integers(0, 1 << 61)))
        if base + size >= 1 << 62:
            break
        bases.append(base)
        sizes.append(size)
        step = draw(st.one_of(st.sampled_from([-2, -1, 0, 1, 2]), st.integers(-(1 << 62), 1 << 62)))
        base = base + size + step
        if not 0 <= base < 1 << 62:
            break
    return bases, sizes


@FAST
@given(_neighbour_ranges(), st.integers(1, 5))
def test_ends_below_next_bases_in_lanes_is_the_loop(case: tuple[list[int], list[int]], chunk: int) -> None:
    """The big-integer lanes answer as each end compared with the next base does, across chunks of
    1-5 values (a pair split between two chunks), for ends that touch, overlap by one or miss by one."""
    from pmpoolctl.ranges import u64lanes

    bases, sizes = case
    expected = all(b + s < next_base for b, s, next_base in zip(bases, sizes, bases[1:]))
    with patch.object(u64lanes, "_APART_CHUNK", chunk):
        assert ends_below_next_bases(array("Q", bases), array("Q", sizes)) == expected
    assert ends_below_next_bases(array("Q", bases), array("Q", sizes)) == expected


# --- 3. edits and queries on canonical arrays --------------------------------------------------------------------


@FAST
@given(scenes())
def test_union_is_the_rangeset_union(scene: Scene) -> None:
    arr = scene.array
    before = copy_of(arr)
    result = arr.union(scene.other_set)
    assert arr == before  # the edit makes a new array
    assert list(result) == RangeSet(arr).union(scene.other_set).ranges()
    assert list(result) == scene.space.ranges(scene.pool | scene.other)
    assert_canonical(result, scene.space)


@FAST
@given(scenes())
def test_difference_is_the_rangeset_difference(scene: Scene) -> None:
    arr = scene.array
    before = copy_of(arr)
    result = arr.difference(scene.other_set)
    assert arr == before
    assert list(result) == RangeSet(arr).difference(scene.other_set).ranges()
    assert list(result) == scene.space.ranges(scene.pool - scene.other)
    assert_canonical(result, scene.space)


@FAST
@given(scenes())
def test_subtract_of_two_arrays_is_the_set_difference(scene: Scene) -> None:
    """diff's sweep over two canonical arrays, against the cells and RangeSet, both ways round."""
    arr, other = scene.array, scene.space.array(scene.other)
    for one, two, cells in ((arr, other, scene.pool - scene.other), (other, arr, scene.other - scene.pool)):
        result = subtract(one, two)
        assert list(result) == scene.space.ranges(cells)
        assert list(result) == RangeSet(one).difference(RangeSet(two)).ranges()
        assert result.total_size == sum(r.size for r in result)
        assert_canonical(result, scene.space)


@FAST
@given(scenes(), st.sampled_from(["union", "difference"]), st.sampled_from(["union", "difference"]))
def test_edits_of_decoded_arrays_reuse_the_source_bytes(scene: Scene, first: str, second: str) -> None:
    """An edit of an array decoded from a blob encodes only its new pairs; the pieces are the whole encoding."""
    source = scene.array.to_be_bytes()
    decoded = RangeArray.from_be_bytes(source)
    once = getattr(decoded, first)(scene.other_set)
    assert once == getattr(scene.array, first)(scene.other_set)
    assert once.to_be_bytes() == copy_of(once).to_be_bytes()  # copy_of: no pieces, encoded from the arrays
    new_pairs = sum(len(p) for p in once.be_parts() if not (isinstance(p, memoryview) and p.obj is source))
    assert new_pairs <= 16 * (2 * len(scene.other_set.ranges()) + 1)  # only what the edit made is encoded
    twice = getattr(once, second)(scene.other_set)  # an edit of an edit: pieces of pieces
    assert twice == getattr(copy_of(once), second)(scene.other_set)
    assert twice.to_be_bytes() == copy_of(twice).to_be_bytes()


@FAST
@given(scenes())
def test_first_missing_is_the_first_piece_of_the_difference(scene: Scene) -> None:
    missing = scene.other_set.difference(RangeSet(scene.array)).ranges()
    found = scene.array.first_missing(scene.other_set)
    assert found == (missing[0] if missing else None)
    model = scene.space.ranges(scene.other - scene.pool)
    assert found == (model[0] if model else None)


@FAST
@given(scenes())
def test_arrayops_walk_either_side_to_the_same_sets(scene: Scene) -> None:
    """arrayops picks the side to walk by size; both ways round, the cells and RangeSet agree."""
    pool, other = scene.array, scene.space.array(scene.other)
    for one, two, one_cells, two_cells in (
        (pool, other, scene.pool, scene.other),
        (other, pool, scene.other, scene.pool),
    ):
        event("walks the argument" if len(two) <= len(one) else "walks the pool")
        joined, cut = arrayops.union(one, two), arrayops.difference(one, two)
        assert isinstance(joined, RangeArray)  # a scene's space is never all 2^64 addresses (section 5 is)
        assert list(joined) == scene.space.ranges(one_cells | two_cells)
        assert list(cut) == scene.space.ranges(one_cells - two_cells)
        assert (joined.total_size, cut.total_size) == (sum(joined.sizes), sum(cut.sizes))
        assert_canonical(joined, scene.space)
        assert_canonical(cut, scene.space)
        missing = scene.space.ranges(two_cells - one_cells)
        assert arrayops.first_missing(one, two) == (missing[0] if missing else None)


@FAST
@given(scenes())
def test_arrayops_keep_the_decoded_bytes_of_a_larger_pool(scene: Scene) -> None:
    """A small edit of a big decoded pool through arrayops encodes only its new pairs, as the methods do."""
    source = scene.array.to_be_bytes()
    decoded, other = RangeArray.from_be_bytes(source), scene.space.array(scene.other)
    if len(other) > len(decoded):
        return
    for edited in (arrayops.union(decoded, other), arrayops.difference(decoded, other)):
        assert isinstance(edited, RangeArray)
        new_pairs = sum(len(p) for p in edited.be_parts() if not (isinstance(p, memoryview) and p.obj is source))
        assert new_pairs <= 16 * (2 * len(other) + 1)
        assert edited.to_be_bytes() == copy_of(edited).to_be_bytes()


@FAST
@given(scenes(), st.data())
def test_removing_runs_of_the_pool_own_ranges(scene: Scene, data: st.DataObject) -> None:
    """Spans that are exactly ranges of the pool, in runs (what `same_run` skips), with others between."""
    pool = scene.array
    kept = data.draw(st.lists(st.booleans(), min_size=len(pool), max_size=len(pool)))
    exact = [r for r, keep in zip(pool, kept) if not keep]
    removal = RangeSet([*exact, *scene.other_set.difference(RangeSet(pool)).ranges()])
    cells = {c for c in scene.pool if not any(r.base <= scene.space.range(c, c + 1).base < r.end for r in exact)}
    for cut in (pool.difference(removal), arrayops.difference(pool, RangeArray.from_ranges(removal))):
        assert list(cut) == scene.space.ranges(cells)
        assert cut.total_size == sum(cut.sizes)


@FAST
@given(st.lists(st.tuples(st.integers(0, 3), st.integers(1, 3)), max_size=30), st.integers(0, 30), st.integers(0, 30))
def test_same_run_is_the_longest_common_run(pairs: list[tuple[int, int]], i: int, t: int) -> None:
    a = RangeArray.from_ranges([Range(b, s) for b, s in pairs])
    b = RangeArray.from_ranges([Range(b, s) for b, s in reversed(pairs)] + [Range(b, s) for b, s in pairs])
    run = same_run(a, i, b, t)
    assert list(a[i : i + run]) == list(b[t : t + run])
    assert i + run >= len(a) or t + run >= len(b) or a[i + run] != b[t + run]


@st.composite
def probes(draw: st.DrawFn, scene: Scene) -> Range:
    """A range anywhere around the pool, on or off the cell grid, possibly empty."""
    unit, offset = scene.space.unit, scene.space.offset
    extent = max([*scene.pool, *scene.other, 0]) + 1
    jitter = st.sampled_from((0, 0, *sorted({1, unit // 2, unit - 1})))
    base = offset + draw(st.integers(-1, extent)) * unit + draw(jitter)
    base = min(max(base, 0), U64_MAX)
    size = draw(st.integers(0, 8)) * unit + draw(st.sampled_from((0, 0, 1, -1)))
    size = min(max(size, 0), TOP - base)
    return Range(base, size)


@FAST
@given(scenes(), st.data())
def test_overlapping_is_the_first_range_that_overlaps(scene: Scene, data: st.DataObject) -> None:
    arr = scene.array
    for _ in range(4):
        r = data.draw(probes(scene))
        expected = next((p for p in arr if p.overlaps(r)), None)
        assert arr.overlapping(r) == expected, r
        if r.size == 0:
            assert expected is None


# Explicit shapes, in cells of 4096 bytes: (pool cells, argument cells, union, difference, first missing).
def cells(*spans: tuple[int, int]) -> frozenset[int]:
    return frozenset(c for start, end in spans for c in range(start, end))


EDIT_EXAMPLES = {
    "empty pool": (cells(), cells((2, 4), (6, 7)), [(2, 4), (6, 7)], [], (2, 4)),
    "empty argument": (cells((2, 4), (6, 7)), cells(), [(2, 4), (6, 7)], [(2, 4), (6, 7)], None),
    "both empty": (cells(), cells(), [], [], None),
    "one span covers many ranges": (
        cells((1, 2), (3, 4), (5, 6), (8, 9)),
        cells((0, 7)),
        [(0, 7), (8, 9)],
        [(8, 9)],
        (0, 1),
    ),
    "spans touch a range on either side": (cells((4, 8)), cells((2, 4), (8, 10)), [(2, 10)], [(4, 8)], (2, 4)),
    "spans bridge two ranges": (cells((0, 2), (5, 7)), cells((2, 5)), [(0, 7)], [(0, 2), (5, 7)], (2, 5)),
    "several spans cut one range": (
        cells((0, 20)),
        cells((2, 3), (5, 6), (9, 12)),
        [(0, 20)],
        [(0, 2), (3, 5), (6, 9), (12, 20)],
        None,
    ),
    "spans cut the ends of one range": (cells((2, 10)), cells((0, 3), (9, 12)), [(0, 12)], [(3, 9)], (0, 2)),
    "span inside a gap": (cells((0, 2), (8, 10)), cells((4, 6)), [(0, 2), (4, 6), (8, 10)], [(0, 2), (8, 10)], (4, 6)),
    "spans through gaps and ranges": (
        cells((0, 2), (4, 6), (8, 10)),
        cells((1, 5), (7, 9)),
        [(0, 6), (7, 10)],
        [(0, 1), (5, 6), (9, 10)],
        (2, 4),
    ),
    "argument equals pool": (cells((1, 3), (5, 6)), cells((1, 3), (5, 6)), [(1, 3), (5, 6)], [], None),
}


@pytest.mark.parametrize("where", PLACES)
@pytest.mark.parametrize("name", list(EDIT_EXAMPLES))
def test_edit_examples(name: str, where: str) -> None:
    pool, other, union, difference, missing = EDIT_EXAMPLES[name]
    extent = max([*pool, *other, 0]) + 1
    space = Space(4096, place(where, 4096, extent))
    arr, argument = space.array(pool), space.rangeset(other)
    assert list(arr.union(argument)) == [space.range(*s) for s in union]
    assert list(arr.difference(argument)) == [space.range(*s) for s in difference]
    assert arr.first_missing(argument) == (None if missing is None else space.range(*missing))


def test_edits_up_to_2_pow_64() -> None:
    top = RangeArray.from_ranges([Range(TOP - 8192, 4096)])
    assert list(top.union(RangeSet([Range(TOP - 4096, 4096)]))) == [Range(TOP - 8192, 8192)]
    assert list(top.union(RangeSet([Range(TOP - 4096, 4096)])).ends()) == [TOP]
    full = RangeArray.from_ranges([Range(0, U64_MAX)])  # sizes are u64: 2**64 - 1 is the most
    assert list(full.difference(RangeSet([Range(4096, 4096)]))) == [Range(0, 4096), Range(8192, U64_MAX - 8192)]
    assert full.overlapping(Range(U64_MAX - 1, 1)) == Range(0, U64_MAX)
    assert full.overlapping(Range(U64_MAX, 1)) is None
    assert full.first_missing(RangeSet([Range(U64_MAX - 4096, 4097)])) == Range(U64_MAX, 1)


# --- 4. changed ----------------------------------------------------------------------------------------------------


def changed_model(before: RangeArray, after: RangeArray) -> tuple[list[Range], list[Range]]:
    return sorted(set(before) - set(after)), sorted(set(after) - set(before))


def changed_lists(before: RangeArray, after: RangeArray) -> tuple[list[Range], list[Range]]:
    gone, come = changed(before, after)
    return list(gone), list(come)


@st.composite
def long_cell_sets(draw: st.DrawFn) -> frozenset[int]:
    """Up to ~40 ranges, so that the common head and tail are long and the bisection has work."""
    count = draw(st.integers(0, 40))
    cells: set[int] = set()
    cursor = draw(st.integers(0, 2))
    for _ in range(count):
        length = draw(st.integers(1, 3))
        cells.update(range(cursor, cursor + length))
        cursor += length + draw(st.integers(1, 3))
    return frozenset(cells)


@FAST
@given(st.one_of(scenes(), st.builds(Scene, st.just(Space(4096, 0)), long_cell_sets(), cell_sets(200))), st.data())
def test_changed_is_the_set_difference_both_ways(scene: Scene, data: st.DataObject) -> None:
    before = scene.array
    how = data.draw(st.sampled_from(("union", "difference", "unrelated", "same", "drop-one", "replace-one")))
    event(how)
    if how == "union":
        after = before.union(scene.other_set)
    elif how == "difference":
        after = before.difference(scene.other_set)
    elif how == "unrelated":
        after = scene.space.array(scene.other)
    elif how == "same":
        after = copy_of(before)
    else:
        ranges = list(before)
        if ranges:
            k = data.draw(st.integers(0, len(ranges) - 1))
            if how == "drop-one":
                del ranges[k]
            elif ranges[k].size > scene.space.unit:
                ranges[k] = Range(ranges[k].base, ranges[k].size - scene.space.unit)
        after = RangeArray.from_ranges(ranges)
    assert after.is_canonical(1)
    assert changed_lists(before, after) == changed_model(before, after)
    assert changed_lists(after, before) == changed_model(after, before)


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ([], []),
        ([], [(0, 1)]),
        ([(0, 1)], []),
        ([(0, 1), (4, 1), (8, 1)], [(0, 1), (2, 1), (4, 1), (8, 1)]),  # insert in the middle
        ([(0, 1), (4, 1), (8, 1)], [(0, 1), (8, 1)]),  # delete in the middle
        ([(0, 1), (4, 1), (8, 1)], [(0, 1), (4, 2), (8, 1)]),  # grow in the middle
        ([(0, 1), (4, 1)], [(0, 1), (4, 1), (8, 1)]),  # append
        ([(4, 1), (8, 1)], [(0, 1), (4, 1), (8, 1)]),  # prepend
        ([(0, 1), (2, 1), (4, 1)], [(0, 5)]),  # merge all
        ([(i * 4, 2) for i in range(33)], [(i * 4, 2) for i in range(33) if i != 16]),
        ([(i * 4, 2) for i in range(33)], [(i * 4, 2 + (i == 31)) for i in range(33)]),
    ],
)
def test_changed_examples(before: list[tuple[int, int]], after: list[tuple[int, int]]) -> None:
    a = RangeArray.from_ranges(Range(*p) for p in before)
    b = RangeArray.from_ranges(Range(*p) for p in after)
    assert changed_lists(a, b) == changed_model(a, b)


# --- 5. validate: the bisection path against the sort-and-sweep path -----------------------------------------------

V_CELLS = 48  # pages in the validate scenes
ENTRY_TYPES = {
    RAM: ("System RAM",),
    RESERVED: ("Reserved", "ACPI Tables"),
    KERNEL: ("Kernel code", "Kernel bss"),
    CRASHKERNEL: ("Crash kernel",),
}


def pool_of(arr: RangeArray, page: int, *, compatible: bytes = b"pmpool-v1\0", trailing: bytes = b"") -> Pool:
    return decode_pool(
        "default_pmpool",
        [
            ("compatible", compatible),
            ("page-size", page.to_bytes(4, "big")),
            ("page-ranges", arr.to_be_bytes() + trailing),
        ],
    )


def both_paths(
    pool: Pool, maps: list[MemoryMap], reservations: list[MapEntry], phys_bits: int | None
) -> tuple[list[Finding], list[Finding]]:
    """validate's findings by the bisection path (checked to be taken) and by the sort-and-sweep path."""
    assert pool.canonical, pool.problems
    with patch.object(validate_module, "_fast_findings", wraps=validate_module._fast_findings) as fast_path:
        fast = validate(pool, maps, reservations, phys_bits).findings
    assert fast_path.called
    slow_pool = dataclasses.replace(pool, canonical=False)
    with (
        patch.object(RangeArray, "is_canonical", return_value=False),
        patch.object(validate_module, "_fast_findings", side_effect=AssertionError("fast path taken")),
    ):
        slow = validate(slow_pool, maps, reservations, phys_bits).findings
    return fast, slow


def assert_same_findings(fast: list[Finding], slow: list[Finding]) -> None:
    def shown(findings: list[Finding]) -> list[tuple[object, ...]]:
        return [(f.rule, f.severity.value, f.message, f.range, f.conflict) for f in findings]

    assert shown(fast) == shown(slow)
    assert fast == slow


@dataclass(frozen=True)
class ValidateCase:
    pool: Pool
    maps: list[MemoryMap]
    reservations: list[MapEntry]
    phys_bits: int | None


@st.composite
def addresses(draw: st.DrawFn, page: int, offset: int) -> int:
    """A page boundary of the scene, or just off one (maps are byte-granular)."""
    cell = draw(st.integers(0, V_CELLS))
    jitter = 0 if cell == V_CELLS else draw(st.sampled_from((0, 0, 0, 1, page // 2, page - 1)))
    return offset + cell * page + jitter


@st.composite
def entries_of(draw: st.DrawFn, kind: str, page: int, offset: int, source: str, first: int) -> list[MapEntry]:
    entries: list[MapEntry] = []
    if kind == RAM and draw(st.booleans()):
        # A chain of RAM spans, some touching (one span of RAM to validate), some with holes between.
        cursor = offset + draw(st.integers(0, 6)) * page
        for _ in range(draw(st.integers(1, 5))):
            end = min(cursor + draw(st.integers(1, 14)) * page + draw(st.sampled_from((0, 0, page // 2))), TOP)
            if cursor >= end:
                break
            entries.append(MapEntry(cursor, end, "System RAM", RAM, f"{source}:{first + len(entries)}"))
            cursor = end + draw(st.sampled_from((0, 0, page, 3 * page)))
        return entries
    for _ in range(draw(st.integers(0, 3))):
        start = draw(addresses(page, offset))
        end = min(start + draw(st.integers(0, 16)) * page + draw(st.sampled_from((0, 1, page // 2))), TOP)
        if start < end:
            entries.append(
                MapEntry(start, end, draw(st.sampled_from(ENTRY_TYPES[kind])), kind, f"{source}:{first + len(entries)}")
            )
    return entries


@st.composite
def memory_maps(draw: st.DrawFn, page: int, offset: int, source: str) -> MemoryMap:
    entries: list[MapEntry] = []
    for kind in draw(st.lists(st.sampled_from((RAM, RAM, RESERVED, KERNEL, CRASHKERNEL)), max_size=5)):
        entries.extend(draw(entries_of(kind, page, offset, source, len(entries) + 1)))
    # Sorted by (start, end), as every reader but iomem's sorts them (see the iomem test below).
    return MemoryMap(source, "json", sorted(entries, key=lambda e: (e.start, e.end)))


@st.composite
def validate_cases(draw: st.DrawFn) -> ValidateCase:
    page = draw(st.sampled_from((4096, 8192, 1 << 16, 1 << 21)))
    offset = place(draw(st.sampled_from(PLACES)), page, V_CELLS)
    cells = draw(cell_sets(V_CELLS))
    arr = Space(page, offset).array(cells)
    compatible = draw(st.sampled_from((b"pmpool-v1\0", b"pmpool-v1\0", b"pmpool-v1\0", b"pmpool-v2\0")))
    trailing = draw(st.sampled_from((b"", b"", b"", b"\0" * 7)))
    pool = pool_of(arr, page, compatible=compatible, trailing=trailing)
    maps = [draw(memory_maps(page, offset, f"map{n}")) for n in range(draw(st.integers(0, 2)))]
    reservations = sorted(
        (
            MapEntry(e.start, e.end, "/memreserve/", RESERVED, f"blob:memreserve[{i}]")
            for i, e in enumerate(draw(entries_of(RESERVED, page, offset, "blob", 0)))
        ),
        key=lambda e: (e.start, e.end),
    )
    # Physical limits anywhere, and right at the pool's ends (an end exactly 2**N is allowed).
    near = sorted({min(max(n, 20), 64) for e in arr.ends() for n in ((e - 1).bit_length(), e.bit_length() - 1)})
    phys_bits = draw(st.none() | st.integers(20, 64) | (st.sampled_from(near) if near else st.none()))
    return ValidateCase(pool, maps, reservations, phys_bits)


@PROPERTY
@given(validate_cases())
def test_validate_fast_path_gives_the_slow_paths_findings(case: ValidateCase) -> None:
    fast, slow = both_paths(case.pool, case.maps, case.reservations, case.phys_bits)
    for rule in sorted({f.rule for f in fast}):
        event(rule)
    assert_same_findings(fast, slow)


MIB = 1 << 20


def ram(start: int, end: int, line: int = 1, source: str = "map") -> MapEntry:
    return MapEntry(start, end, "System RAM", RAM, f"{source}:{line}")


def one_map(*entries: MapEntry) -> list[MemoryMap]:
    return [MemoryMap("map", "json", sorted(entries, key=lambda e: (e.start, e.end)))]


def rules(findings: list[Finding]) -> list[str]:
    return [f.rule for f in findings]


def test_range_straddling_two_touching_ram_spans_is_all_ram() -> None:
    maps = one_map(ram(0, 2 * MIB, 1), ram(2 * MIB, 4 * MIB, 2))
    pool = pool_of(RangeArray.from_ranges([Range(MIB, 2 * MIB)]), 4096)
    fast, slow = both_paths(pool, maps, [], None)
    assert_same_findings(fast, slow)
    assert fast == []
    # With a one-page hole between the spans, the range is not all RAM.
    maps = one_map(ram(0, 2 * MIB, 1), ram(2 * MIB + 4096, 4 * MIB, 2))
    fast, slow = both_paths(pool, maps, [], None)
    assert_same_findings(fast, slow)
    assert rules(fast) == ["range-outside-ram"]
    assert fast[0].conflict is not None and (fast[0].conflict.start, fast[0].conflict.end) == (2 * MIB, 2 * MIB + 4096)


def test_range_exactly_filling_a_span() -> None:
    maps = one_map(ram(2 * MIB, 4 * MIB), MapEntry(4 * MIB, 6 * MIB, "Reserved", RESERVED, "map:2"))
    exact = pool_of(RangeArray.from_ranges([Range(2 * MIB, 2 * MIB)]), 4096)
    fast, slow = both_paths(exact, maps, [], None)
    assert_same_findings(fast, slow)
    assert fast == []
    for r in (Range(2 * MIB, 2 * MIB + 4096), Range(2 * MIB - 4096, 2 * MIB)):
        fast, slow = both_paths(pool_of(RangeArray.from_ranges([r]), 4096), maps, [], None)
        assert_same_findings(fast, slow)
        assert "range-outside-ram" in rules(fast)
    # Several ranges in one span, the last exactly at its end, then one past it.
    ranges = [Range(2 * MIB, 4096), Range(3 * MIB, MIB), Range(5 * MIB, 4096)]
    fast, slow = both_paths(pool_of(RangeArray.from_ranges(ranges), 4096), maps, [], None)
    assert_same_findings(fast, slow)
    # The Reserved entry lies outside the map's RAM: one fault, said once (range-outside-ram names it).
    assert rules(fast) == ["range-outside-ram"]
    assert {f.range for f in fast} == {Range(5 * MIB, 4096)}
    assert fast[0].conflict is not None and fast[0].conflict.type == "Reserved"


def test_range_ending_at_2_pow_64() -> None:
    top = Range(TOP - 4 * 4096, 4 * 4096)
    pool = pool_of(RangeArray.from_ranges([Range(TOP - 64 * 4096, 4096), top]), 4096)
    maps = one_map(ram(TOP - 16 * MIB, TOP))
    above = "range-above-phys-limit"
    for phys_bits, expected in (
        (None, ["range-in-memreserve"]),
        (64, ["range-in-memreserve"]),
        (63, [above, "range-in-memreserve", above]),
    ):
        fast, slow = both_paths(pool, maps, [MapEntry(TOP - 4096, TOP, "/memreserve/", RESERVED, "b:0")], phys_bits)
        assert_same_findings(fast, slow)
        assert rules(fast) == expected


@pytest.mark.parametrize("phys_bits", [20, 32, 40, 63, 64])
def test_phys_limit_boundary(phys_bits: int) -> None:
    limit = 1 << phys_bits
    below = Range(limit - 3 * 4096, 4096)
    at = Range(limit - 4096, 4096)  # ends exactly at the limit: allowed
    ranges = [below, at] + ([Range(limit + 4096, 4096), Range(limit + 3 * 4096, 2 * 4096)] if phys_bits < 64 else [])
    pool = pool_of(RangeArray.from_ranges(ranges), 4096)
    maps = one_map(ram(limit - 8 * 4096, min(limit + 8 * 4096, TOP)))
    fast, slow = both_paths(pool, maps, [], phys_bits)
    assert_same_findings(fast, slow)
    assert [f.range for f in fast] == ranges[2:]
    assert set(rules(fast)) <= {"range-above-phys-limit"}


def test_every_zone_kind_and_reservation_at_once() -> None:
    maps = [
        MemoryMap(
            "iomem",
            "iomem",
            [
                ram(0, 64 * MIB, 1, "iomem"),
                MapEntry(16 * MIB, 18 * MIB, "Kernel code", KERNEL, "iomem:2"),
                MapEntry(17 * MIB, 20 * MIB, "Kernel bss", KERNEL, "iomem:3"),
                MapEntry(32 * MIB, 40 * MIB, "Crash kernel", CRASHKERNEL, "iomem:4"),
                MapEntry(48 * MIB, 49 * MIB, "ACPI Tables", RESERVED, "iomem:5"),
            ],
        ),
        MemoryMap("e820", "e820", [MapEntry(0, 60 * MIB, "usable", RAM, "e820:1")]),
    ]
    ranges = [Range(15 * MIB, 4 * MIB), Range(30 * MIB, 20 * MIB), Range(62 * MIB, 4 * MIB)]
    reservations = [MapEntry(17 * MIB, 17 * MIB + 4096, "/memreserve/", RESERVED, "b:0")]
    fast, slow = both_paths(pool_of(RangeArray.from_ranges(ranges), 4096), maps, reservations, 25)
    assert_same_findings(fast, slow)
    assert rules(fast) == [
        "range-in-kernel",  # Kernel code and Kernel bss: one finding for the range, naming both
        "range-in-memreserve",
        "range-in-reserved",
        "range-in-crashkernel",
        "range-above-phys-limit",
        "range-outside-ram",  # [64 MiB, 66 MiB) in the iomem map and [60 MiB, 66 MiB) in the e820 map: one finding
        "range-above-phys-limit",
    ]
    (kernel,) = (f for f in fast if f.rule == "range-in-kernel")
    assert [c.source for c in kernel.conflicts] == ["iomem:2", "iomem:3"]
    (outside,) = (f for f in fast if f.rule == "range-outside-ram")
    assert [c.source for c in outside.conflicts] == ["iomem", "e820"]


# /proc/iomem text with its top-level lines out of address order: parse_iomem keeps file order.
UNSORTED_IOMEM = """\
100000000-1ffffffff : System RAM
  110000000-110ffffff : Kernel code
00100000-bfffffff : System RAM
  01000000-01ffffff : Kernel code
"""


def test_validate_paths_agree_on_an_iomem_listed_out_of_order() -> None:
    pool = pool_of(RangeArray.from_ranges([Range(0x1000000, 0x1000)]), 4096)
    # The same map in address order: both paths find the kernel.
    in_order = "\n".join(UNSORTED_IOMEM.splitlines()[2:] + UNSORTED_IOMEM.splitlines()[:2])
    fast, slow = both_paths(pool, [parse_iomem(in_order, "iomem")], [], None)
    assert_same_findings(fast, slow)
    assert rules(fast) == ["range-in-kernel"]
    # Out of order, parse_iomem keeps the file's order and the sort-and-sweep path misses it.
    maps = [parse_iomem(UNSORTED_IOMEM, "iomem")]
    assert [e.start for e in maps[0].entries] != sorted(e.start for e in maps[0].entries)
    fast, slow = both_paths(pool, maps, [], None)
    assert rules(fast) == ["range-in-kernel"]
    assert_same_findings(fast, slow)


def test_non_canonical_pool_in_the_kernel_of_an_iomem_listed_out_of_order() -> None:
    """Two touching ranges (a warning only, so the sort-and-sweep path) inside Kernel code: an error either way."""
    maps = [parse_iomem(UNSORTED_IOMEM, "iomem")]
    pool = pool_of(RangeArray.from_ranges([Range(0x1000000, 0x1000), Range(0x1001000, 0x1000)]), 4096)
    assert not pool.canonical
    assert rules(validate(pool, maps, [], None).findings) == [
        "ranges-not-coalesced",
        "range-in-kernel",
        "range-in-kernel",
    ]


@settings(max_examples=300)
@given(st.data())
def test_edits_derive_their_total_exactly(data: st.DataObject) -> None:
    """union/difference compute the result's total from what they replaced, never by summing it all again."""
    unit = 0x1000
    spans = st.lists(st.tuples(st.integers(0, 300), st.integers(1, 25)), max_size=12)
    current = RangeSet(Range(b * unit, s * unit) for b, s in data.draw(spans))
    other = RangeSet(Range(b * unit, s * unit) for b, s in data.draw(spans))
    array_ = RangeArray.from_ranges(current.ranges())
    for result in (array_.union(other), array_.difference(other)):
        assert result.total_size == sum(r.size for r in result)


# --- 5. all 2^64 addresses -----------------------------------------------------------------------------------------
# The whole address space as a few cells (2^64 / 4 .. 2^64 / 64 bytes each): ranges that cover every cell merge into
# [0, 2^64), whose size no u64 holds, and must come back as EVERY_ADDRESS, never an OverflowError or a wrong array.

WHOLE_CELLS = (4, 16, 64)


@st.composite
def whole_space_sets(draw: st.DrawFn) -> tuple[Space, frozenset[int], frozenset[int]]:
    """Two cell sets of a space of 4-64 cells that is all 2^64 addresses, often (nearly) full together."""
    cells = draw(st.sampled_from(WHOLE_CELLS))
    space = Space(TOP // cells, 0)
    one = draw(cell_sets(cells))
    if draw(st.booleans()):  # the rest of the space, but maybe a cell or two: full together, or just not
        other = frozenset(range(cells)) - one - frozenset(draw(st.lists(st.integers(0, cells - 1), max_size=2)))
        other |= frozenset(draw(st.lists(st.sampled_from(sorted(one) or [0]), max_size=3)))  # some overlap
    else:
        other = draw(cell_sets(cells))
    return space, one, other


def whole_model(space: Space, cells: Iterable[int]) -> list[Range] | EveryAddress:
    """The canonical form of cells as the model has it: EVERY_ADDRESS when all of them are in."""
    runs = runs_of(cells)
    return EVERY_ADDRESS if runs == [(0, TOP // space.unit)] else space.ranges(cells)


def as_model(result: RangeArray | EveryAddress) -> list[Range] | EveryAddress:
    return result if isinstance(result, EveryAddress) else list(result)


@FAST
@given(whole_space_sets(), st.randoms(use_true_random=False))
def test_canonical_of_ranges_that_may_cover_all_2_64(
    case: tuple[Space, frozenset[int], frozenset[int]], rnd: random.Random
) -> None:
    """Both sets' runs, shuffled and overlapping, stored as a pool's ranges: canonical_of is their union's runs."""
    space, one, other = case
    stored = [*space.ranges(one), *space.ranges(other)]
    rnd.shuffle(stored)
    stored = [r for r in stored if r.size < TOP]  # a run of every cell is no u64 range: no pool can store it
    expected = whole_model(space, {c for r in stored for c in range(r.base // space.unit, r.end // space.unit)})
    assert as_model(arrayops.canonical_of(RangeArray.from_ranges(stored))) == expected


@FAST
@given(whole_space_sets())
def test_union_is_every_address_exactly_when_nothing_is_left(
    case: tuple[Space, frozenset[int], frozenset[int]],
) -> None:
    space, one, other = case
    full = frozenset(range(TOP // space.unit))
    if full in (one, other):
        return  # a canonical array cannot hold all of it
    first, second = space.array(one), space.array(other)
    expected = whole_model(space, one | other)
    assert as_model(arrayops.union(first, second)) == expected
    assert as_model(arrayops.union(second, first)) == expected
    if not isinstance(expected, EveryAddress):
        joined = arrayops.union(first, second)
        assert isinstance(joined, RangeArray) and joined.total_size == sum(r.size for r in expected)


@FAST
@given(whole_space_sets())
def test_complement_is_the_rest_of_2_64(case: tuple[Space, frozenset[int], frozenset[int]]) -> None:
    space, one, _ = case
    full = frozenset(range(TOP // space.unit))
    if one == full:
        return
    rest = arrayops.complement(space.array(one))
    assert as_model(rest) == (EVERY_ADDRESS if not one else space.ranges(full - one))
    assert as_model(arrayops.complement(rest)) == space.ranges(one)  # twice is where it started
    if isinstance(rest, RangeArray):
        assert rest.total_size == TOP - space.array(one).total_size
        assert_canonical(rest, space)


@FAST
@given(whole_space_sets())
def test_merged_request_is_every_address_when_it_covers_all(case: tuple[Space, frozenset[int], frozenset[int]]) -> None:
    """request.merged, the batch merge of ordered ranges (C loops), against the cells."""
    from pmpoolctl.pool.request import in_order, merged

    space, one, other = case
    request = [r for r in [*space.ranges(one), *space.ranges(other)] if r.size < TOP]
    if not request:
        return
    cells = {c for r in request for c in range(r.base // space.unit, r.end // space.unit)}
    assert as_model(merged(in_order(RangeArray.from_ranges(request)))) == whole_model(space, cells)


@FAST
@given(whole_space_sets())
def test_a_pool_covering_all_2_64_is_a_range_overflow_error(case: tuple[Space, frozenset[int], frozenset[int]]) -> None:
    """The binding's findings: an error naming [0, 2^64) exactly when the stored ranges leave no address out."""
    space, one, other = case
    stored = [r for r in [*space.ranges(one), *space.ranges(other)] if r.size < TOP]
    cells = {c for r in stored for c in range(r.base // space.unit, r.end // space.unit)}
    whole = [f for f in canonical_findings(RangeArray.from_ranges(stored), 4096) if f.range == WHOLE_RANGE]
    assert len(whole) == (1 if len(cells) == TOP // space.unit else 0)
    assert all(f.rule == "range-overflow" and f.severity is Severity.ERROR for f in whole)


def test_all_2_64_addresses_examples() -> None:
    half = 1 << 63
    assert arrayops.canonical_of(RangeArray.from_ranges([Range(half, half), Range(0, half)])) is EVERY_ADDRESS
    assert list(arrayops.canonical_of(RangeArray.from_ranges([Range(4096, half), Range(half, half)]))) == [
        Range(4096, TOP - 4096)
    ]
    # A range past 2^64 (a range-overflow) holds no address there: the canonical form stops at 2^64.
    past = RangeArray.from_ranges([Range(TOP - 4096, 8192)])
    assert list(arrayops.canonical_of(past)) == [Range(TOP - 4096, 4096)]
    assert arrayops.canonical_of(RangeArray.from_ranges([Range(0, U64_MAX), Range(TOP - 4096, 8192)])) is EVERY_ADDRESS
    low, high = RangeArray.from_ranges([Range(0, half)]), RangeArray.from_ranges([Range(half, half)])
    assert arrayops.union(low, high) is EVERY_ADDRESS
    assert list(arrayops.complement(low)) == [Range(half, half)]
    assert arrayops.complement(RangeArray()) is EVERY_ADDRESS
    assert not arrayops.complement(EVERY_ADDRESS)
    assert list(EVERY_ADDRESS) == [WHOLE_RANGE] and EVERY_ADDRESS.total_size == TOP and len(EVERY_ADDRESS) == 1
