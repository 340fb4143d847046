"""The physical address space as lanes on a compressed axis: the model `map`, `--html` and `--svg` draw.

A lane is one kind of memory (a map's RAM, its reserved entries, the kernel image, the
crash kernel; the blob's reservations; KHO's scratch areas and what it preserves; each
pool) as sorted, disjoint spans. The axis maps the view [start, end) to `width` columns
(characters in a terminal, pixels in a picture) in pieces: a stretch in which no lane
starts or ends (nothing at all, or the inside of one long RAM span) that would be more
than twice as wide as `gap_width` columns at the picture's scale is *compressed* to `gap_width` columns,
its size written in; every other piece is drawn to one linear scale. So a 4 KiB range
stays visible in a TiB address space.

Every range inside the view covers at least one column (`Layout.columns`), columns keep
address order, and a lane's cell says whether its spans cover a column fully, partly or
not at all (`Layout.cells`): the work is linear in the spans (the axis) plus columns x
log(spans) (the cells), never a drawing element per range, so a pool of a million ranges
is a few hundred cells per lane. Marks are one per finding, up to MAX_MARKS.
"""

from __future__ import annotations

import bisect
import heapq
import itertools
import operator
from array import array
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import repeat

from pmpoolctl.check.findings import Finding, Severity
from pmpoolctl.check.validate import Zone
from pmpoolctl.memmap.blobmap import ReservationEntries
from pmpoolctl.memmap.model import CRASHKERNEL, DYNAMIC, KERNEL, KEXEC, RAM, RESERVED, MapEntry, MemoryMap
from pmpoolctl.numbers import U64_LIMIT
from pmpoolctl.pool.binding import Pool
from pmpoolctl.ranges.rangearray import RangeArray

# Lane kinds, in the order lanes are drawn (top to bottom).
POOL = "pool"
RESERVATION = "reservation"
BLOB_DYNAMIC = "blob-dynamic"
KHO_SCRATCH = "kho-scratch"  # memmap.model's class of a host capture's scratch areas too
KHO_PRESERVED = "kho-preserved"
LANE_KINDS = (
    RAM, RESERVED, KERNEL, CRASHKERNEL, DYNAMIC, KEXEC, RESERVATION, BLOB_DYNAMIC, KHO_SCRATCH, KHO_PRESERVED, POOL
)  # fmt: skip
_MAP_LABELS = {RAM: "RAM", RESERVED: "reserved", KERNEL: "kernel image", CRASHKERNEL: "crash kernel"}
_MAP_LABELS[DYNAMIC] = "dynamic reserved"
_MAP_LABELS[KEXEC] = "kexec segments"
_MAP_LABELS[KHO_SCRATCH] = "KHO scratch"
_ZONE_KINDS = {
    "range-in-kho-scratch": (KHO_SCRATCH, "KHO scratch"),
    "range-in-kho-preserved": (KHO_PRESERVED, "KHO preserved"),
}

# A cell: how much of a column a lane's spans cover.
EMPTY, PARTIAL, FULL = 0, 1, 2

MAX_MARKS = 1000  # marks drawn, one per finding; past this a note counts the rest
WIDER = 2  # a quiet stretch is compressed when it would be this many times wider than its compressed mark
MIN_SHOWN = 0.4  # of the width that linear pieces keep, however many stretches could be compressed


class Spans:
    """Sorted, disjoint, non-touching spans as two u64 arrays: starts and lasts (end - 1, so 2^64 fits)."""

    __slots__ = ("lasts", "starts")

    def __init__(self, starts: array[int], lasts: array[int]) -> None:
        self.starts = starts
        self.lasts = lasts

    def __len__(self) -> int:
        return len(self.starts)

    @classmethod
    def of_canonical(cls, ranges: RangeArray) -> Spans:
        """A canonical pool's ranges as they are (sorted, apart, non-empty): no sort, no merge."""
        bases = ranges.bases
        lasts = array("Q", map(operator.sub, map(operator.add, bases, ranges.sizes), repeat(1)))
        return cls(bases, lasts)

    @classmethod
    def union(cls, starts: Sequence[int], ends: Sequence[int]) -> Spans:
        """The union of [starts[i], ends[i]) (any order, overlapping, touching or empty), ends clipped to 2^64."""
        if all(map(operator.le, starts, itertools.islice(starts, 1, None))):
            order: Iterable[int] = range(len(starts))
        else:
            order = sorted(range(len(starts)), key=starts.__getitem__)
        out_starts, out_lasts = array("Q"), array("Q")
        current_start, current_end = -1, -1
        for index in order:
            start, end = starts[index], min(ends[index], U64_LIMIT)
            if end <= start:
                continue
            if start <= current_end:  # overlapping or touching: one span
                current_end = max(current_end, end)
                continue
            if current_end > current_start >= 0:
                out_starts.append(current_start)
                out_lasts.append(current_end - 1)
            current_start, current_end = start, end
        if current_end > current_start >= 0:
            out_starts.append(current_start)
            out_lasts.append(current_end - 1)
        return cls(out_starts, out_lasts)

    @classmethod
    def of_entries(cls, entries: Iterable[MapEntry]) -> Spans:
        listed = list(entries)
        return cls.union([e.start for e in listed], [e.end for e in listed])

    def extent(self) -> tuple[int, int] | None:
        """[first start, last end) of the spans, or None when there are none."""
        return (self.starts[0], self.lasts[-1] + 1) if self.starts else None

    def _between(self, lo: int, hi: int) -> tuple[int, int]:
        """[i, j): the spans that meet [lo, hi)."""
        return bisect.bisect_left(self.lasts, lo), bisect.bisect_left(self.starts, hi)

    def boundaries(self, lo: int, hi: int) -> Iterator[int]:
        """Every start and end inside [lo, hi], ascending (the view's own ends where a span crosses them)."""
        i, j = self._between(lo, hi)
        if i >= j:
            return iter(())
        ends = map(operator.add, self.lasts[i:j], repeat(1))
        inner = itertools.islice(itertools.chain.from_iterable(zip(self.starts[i:j], ends)), 1, 2 * (j - i) - 1)
        first, last = max(self.starts[i], lo), min(self.lasts[j - 1] + 1, hi)  # the only ones the view can cut
        return itertools.chain((first,), inner, (last,))

    def stretches(self, lo: int, hi: int) -> Iterator[tuple[int, int]]:
        """(size, -start) of every stretch of [lo, hi) between two consecutive boundaries: each span, each gap
        between spans, and the view's ends before the first and after the last (the negative start: so the
        largest are found without a comparison past the size but for ties, lowest address first)."""
        i, j = self._between(lo, hi)
        if i >= j:
            return iter(((hi - lo, -lo),))
        starts, lasts = self.starts[i:j], self.lasts[i:j]  # copies: the view may cut the first and last
        starts[0] = max(starts[0], lo)
        lasts[-1] = min(lasts[-1], hi - 1)
        one = repeat(1)
        spans = zip(map(operator.add, map(operator.sub, lasts, starts), one), map(operator.neg, starts))
        gaps = zip(
            map(operator.sub, map(operator.sub, starts[1:], lasts[:-1]), one),
            map(operator.neg, map(operator.add, lasts[:-1], one)),
        )
        ends = [(starts[0] - lo, -lo), (hi - lasts[-1] - 1, -(lasts[-1] + 1))]
        return itertools.chain(spans, gaps, (e for e in ends if e[0] > 0))

    def cover(self, lo: int, hi: int) -> int:
        """EMPTY, PARTIAL or FULL: how much of [lo, hi) the spans cover (spans never touch, so FULL is one span)."""
        i, j = self._between(lo, hi)
        if i >= j:
            return EMPTY
        return FULL if j - i == 1 and self.starts[i] <= lo and self.lasts[i] >= hi - 1 else PARTIAL


@dataclass(frozen=True)
class Lane:
    kind: str  # one of LANE_KINDS
    label: str  # "RAM", "pool /default_pmpool"
    source: str  # where the spans were read: a map's source, the blob, the KHO directory
    spans: Spans


@dataclass(frozen=True)
class Piece:
    """Addresses [start, end) drawn in columns [x0, x1): linearly, or compressed (its size written in)."""

    start: int
    end: int
    x0: int
    x1: int
    compressed: bool

    @property
    def size(self) -> int:
        return self.end - self.start

    def edge(self, k: int) -> int:
        """The first address of the piece's k-th column (k = 0 .. columns); column c holds [edge(c), edge(c + 1))."""
        n = self.x1 - self.x0
        return self.start + (k * self.size + n - 1) // n

    def column(self, address: int) -> int:
        return self.x0 + (address - self.start) * (self.x1 - self.x0) // self.size


@dataclass(frozen=True)
class Mark:
    """A finding's range on the axis: columns [x0, x1)."""

    finding: Finding
    x0: int
    x1: int


@dataclass(frozen=True)
class Layout:
    start: int
    end: int
    width: int  # columns used (the width asked for, or fewer for a view of fewer bytes)
    pieces: list[Piece]

    @property
    def compressed(self) -> list[Piece]:
        return [p for p in self.pieces if p.compressed]

    @property
    def bytes_per_column(self) -> float:
        """The scale of the linear pieces."""
        shown = [p for p in self.pieces if not p.compressed]
        return sum(p.size for p in shown) / max(1, sum(p.x1 - p.x0 for p in shown))

    def _piece(self, address: int) -> Piece:
        index = bisect.bisect_right(self.pieces, address, key=operator.attrgetter("start")) - 1
        return self.pieces[max(index, 0)]

    def column(self, address: int) -> int:
        """The column holding `address` (inside the view)."""
        return self._piece(address).column(address)

    def columns(self, start: int, end: int) -> tuple[int, int] | None:
        """Columns [c0, c1) of [start, end) clipped to the view (an empty range as its first byte), None if outside."""
        end = max(end, start + 1)
        lo, hi = max(start, self.start), min(end, self.end)
        if lo >= hi:
            return None
        return self.column(lo), self.column(hi - 1) + 1

    def column_edges(self) -> list[int]:
        """The first address of every column, and the view's end: width + 1 ascending addresses."""
        edges = [p.edge(k) for p in self.pieces for k in range(p.x1 - p.x0)]
        edges.append(self.end)
        return edges

    def cells(self, spans: Spans) -> list[int]:
        """EMPTY, PARTIAL or FULL for every column: a few bisections per column, whatever the spans' count."""
        edges = self.column_edges()
        return [spans.cover(a, b) for a, b in itertools.pairwise(edges)]

    def marks(self, findings: Sequence[Finding]) -> tuple[list[Mark], int]:
        """One mark per finding with a range in the view (errors first, up to MAX_MARKS), and how many were left off."""
        placed: list[Mark] = []
        for finding in findings:
            if finding.range is None:
                continue
            where = self.columns(finding.range.base, finding.range.end)
            if where is not None:
                placed.append(Mark(finding, *where))
        placed.sort(key=lambda m: (m.finding.severity is not Severity.ERROR, m.x0))
        return sorted(placed[:MAX_MARKS], key=lambda m: m.x0), max(0, len(placed) - MAX_MARKS)


def lanes_of(
    maps: Sequence[MemoryMap],
    reservations: Sequence[MapEntry] = (),
    zones: Sequence[Zone] = (),
    pools: Sequence[Pool] = (),
) -> list[Lane]:
    """The lanes to draw, empty ones left out: each map's kinds, the blob's reservations, KHO's zones, each pool."""
    lanes: list[Lane] = []
    for number, memory_map in enumerate(maps, 1):
        suffix = f" #{number}" if len(maps) > 1 else ""
        by_kind: dict[str, list[MapEntry]] = {}
        for entry in memory_map.entries:
            by_kind.setdefault(entry.kind, []).append(entry)
        for kind in (RAM, RESERVED, KERNEL, CRASHKERNEL, DYNAMIC, KEXEC, KHO_SCRATCH):
            lanes.append(
                Lane(kind, _MAP_LABELS[kind] + suffix, memory_map.source, Spans.of_entries(by_kind.get(kind, ())))
            )
    if reservations:
        static, dynamic = _reservation_spans(reservations)
        source = reservations[0].source.rsplit(":", 1)[0]
        lanes.append(Lane(RESERVATION, "blob reservations", source, static))
        lanes.append(Lane(BLOB_DYNAMIC, "blob dynamic reserved", source, dynamic))
    for zone in zones:
        kind, label = _ZONE_KINDS.get(zone.rule, (KHO_PRESERVED, zone.rule))
        lanes.append(Lane(kind, label, zone.where, Spans.of_entries(zone.entries)))
    for pool in pools:
        spans = (
            Spans.of_canonical(pool.ranges)
            if pool.canonical
            else Spans.union(pool.ranges.bases, list(pool.ranges.ends()))
        )
        lanes.append(Lane(POOL, f"pool {pool.path}", pool.path, spans))
    return [lane for lane in lanes if len(lane.spans)]


def _reservation_spans(reservations: Sequence[MapEntry]) -> tuple[Spans, Spans]:
    """(static, dynamic) reservations; a million block entries are read from the block's arrays."""
    if isinstance(reservations, ReservationEntries):
        starts, ends = reservations.block_spans()
        children: Sequence[MapEntry] = reservations.children
    else:
        starts, ends, children = array("Q"), [], reservations
    static = [c for c in children if c.kind != DYNAMIC]
    dynamic = [c for c in children if c.kind == DYNAMIC]
    all_starts = list(starts) + [c.start for c in static]
    all_ends = list(ends) + [c.end for c in static]
    return Spans.union(all_starts, all_ends), Spans.of_entries(dynamic)


VIEW_FALLBACK = 4096  # bytes drawn at an address asked for when no lane reaches past it (or before it)


def view_of(lanes: Sequence[Lane], start: int | None = None, end: int | None = None) -> tuple[int, int]:
    """[start, end): what was asked (--from/--to), else from the lowest start to the highest end of any lane.

    Never empty and never past 2^64: a start past every lane gets a page's view from it (cut at
    2^64), an end before every lane a page's view up to it. ValueError for an `end` of 0, or not
    above `start`: no address is left to draw (the command line refuses both as usage errors).
    """
    if end is not None and (end <= 0 or (start is not None and end <= start)):
        raise ValueError(f"no address lies in [{start or 0:#x}, {end:#x}): nothing to draw")
    extents = [e for lane in lanes if (e := lane.spans.extent()) is not None]
    lo = start if start is not None else min((e[0] for e in extents), default=0)
    hi = end if end is not None else min(max((e[1] for e in extents), default=0), U64_LIMIT)
    if hi <= lo:  # what was asked for lies past (or before) everything there is
        if end is None:
            hi = min(lo + VIEW_FALLBACK, U64_LIMIT)
        else:
            lo = max(0, hi - VIEW_FALLBACK)
    return lo, hi


def layout(lanes: Sequence[Lane], width: int, gap_width: int, start: int, end: int) -> Layout:
    """The axis of [start, end) in `width` columns: quiet stretches compressed, the rest to one linear scale.

    A stretch between two consecutive boundaries of any lane is quiet; the largest are
    compressed while each would be WIDER times wider than `gap_width` columns at the scale left for the
    rest, and the linear pieces keep MIN_SHOWN of the width.
    """
    assert start < end and width >= 1 and gap_width >= 1
    most_gaps = max(0, int(width * (1 - MIN_SHOWN)) // gap_width)
    chosen = _compressed_stretches(lanes, start, end, width, gap_width, most_gaps)
    pieces: list[tuple[int, int, bool]] = []
    cursor = start
    for gap_start, gap_end in sorted(chosen):
        if gap_start > cursor:
            pieces.append((cursor, gap_start, False))
        pieces.append((gap_start, gap_end, True))
        cursor = gap_end
    if cursor < end:
        pieces.append((cursor, end, False))
    shown_columns = width - gap_width * len(chosen)
    widths = _shares([s for s, e, c in pieces if not c], [e - s for s, e, c in pieces if not c], shown_columns)
    placed: list[Piece] = []
    x = 0
    shown = iter(widths)
    for piece_start, piece_end, compressed in pieces:
        columns = min(gap_width, piece_end - piece_start) if compressed else next(shown)
        placed.append(Piece(piece_start, piece_end, x, x + columns, compressed))
        x += columns
    return Layout(start, end, x, placed)


def _compressed_stretches(
    lanes: Sequence[Lane], start: int, end: int, width: int, gap_width: int, most: int
) -> list[tuple[int, int]]:
    if most == 0:
        return []
    candidates = quiet_stretches(lanes, start, end, most)
    remaining, columns = end - start, width
    chosen: list[tuple[int, int]] = []
    for size, gap_start in candidates:
        scale = remaining / columns  # bytes per column of what is not compressed yet
        left = columns - gap_width  # for the linear pieces, a column at least each (one more per gap)
        if size <= WIDER * gap_width * scale or size >= remaining or size < 2 * gap_width:
            break  # too small to gain from compressing, or the last linear stretch
        if left < max(width * MIN_SHOWN, len(chosen) + 2):
            break
        chosen.append((gap_start, gap_start + size))
        remaining -= size
        columns -= gap_width
    return chosen


def quiet_stretches(lanes: Sequence[Lane], start: int, end: int, most: int) -> list[tuple[int, int]]:
    """The `most` largest stretches of [start, end) in which no lane starts or ends, as (size, start), largest first.

    The lane with the most spans (a pool of a million ranges) is walked at C speed: its
    own stretches (spans, the gaps between them, the view's ends) are sized by `map`
    over its arrays and only its largest `most + m` are kept, where m is the count of
    the other lanes' boundaries. Those boundaries cut at most m of them, so the `most`
    largest pieces of the kept stretches are the largest quiet stretches of all.
    """
    if most <= 0:
        return []
    ordered = sorted(lanes, key=lambda lane: len(lane.spans), reverse=True)
    cuts = sorted(set(itertools.chain.from_iterable(lane.spans.boundaries(start, end) for lane in ordered[1:])))
    cuts = [c for c in cuts if start < c < end]
    keep = most + len(cuts)
    stretches = ordered[0].spans.stretches(start, end) if ordered else iter(((end - start, -start),))
    candidates = []
    for size, negative_start in heapq.nlargest(keep, stretches):
        low, high = -negative_start, -negative_start + size
        inner = cuts[bisect.bisect_right(cuts, low) : bisect.bisect_left(cuts, high)]
        for a, b in itertools.pairwise([low, *inner, high]):
            candidates.append((b - a, -a))
    return [(size, -negative) for size, negative in heapq.nlargest(most, candidates)]


def _shares(starts: list[int], sizes: list[int], columns: int) -> list[int]:
    """Columns for each linear piece: one each, the rest by size (largest remainders), none wider than its bytes."""
    if not sizes:
        return []
    shares = [1] * len(sizes)
    spare = max(0, columns - len(sizes))
    total = sum(sizes)
    exact = [spare * s / total for s in sizes]
    for index, value in enumerate(exact):
        shares[index] += min(int(value), sizes[index] - 1)
    left = columns - sum(shares)
    by_remainder = sorted(range(len(sizes)), key=lambda i: exact[i] - int(exact[i]), reverse=True)
    for index in itertools.islice(itertools.cycle(by_remainder), 4 * len(sizes)):
        if left <= 0:
            break
        if shares[index] < sizes[index]:
            shares[index] += 1
            left -= 1
    return shares


@dataclass(frozen=True)
class Picture:
    """What is drawn: the lanes on the axis, each lane's cells, the findings' marks and what was left off."""

    lanes: list[Lane]
    layout: Layout
    cells: list[list[int]]  # per lane, per column
    marks: list[Mark]
    unmarked: int  # findings in the view past MAX_MARKS
    outside: int  # findings whose range is outside the view
    rangeless: int  # findings about no one range (the binding, the KHO root): in the table only


def picture(
    lanes: Sequence[Lane],
    findings: Sequence[Finding],
    width: int,
    gap_width: int,
    start: int | None = None,
    end: int | None = None,
) -> Picture:
    """The lanes in [start, end) (default: all of them) on `width` columns, with a mark per finding."""
    lo, hi = view_of(lanes, start, end)
    axis = layout(lanes, width, gap_width, lo, hi)
    marks, unmarked = axis.marks(findings)
    with_range = [f for f in findings if f.range is not None]
    outside = sum(1 for f in with_range if f.range is not None and axis.columns(f.range.base, f.range.end) is None)
    return Picture(
        list(lanes),
        axis,
        [axis.cells(lane.spans) for lane in lanes],
        marks,
        unmarked,
        outside,
        len(findings) - len(with_range),
    )
