"""Union and difference of two canonical RangeArrays of any sizes: the smaller is walked, the larger bisected.

`RangeArray.union` and `.difference` walk their argument and copy the array's
untouched runs as slices: right for a few ranges edited into a big pool (the
decoded pool's bytes are reused too). A batch of ten million ranges added to a
small pool is the other way round, so these pick the side: the walk costs Python
steps for the smaller array only, and the larger one's runs are copied in C.
"""

from __future__ import annotations

import bisect
import heapq
import itertools
import operator
import re
from array import array
from itertools import repeat
from operator import add, gt, lt, mul, sub

from pmpoolctl.buffers import Buffer
from pmpoolctl.numbers import U64_LIMIT
from pmpoolctl.ranges.everyaddress import EVERY_ADDRESS, Canonical, EveryAddress
from pmpoolctl.ranges.rangearray import PAIR_BYTES, RangeArray, same_run
from pmpoolctl.ranges.rangeset import Range


def base_order(ranges: RangeArray) -> list[int]:
    """Indices of `ranges` in order of base, stable (equal bases keep their stored order).

    The key is the bases array's own lookup: no Range object is made, and a million
    ranges cost a list of a million ints, not of a million tuples.
    """
    bases = ranges.bases
    if all(map(operator.le, bases, itertools.islice(bases, 1, None))):
        return list(range(len(bases)))
    return sorted(range(len(bases)), key=bases.__getitem__)


def canonical_of(ranges: RangeArray) -> Canonical:
    """The addresses of any ranges (unsorted, overlapping, touching, empty) in canonical form.

    Sorted by base through `base_order`, then merged in one pass; the result's arrays
    grow by appends (C), so a million reversed ranges are never a million objects.
    Addresses do not go past 2^64: a range that runs past it (a range-overflow) is cut
    there. Ranges that cover all 2^64 addresses are EVERY_ADDRESS, which no u64 size can say.
    """
    bases, sizes = ranges.bases, ranges.sizes
    out_bases, out_sizes = array("Q"), array("Q")
    start = end = -1
    for i in base_order(ranges):
        size = sizes[i]
        if not size:
            continue
        base = bases[i]
        if base <= end:  # overlaps or touches the span being built
            end = max(end, base + size)
            continue
        if end >= 0:
            out_bases.append(start)
            out_sizes.append(end - start)
        start, end = base, base + size
    if end >= 0:
        end = min(end, U64_LIMIT)  # only the last span can reach past 2^64: it holds every later base
        if start == 0 and end == U64_LIMIT:
            return EVERY_ADDRESS
        out_bases.append(start)
        out_sizes.append(end - start)
    return RangeArray(out_bases, out_sizes)


def union(pool: RangeArray, addition: RangeArray) -> Canonical:
    """Addresses in either (both canonical), in canonical form: EVERY_ADDRESS when that is all 2^64."""
    if pool.total_size + addition.total_size >= U64_LIMIT and _cover_everything(pool, addition):
        return EVERY_ADDRESS
    if min(len(pool), len(addition)) >= _INSERT_MIN:
        inserted = _insert_apart(pool, addition)
        if inserted is not None:
            return inserted
    return pool.union(addition) if len(addition) <= len(pool) else addition.union(pool)


def _cover_everything(one: RangeArray, other: RangeArray) -> bool:
    """Whether two canonical arrays together hold all 2^64 addresses: no gap is left in [0, 2^64).

    A Python walk, but only ever of arrays that hold 2^64 bytes between them (hostile pools).
    """
    reach = 0  # every address below it is in one of them
    for base, end in heapq.merge(one.spans(), other.spans()):
        if base > reach:
            return False
        reach = max(reach, end)
    return reach >= U64_LIMIT


def complement(ranges: Canonical) -> Canonical:
    """The addresses of [0, 2^64) that are not in `ranges` (canonical), in canonical form."""
    if isinstance(ranges, EveryAddress):
        return RangeArray()
    if not ranges:
        return EVERY_ADDRESS
    bases, sizes = ranges.bases, ranges.sizes
    # The gaps: from 0 to the first base, between each end and the next base, from the last end to 2^64.
    starts = array("Q", [0])
    starts.extend(map(add, bases, sizes[: len(sizes) - 1]))
    stops = array("Q", bases)
    last_end = bases[-1] + sizes[-1]
    if last_end < U64_LIMIT:
        starts.append(last_end)
        stops.append(U64_LIMIT - 1)  # a u64 for now; the size below adds the one back
    gap_sizes = array("Q", map(sub, stops, starts))
    if last_end < U64_LIMIT:
        gap_sizes[-1] += 1
    if bases[0] == 0:  # no gap below the first range
        starts, gap_sizes = starts[1:], gap_sizes[1:]
    return RangeArray(starts, gap_sizes)


_INSERT_MIN = 64  # below this many ranges on the smaller side, walking it costs less than the set-up below


def _insert_apart(pool: RangeArray, addition: RangeArray) -> RangeArray | None:
    """The union when no range of `addition` overlaps or touches one of `pool` (a batch into the
    pool's gaps, the usual case), else None.

    Then the union is the two arrays merged: where each range goes is found by bisection
    (`map` over `bisect_left`, in C), the neighbours are compared in C too, and the merged
    big-endian pairs are one join of the pool's runs of pairs and the added pairs: what the new
    blob holds, made once (the columns are decoded only if read). No Python step per range:
    100,000 ranges into a pool of a million cost C loops only.
    """
    bases, sizes, new_bases, new_sizes = pool.bases, pool.sizes, addition.bases, addition.sizes
    count, added = len(bases), len(new_bases)
    at = list(map(bisect.bisect_left, repeat(bases, added), new_bases))  # ascending: both are sorted
    first_with_before = bisect.bisect_right(at, 0)  # ranges before it go before the pool's first
    last_with_after = bisect.bisect_left(at, count)  # ranges from it go after the pool's last
    before = list(map(sub, at[first_with_before:], repeat(1)))
    if not all(
        map(
            gt,
            new_bases[first_with_before:],
            map(add, map(bases.__getitem__, before), map(sizes.__getitem__, before)),
        )
    ):
        return None  # one starts inside the range before it, or at its end
    if not all(
        map(
            lt,
            map(add, new_bases[:last_with_after], new_sizes[:last_with_after]),
            map(bases.__getitem__, at[:last_with_after]),
        )
    ):
        return None  # one reaches into the range after it, or touches it
    total = pool.total_size + addition.total_size
    pairs = _inserted(_joined(pool.be_parts()), _joined(addition.be_parts()), at)
    return RangeArray.of_be_pairs(memoryview(pairs), total)


def _joined(parts: list[Buffer]) -> Buffer:
    return parts[0] if len(parts) == 1 else b"".join(parts)


_INSERT_CHUNK = 4096  # insertions joined at a time: a view per run is ~200 bytes, a new item ~50
_CHUNK_ITEMS = 1 << 16  # old items a chunk's join copies at most (1 MiB of pairs), but one run


def _inserted(old: Buffer, new: Buffer, at: list[int]) -> bytearray:
    """The big-endian pairs `old` with new pair j inserted before old pair at[j] (`at` ascending),
    in C: the runs of `old` between insertion points and the new pairs, chunk by chunk, joined
    into the result. The new pairs are bytes (joined without a buffer each, unlike views), the
    old runs views of `old` (never a second copy of the pool). A chunk holds at most
    _INSERT_CHUNK insertions and _CHUNK_ITEMS old pairs, so its join stays small when the
    insertions are few and far apart; a run longer than that is copied into place alone."""
    out = bytearray(len(old) + len(new))
    dest, old_view = memoryview(out), memoryview(old).cast("B")
    size = PAIR_BYTES
    written = previous = first = 0
    while first < len(at):
        # At least one insertion, then as many as fit: the old items before at[last - 1] stay in the limit.
        last = min(first + _INSERT_CHUNK, bisect.bisect_right(at, previous + _CHUNK_ITEMS, first + 1))
        stops = at[first:last]
        if stops[0] - previous > _CHUNK_ITEMS:  # one long run: into place without a joined copy of it
            run = old_view[previous * size : stops[0] * size]
            dest[written : written + len(run)] = run
            written += len(run)
            previous = stops[0]
        starts = [previous, *stops[:-1]]
        pieces: list[Buffer] = [b""] * (2 * (last - first))
        pieces[0::2] = map(
            old_view.__getitem__, map(slice, map(mul, starts, repeat(size)), map(mul, stops, repeat(size)))
        )
        pieces[1::2] = _PAIR.findall(new, first * size, last * size)  # a bytes object per new pair, made in C
        chunk = b"".join(pieces)
        dest[written : written + len(chunk)] = chunk
        written += len(chunk)
        previous, first = stops[-1], last
    dest[written:] = old_view[previous * size :]
    return out


_PAIR = re.compile(rb"(?s).{%d}" % PAIR_BYTES)  # `_inserted`'s new pairs, one bytes object each


def difference(pool: RangeArray, removal: RangeArray) -> RangeArray:
    """Addresses in `pool` and not in `removal` (both canonical), as a canonical array."""
    return pool.difference(removal) if len(removal) <= len(pool) else _cut_each(pool, removal)


def first_missing(pool: RangeArray, removal: RangeArray) -> Range | None:
    """The first canonical piece of `removal` that is not in `pool`, or None."""
    return pool.first_missing(removal) if len(removal) <= len(pool) else _first_missing_by_pool(pool, removal)


def _cut_each(pool: RangeArray, removal: RangeArray) -> RangeArray:
    """pool - removal, walking the pool: each range cut by the run of spans inside it, its gaps made in C."""
    cut_bases, cut_sizes = removal.bases, removal.sizes
    cut_base_view, cut_size_view = memoryview(cut_bases), memoryview(cut_sizes)
    out_bases, out_sizes = array("Q"), array("Q")
    total = 0
    lo = 0  # spans before this one end before the current range
    k = 0
    while k < len(pool):
        base = pool.bases[k]
        end = base + pool.sizes[k]
        k += 1
        i = bisect.bisect_right(cut_bases, base, lo) - 1
        if i < lo or cut_bases[i] + cut_sizes[i] <= base:
            i += 1
        j = bisect.bisect_left(cut_bases, end, i)  # [i, j): the spans that cut this range
        if i == j:
            out_bases.append(base)
            out_sizes.append(end - base)
            total += end - base
            continue
        last_end = cut_bases[j - 1] + cut_sizes[j - 1]
        if j == i + 1 and cut_bases[i] == base and last_end == end:  # it goes whole, and the run after it
            run = same_run(pool, k, removal, j)
            k, lo = k + run, j + run
            continue
        if cut_bases[i] > base:
            out_bases.append(base)
            out_sizes.append(cut_bases[i] - base)
            total += out_sizes[-1]
        if j - i > 1:  # the gaps between the spans: from each end to the next base
            gap_bases = array("Q", map(add, cut_base_view[i : j - 1], cut_size_view[i : j - 1]))
            gap_sizes = array("Q", map(sub, cut_base_view[i + 1 : j], gap_bases))
            out_bases += gap_bases
            out_sizes += gap_sizes
            total += sum(gap_sizes)
        if last_end < end:
            out_bases.append(last_end)
            out_sizes.append(end - last_end)
            total += end - last_end
        lo = j - 1  # the last span may reach into the next range
    return RangeArray(out_bases, out_sizes, total)


def _first_missing_by_pool(pool: RangeArray, removal: RangeArray) -> Range | None:
    """`first_missing`, walking the pool: the spans starting inside each range must end inside it."""
    cut_bases = removal.bases
    t = 0  # the spans before it start inside earlier ranges, and end inside them
    for k, (base, end) in enumerate(pool.spans()):
        if t < len(cut_bases) and cut_bases[t] < base:  # span t starts in the gap before this range
            return Range.span(cut_bases[t], min(cut_bases[t] + removal.sizes[t], base))
        j = bisect.bisect_left(cut_bases, end, t)  # [t, j): the spans starting inside this range
        if j > t and cut_bases[j - 1] + removal.sizes[j - 1] > end:
            next_base = pool.bases[k + 1] if k + 1 < len(pool) else U64_LIMIT
            return Range.span(end, min(cut_bases[j - 1] + removal.sizes[j - 1], next_base))
        t = j
    return removal[t] if t < len(cut_bases) else None
