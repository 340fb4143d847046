"""The address-space model (check/addrspace.py): the compressed axis and the lanes' cells.

Properties, for lanes of ranges from 4 KiB to most of 2^64 anywhere in the u64 space:
every range in the view covers at least one column and its lane's cells there are not
empty; columns keep address order; the pieces tile the view, the compressed ones are
quiet (no lane starts or ends inside) and compressed plus linear sizes sum to the view.
"""

from __future__ import annotations

import itertools
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pmpoolctl.check.addrspace import (
    EMPTY,
    FULL,
    MAX_MARKS,
    PARTIAL,
    POOL,
    Lane,
    Spans,
    lanes_of,
    layout,
    picture,
    quiet_stretches,
    view_of,
)
from pmpoolctl.check.rules import finding
from pmpoolctl.memmap.model import KERNEL, RAM, RESERVED, MapEntry, MemoryMap
from pmpoolctl.pool.binding import Pool
from pmpoolctl.ranges.rangearray import RangeArray
from pmpoolctl.ranges.rangeset import Range, RangeSet

TOP = 1 << 64
PROPERTY = settings(max_examples=200, deadline=None)

sizes = st.one_of(st.integers(1, 1 << 14), st.integers(1, 1 << 40), st.integers(1, 1 << 63)).map(
    lambda s: max(4096, s - s % 4096)
)
ranges = st.tuples(st.integers(0, (TOP >> 12) - 1).map(lambda p: p << 12), sizes).map(
    lambda r: Range(r[0], min(r[1], TOP - r[0]))
)
lanes_st = st.lists(st.lists(ranges, min_size=1, max_size=12), min_size=1, max_size=5)


def lane(ranges: list[Range], kind: str = RAM) -> Lane:
    return Lane(kind, kind, "test", Spans.union([r.base for r in ranges], [r.end for r in ranges]))


@PROPERTY
@given(st.lists(st.tuples(st.integers(0, 200), st.integers(0, 20))))
def test_spans_union_is_the_set_union(pairs: list[tuple[int, int]]) -> None:
    spans = Spans.union([b for b, _ in pairs], [b + s for b, s in pairs])
    expected = list(RangeSet(Range(b, s) for b, s in pairs if s).spans())
    assert list(zip(spans.starts, (last + 1 for last in spans.lasts))) == expected


@PROPERTY
@given(lanes_st, st.integers(20, 1200), st.integers(1, 50), st.data())
def test_every_range_is_visible_in_order_and_the_gaps_sum(
    groups: list[list[Range]], width: int, gap_width: int, data: st.DataObject
) -> None:
    lanes = [lane(group) for group in groups]
    lo, hi = view_of(lanes)
    if data.draw(st.booleans(), "zoom"):  # --from/--to: a view inside or across the ranges
        lo = data.draw(st.integers(lo, hi - 1), "from")
        hi = data.draw(st.integers(lo + 1, hi), "to")
    axis = layout(lanes, width, gap_width, lo, hi)

    # The pieces tile the view, in columns [0, width) without overlap.
    assert axis.pieces[0].start == lo and axis.pieces[-1].end == hi
    assert all(a.end == b.start and a.x1 == b.x0 for a, b in zip(axis.pieces, axis.pieces[1:]))
    assert axis.pieces[0].x0 == 0 and axis.pieces[-1].x1 == axis.width <= width
    assert all(p.x1 > p.x0 and p.end > p.start for p in axis.pieces)
    # Compressed plus linear is the view; a compressed stretch holds no boundary of any lane.
    assert sum(p.size for p in axis.compressed) + sum(p.size for p in axis.pieces if not p.compressed) == hi - lo
    boundaries = {b for one in lanes for s, last in zip(one.spans.starts, one.spans.lasts) for b in (s, last + 1)}
    for gap in axis.compressed:
        assert not any(gap.start < b < gap.end for b in boundaries), gap
    edges = axis.column_edges()
    assert len(edges) == axis.width + 1 and all(a < b for a, b in itertools.pairwise(edges))

    cells = [axis.cells(one.spans) for one in lanes]
    visible: list[tuple[Range, tuple[int, int]]] = []
    for index, group in enumerate(groups):
        for r in group:
            where = axis.columns(r.base, r.end)
            if r.end <= lo or r.base >= hi:
                assert where is None
                continue
            assert where is not None and where[1] > where[0], r
            assert all(cells[index][c] != EMPTY for c in range(*where)), (r, where)
            visible.append((r, where))
    # Order kept: a range wholly below another is drawn no further right.
    for a, wa in visible:
        for b, wb in visible:
            if a.end <= b.base:
                assert wa[1] - 1 <= wb[0], (a, b, wa, wb)


addresses = st.one_of(
    st.integers(0, TOP - 1),
    st.sampled_from([0, 1, 4096, TOP - 4096, TOP - 2, TOP - 1]),
    ranges.map(lambda r: r.base),
    ranges.map(lambda r: r.end - 1),
)


@PROPERTY
@given(lanes_st, st.none() | addresses, st.none() | addresses, st.integers(1, 200))
def test_every_from_and_to_is_a_view_inside_2_64_or_refused(
    groups: list[list[Range]], start: int | None, end: int | None, width: int
) -> None:
    """--from/--to anywhere in the u64 range: a non-empty view that ends by 2^64 and keeps what was asked,
    or a ValueError exactly when no address is left ([start, end) empty, or an end of 0)."""
    lanes = [lane(group) for group in groups]
    if end is not None and (end == 0 or (start is not None and end <= start)):
        with pytest.raises(ValueError, match="nothing to draw"):
            view_of(lanes, start, end)
        return
    lo, hi = view_of(lanes, start, end)
    assert 0 <= lo < hi <= TOP
    assert start is None or lo == start
    assert end is None or hi == end
    drawn = picture(lanes, [], width, 3, start, end)
    assert drawn.layout.start == lo and drawn.layout.end == hi


@PROPERTY
@given(lanes_st, st.integers(20, 400))
def test_cells_say_full_partial_or_empty_truthfully(groups: list[list[Range]], width: int) -> None:
    lanes = [lane(group) for group in groups]
    lo, hi = view_of(lanes)
    axis = layout(lanes, width, 5, lo, hi)
    edges = axis.column_edges()
    for one, group in zip(lanes, groups):
        covered = RangeSet(group)
        for c, cell in enumerate(axis.cells(one.spans)):
            column = RangeSet([Range.span(edges[c], edges[c + 1])])
            common = covered.intersection(column).total_size
            assert cell == (EMPTY if common == 0 else FULL if common == column.total_size else PARTIAL)


def test_a_4k_range_in_a_tib_is_visible_and_the_empty_stretches_are_compressed() -> None:
    ram = lane([Range(0, 1 << 40)])
    pool = lane([Range(0x5_0000_0000, 4096)], POOL)
    axis = layout([ram, pool], 80, 5, 0, 1 << 40)
    c0, c1 = axis.columns(0x5_0000_0000, 0x5_0000_1000)  # type: ignore[misc]
    assert c1 - c0 >= 1 and axis.cells(pool.spans)[c0] != EMPTY
    assert [(p.start, p.end) for p in axis.compressed] == [(0, 0x5_0000_0000), (0x5_0000_1000, 1 << 40)]
    assert axis.width == 80


def test_nothing_to_compress_is_one_linear_piece() -> None:
    ram = lane([Range(0, 80 << 12)])
    axis = layout([ram], 80, 5, 0, 80 << 12)
    assert [(p.start, p.end, p.x0, p.x1, p.compressed) for p in axis.pieces] == [(0, 80 << 12, 0, 80, False)]
    assert axis.cells(ram.spans) == [FULL] * 80


def test_a_view_of_fewer_bytes_than_columns_uses_fewer_columns() -> None:
    axis = layout([lane([Range(0, 4096)])], 80, 5, 0, 10)
    assert axis.width == 10 and axis.column_edges() == list(range(11))


def _pool(ranges: RangeArray) -> Pool:
    return Pool("default_pmpool", [], "pmpool-v1", 4096, ranges, [], canonical=True)


def test_lanes_of_a_map_reservations_and_a_pool() -> None:
    entries = [
        MapEntry(0, 1 << 30, "System RAM", RAM, "m:1"),
        MapEntry(1 << 20, 2 << 20, "Kernel code", KERNEL, "m:2"),
        MapEntry(2 << 20, 3 << 20, "Kernel data", KERNEL, "m:3"),  # touching: one span
        MapEntry(1 << 30, 2 << 30, "PCI", RESERVED, "m:4"),
    ]
    pool = _pool(RangeArray.from_ranges([Range(4 << 20, 4096)]))
    lanes = lanes_of(
        [MemoryMap("m", "iomem", entries)], [MapEntry(8 << 20, 9 << 20, "/memreserve/", RESERVED, "b:0")], (), [pool]
    )
    assert [(one.kind, one.label, len(one.spans)) for one in lanes] == [
        ("ram", "RAM", 1),
        ("reserved", "reserved", 1),
        ("kernel", "kernel image", 1),
        ("reservation", "blob reservations", 1),
        ("pool", "pool /default_pmpool", 1),
    ]
    assert list(lanes[2].spans.starts) == [1 << 20] and list(lanes[2].spans.lasts) == [(3 << 20) - 1]


def test_one_mark_per_finding_capped() -> None:
    pool = _pool(RangeArray.from_ranges([Range(k << 13, 4096) for k in range(MAX_MARKS + 5)]))
    lanes = lanes_of([], (), (), [pool])
    found = [finding("range-outside-ram", "x", r) for r in pool.ranges] + [finding("binding-invalid", "y")]
    drawn = picture(lanes, found, 900, 40)
    assert len(drawn.marks) == MAX_MARKS and drawn.unmarked == 5 and drawn.rangeless == 1 and drawn.outside == 0
    zoomed = picture(lanes, found, 900, 40, 0, 10 << 13)
    assert len(zoomed.marks) == 10 and zoomed.outside == MAX_MARKS - 5


_MILLION = """
import resource, sys, time
from array import array
from pmpoolctl.check.addrspace import PARTIAL, MAX_MARKS, lanes_of, picture
from pmpoolctl.check.rules import finding
from pmpoolctl.memmap.model import RAM, MapEntry, MemoryMap
from pmpoolctl.pool.binding import Pool
from pmpoolctl.ranges.rangearray import RangeArray

count = 1_000_000
bases = array("Q", range(1 << 32, (1 << 32) + count * 8192, 8192))
pool = Pool("default_pmpool", [], "pmpool-v1", 4096, RangeArray(bases, array("Q", [4096]) * count), [], canonical=True)
ram = MemoryMap("m", "iomem", [MapEntry(0, 1 << 40, "System RAM", RAM, "m:1")])
found = [finding("range-outside-ram", "x", pool.ranges[k]) for k in range(0, count, 997)]
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
began = time.perf_counter()
drawn = picture(lanes_of([ram], (), (), [pool]), found, 960, 44)
elapsed = time.perf_counter() - began
grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
assert len(drawn.cells[1]) == drawn.layout.width <= 960 and PARTIAL in drawn.cells[1]
assert len(drawn.marks) == MAX_MARKS and drawn.unmarked == len(found) - MAX_MARKS
print(elapsed, grown * 1024)
"""


def test_a_million_range_pool_is_drawn_in_bounded_time_and_memory() -> None:
    """Measured on the 2-core CI machine: 0.5 s and 40 MB above the pool's own arrays; held to 20 s and 200 MB."""
    proc = subprocess.run([sys.executable, "-c", _MILLION], capture_output=True, text=True, check=False, timeout=120)
    assert proc.returncode == 0, proc.stderr
    elapsed, grown = map(float, proc.stdout.split())
    assert elapsed < 20 and grown < 200 << 20, (elapsed, grown)


@PROPERTY
@given(lanes_st, st.integers(1, 12))
def test_quiet_stretches_are_the_largest_of_all_lanes_merged(groups: list[list[Range]], most: int) -> None:
    """The big lane walked alone and cut by the others' boundaries finds what a merge of every boundary finds."""
    lanes = [lane(group) for group in groups]
    lo, hi = view_of(lanes)
    edges = sorted({lo, hi} | {b for one in lanes for b in one.spans.boundaries(lo, hi)})
    brute = sorted(((b - a, a) for a, b in itertools.pairwise(edges) if b > a), key=lambda s: (-s[0], s[1]))
    assert quiet_stretches(lanes, lo, hi, most) == brute[:most]
